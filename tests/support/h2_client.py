#!/usr/bin/python3
"""A raw-frame HTTP/2 client for the h2 end-to-end tests (Debian's /usr/bin/python3).

It writes every frame itself (9-byte header, payload) and compresses header
blocks with the `hpack` module (the h2 project's), so that it can send what a
conforming client never would: uppercase or connection-specific fields,
missing pseudo-header fields, frames on the wrong stream, DATA past the
window, SETTINGS / PING / empty CONTINUATION floods, RST_STREAM. It reads
every frame the server sends without judging it, and reports what came back.

The scenario is one JSON object, from argv[1] or stdin:

  {"host": "127.0.0.1", "port": 8443,
   "tls": true, "sni": "localhost", "ca": "/path/ca.pem",  # no "ca": certificate not checked
   "alpn": ["h2"], "settings": {"INITIAL_WINDOW_SIZE": 0},   # our SETTINGS in the preface
   "auto": {"settings_ack": true, "ping_ack": true, "window_update": true},
   "timeout_ms": 10000,                                      # the whole run, connect included
   "steps": [{"op": "request", "add": [["x-a", "1"]]}, {"op": "wait", "until": "end", "stream": 1}]}

Steps (stream defaults to the last stream a request opened; "request" opens the next odd one):
  request  headers? (the whole list; default GET https://host:port/ per `path`, `method`), add?,
           body? / body_size?, trailers?, end_stream? (default: no body and no trailers)
  headers  stream, headers, end_stream?, end_headers? (default true)
  data     stream, data? / size?, end_stream?, ignore_flow_control?
  rst      stream, code            window_update  stream, increment
  settings settings                 settings_flood count           ping count (a flood)
  continuation  stream?, headers?, count, fragment (bytes per frame; 0: empty frames), end_headers?, end_stream?
  frame    type, flags, stream, payload (hex)                       bytes  hex
  flood    type, flags?, stream?, payload? (hex), count: the same frame `count` times (written in batches of 1000)
  open_streams  count, path?, method?, end_stream? (default true), rst? (a code: RST_STREAM right after each HEADERS):
           HEADERS on the next `count` odd streams, one block encoded once without indexing (rapid reset, endless streams)
  hpack_bomb  value_size? (4000), refs? (16000), streams? (1): a request whose field x-bomb (value_size octets)
           enters the dynamic table, then `streams` requests whose block references it `refs` times (HEADERS + CONTINUATION)
  stop_reading / start_reading   leave the server's bytes in the socket (the kernel's buffers fill up) / read them again
  wait     until (response | end | data | reset | goaway | closed | settings | ping_acks), stream?, count?, ms
           (count: bytes of DATA for data, acks for settings and ping_acks)
  sleep    ms                       close

Output: JSON lines on stdout, one per event (connected, settings, settings_ack,
headers, trailers, end, rst, goaway, blocked, timeout, closed, error), then one
"summary": per stream status, headers, data_length, trailers, reset (code);
goaway (code, last_stream_id, debug), closed, frames received by type,
ping_acks, settings_acks, the server's settings, write_error, elapsed_ms.
Bounded: floods at most 200,000 frames and 64 MiB, the run at timeout_ms.
"""
import asyncio
import json
import ssl
import struct
import sys
import time

from hpack import Decoder, Encoder

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
TYPE_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"]
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20
SETTING_IDS = {"HEADER_TABLE_SIZE": 1, "ENABLE_PUSH": 2, "MAX_CONCURRENT_STREAMS": 3, "INITIAL_WINDOW_SIZE": 4,
               "MAX_FRAME_SIZE": 5, "MAX_HEADER_LIST_SIZE": 6, "ENABLE_CONNECT_PROTOCOL": 8}
SETTING_NAMES = {v: k for k, v in SETTING_IDS.items()}
ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
          "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
          "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]
MAX_FLOOD_FRAMES = 200_000
MAX_FLOOD_BYTES = 64 << 20


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def error_name(code):
    return ERRORS[code] if code < len(ERRORS) else hex(code)


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream & 0x7FFFFFFF) + payload


def settings_payload(settings):
    out = b""
    for name, value in settings.items():
        ident = SETTING_IDS[name] if name in SETTING_IDS else int(name)
        out += struct.pack(">HI", ident, int(value))
    return out


def latin1(b):
    return b.decode("latin1")


class Stream:
    def __init__(self):
        self.status = None
        self.headers = None
        self.informational = []
        self.data_length = 0
        self.trailers = None
        self.reset = None
        self.ended = False
        self.send_window = 0

    def summary(self):
        return {"status": self.status, "headers": self.headers, "informational": self.informational,
                "data_length": self.data_length, "trailers": self.trailers, "reset": self.reset, "ended": self.ended}


class Client:
    def __init__(self, sc):
        self.sc = sc
        self.auto = {"settings_ack": True, "ping_ack": True, "window_update": True, **sc.get("auto", {})}
        self.encoder = Encoder()
        self.decoder = Decoder()
        self.decoder.max_header_list_size = 1 << 30
        self.streams = {}
        self.next_stream = 1
        self.last_stream = 0
        self.frames = {}
        self.ping_acks = 0
        self.settings_acks = 0
        self.server_settings = {}
        self.peer_initial_window = 65535
        self.peer_max_frame = 16384
        self.conn_send_window = 65535
        self.goaway = None
        self.closed = False
        self.write_error = None
        self.changed = asyncio.Event()
        self.block = None  # (stream, flags, fragments) of a header block waiting for CONTINUATION
        self.writer = None
        self.alpn = None
        self.reading = asyncio.Event()
        self.reading.set()

    def stream(self, sid):
        if sid not in self.streams:
            s = Stream()
            s.send_window = self.peer_initial_window
            self.streams[sid] = s
        return self.streams[sid]

    def notify(self):
        self.changed.set()
        self.changed = asyncio.Event()

    # ------------------------------------------------------------ writing

    async def write(self, data, drain=True):
        if self.write_error is not None:
            return False
        if self.closed or self.writer.is_closing():
            self.write_error = "connection closed"
            return False
        try:
            self.writer.write(data)
            if drain:
                await self.writer.drain()
            return True
        except (ConnectionError, OSError) as e:
            self.write_error = f"{type(e).__name__}: {e}"
            return False

    def header_block(self, fields, filler=0):
        """One field block (names and values latin1, as given); `filler` never-indexed fields added (the table stays as it is)."""
        out = [(n.encode("latin1"), v.encode("latin1")) for n, v in fields]
        return self.encoder.encode(out + [(b"x-filler-%d" % j, b"f" * 64, True) for j in range(filler)])

    async def send_headers(self, sid, fields, end_stream, end_headers=True, block=None):
        block = self.header_block(fields) if block is None else block
        size = self.peer_max_frame
        first, rest = block[:size], block[size:]
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers and not rest else 0)
        out = frame(HEADERS, flags, sid, first)
        while rest:
            part, rest = rest[:size], rest[size:]
            out += frame(CONTINUATION, END_HEADERS if end_headers and not rest else 0, sid, part)
        await self.write(out)

    async def send_data(self, sid, payload, end_stream, ignore_flow=False, ms=5000):
        s = self.stream(sid)
        deadline = time.monotonic() + ms / 1000
        while True:
            room = min(self.peer_max_frame, len(payload))
            if not ignore_flow:
                room = min(room, self.conn_send_window, s.send_window)
            if room <= 0 and payload:
                if not await self.wait_change(deadline):
                    emit({"event": "blocked", "stream": sid, "left": len(payload), "connection_window": self.conn_send_window,
                          "stream_window": s.send_window})
                    return
                continue
            chunk, payload = payload[:room], payload[room:]
            self.conn_send_window -= len(chunk)
            s.send_window -= len(chunk)
            if not await self.write(frame(DATA, END_STREAM if end_stream and not payload else 0, sid, chunk)):
                return
            if not payload:
                return

    async def flood(self, one, count):
        count = min(int(count), MAX_FLOOD_FRAMES)
        batch = one * min(count, 1000)
        sent = 0
        while sent < count and self.write_error is None:
            n = min(1000, count - sent)
            await self.write(batch if n == 1000 else one * n)
            sent += n
        return sent

    # ------------------------------------------------------------ reading

    async def read_loop(self, reader):
        buf = b""
        try:
            while True:
                await self.reading.wait()
                chunk = await reader.read(1 << 16)
                if not chunk:
                    break
                if not self.frames and not buf and chunk.startswith(b"HTTP/"):
                    line = latin1(chunk.split(b"\r\n")[0])
                    emit({"event": "error", "message": f"not HTTP/2: the server answered {line}"})
                buf += chunk
                while len(buf) >= 9:
                    length = int.from_bytes(buf[0:3], "big")
                    if len(buf) < 9 + length:
                        break
                    ftype, flags = buf[3], buf[4]
                    sid = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                    payload, buf = buf[9:9 + length], buf[9 + length:]
                    await self.on_frame(ftype, flags, sid, payload)
                    self.notify()
        except (ConnectionError, OSError, ssl.SSLError) as e:
            emit({"event": "error", "message": f"read: {type(e).__name__}: {e}"})
        self.closed = True
        emit({"event": "closed"})
        self.notify()

    @staticmethod
    def unpad(flags, payload):
        if flags & PADDED and payload:
            pad = payload[0]
            return payload[1:len(payload) - pad] if pad < len(payload) else b""
        return payload

    async def on_frame(self, ftype, flags, sid, payload):
        name = TYPE_NAMES[ftype] if ftype < len(TYPE_NAMES) else f"0x{ftype:x}"
        self.frames[name] = self.frames.get(name, 0) + 1
        if ftype == DATA:
            s = self.stream(sid)
            s.data_length += len(self.unpad(flags, payload))
            if self.auto["window_update"] and payload:
                inc = struct.pack(">I", len(payload))
                out = frame(WINDOW_UPDATE, 0, 0, inc)
                if not flags & END_STREAM:
                    out += frame(WINDOW_UPDATE, 0, sid, inc)
                await self.write(out, drain=False)
            if flags & END_STREAM:
                self.end(sid)
        elif ftype == HEADERS:
            body = self.unpad(flags, payload)
            if flags & PRIO:
                body = body[5:]
            self.block = (sid, flags, [body])
            if flags & END_HEADERS:
                self.on_block()
        elif ftype == CONTINUATION and self.block is not None:
            self.block[2].append(payload)
            if flags & END_HEADERS:
                self.on_block()
        elif ftype == RST_STREAM and len(payload) >= 4:
            code = int.from_bytes(payload[:4], "big")
            self.stream(sid).reset = code
            emit({"event": "rst", "stream": sid, "code": code, "error": error_name(code)})
        elif ftype == SETTINGS:
            if flags & ACK:
                self.settings_acks += 1
                emit({"event": "settings_ack"})
                return
            got = {}
            for i in range(0, len(payload) - 5, 6):
                ident, value = struct.unpack(">HI", payload[i:i + 6])
                got[SETTING_NAMES.get(ident, str(ident))] = value
            if "INITIAL_WINDOW_SIZE" in got:
                delta = got["INITIAL_WINDOW_SIZE"] - self.peer_initial_window
                self.peer_initial_window = got["INITIAL_WINDOW_SIZE"]
                for s in self.streams.values():
                    s.send_window += delta
            self.peer_max_frame = got.get("MAX_FRAME_SIZE", self.peer_max_frame)
            if "HEADER_TABLE_SIZE" in got:
                self.encoder.header_table_size = min(4096, got["HEADER_TABLE_SIZE"])
            self.server_settings.update(got)
            emit({"event": "settings", "settings": got})
            if self.auto["settings_ack"]:
                await self.write(frame(SETTINGS, ACK, 0), drain=False)
        elif ftype == PING:
            if flags & ACK:
                self.ping_acks += 1
            elif self.auto["ping_ack"]:
                await self.write(frame(PING, ACK, 0, payload), drain=False)
        elif ftype == GOAWAY and len(payload) >= 8:
            last, code = struct.unpack(">II", payload[:8])
            self.goaway = {"last_stream_id": last & 0x7FFFFFFF, "code": code, "error": error_name(code),
                           "debug": latin1(payload[8:])}
            emit({"event": "goaway", **self.goaway})
        elif ftype == WINDOW_UPDATE and len(payload) >= 4:
            inc = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            if sid == 0:
                self.conn_send_window += inc
            else:
                self.stream(sid).send_window += inc

    def on_block(self):
        sid, flags, parts = self.block
        self.block = None
        try:
            fields = [[latin1(n), latin1(v)] for n, v in self.decoder.decode(b"".join(parts), raw=True)]
        except Exception as e:  # hpack's errors: report, the run goes on
            emit({"event": "error", "message": f"hpack: {type(e).__name__}: {e}", "stream": sid})
            return
        s = self.stream(sid)
        status = next((v for n, v in fields if n == ":status"), None)
        end = bool(flags & END_STREAM)
        if s.headers is None and status is not None and status.startswith("1") and status != "101":
            s.informational.append(int(status))
            emit({"event": "informational", "stream": sid, "status": int(status), "headers": fields})
        elif s.headers is None:
            s.status = int(status) if status is not None and status.isdigit() else status
            s.headers = fields
            emit({"event": "headers", "stream": sid, "status": s.status, "headers": fields, "end_stream": end})
        else:
            s.trailers = fields
            emit({"event": "trailers", "stream": sid, "trailers": fields})
        if end:
            self.end(sid)

    def end(self, sid):
        s = self.stream(sid)
        s.ended = True
        emit({"event": "end", "stream": sid, "status": s.status, "data_length": s.data_length})

    # ------------------------------------------------------------ steps

    async def wait_change(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or self.closed:
            return False
        try:
            await asyncio.wait_for(self.changed.wait(), left)
            return True
        except asyncio.TimeoutError:
            return False

    def satisfied(self, until, sid, count):
        s = self.streams.get(sid)
        if until == "response":
            return s is not None and (s.headers is not None or s.reset is not None)
        if until == "end":
            return s is not None and (s.ended or s.reset is not None)
        if until == "data":
            return s is not None and s.data_length >= count
        if until == "reset":
            return s is not None and s.reset is not None
        if until == "goaway":
            return self.goaway is not None
        if until == "closed":
            return self.closed
        if until == "settings":
            return self.settings_acks >= count
        if until == "ping_acks":
            return self.ping_acks >= count
        raise ValueError(f"unknown wait: {until}")

    def default_request(self, step):
        sc = self.sc
        scheme = "https" if sc.get("tls") else "http"
        authority = step.get("authority", f"{sc.get('sni') or sc['host']}:{sc['port']}")
        fields = [[":method", step.get("method", "GET")], [":scheme", scheme], [":authority", authority], [":path", step.get("path", "/")]]
        return fields + step.get("add", [])

    async def step(self, st):
        op = st["op"]
        sid = st.get("stream", self.last_stream)
        if op == "request":
            sid = st.get("stream", self.next_stream)
            self.next_stream = max(self.next_stream, sid + 2)
            self.last_stream = sid
            self.stream(sid)
            body = st["body"].encode("latin1") if "body" in st else b"x" * st.get("body_size", 0)
            trailers = st.get("trailers")
            has_body = "body" in st or "body_size" in st
            end = st.get("end_stream", not has_body and not trailers)
            await self.send_headers(sid, st.get("headers", self.default_request(st)), end and not has_body and not trailers)
            if has_body:
                await self.send_data(sid, body, end and not trailers, st.get("ignore_flow_control", False), st.get("ms", 5000))
            if trailers:
                await self.send_headers(sid, trailers, True)
        elif op == "headers":
            await self.send_headers(sid, st["headers"], st.get("end_stream", False), st.get("end_headers", True))
        elif op == "data":
            payload = st["data"].encode("latin1") if "data" in st else b"x" * st.get("size", 0)
            await self.send_data(sid, payload, st.get("end_stream", False), st.get("ignore_flow_control", False), st.get("ms", 5000))
        elif op == "rst":
            await self.write(frame(RST_STREAM, 0, sid, struct.pack(">I", st.get("code", 8))))
        elif op == "window_update":
            await self.write(frame(WINDOW_UPDATE, 0, st.get("stream", 0), struct.pack(">I", st["increment"])))
        elif op == "settings":
            await self.write(frame(SETTINGS, 0, 0, settings_payload(st.get("settings", {}))))
        elif op == "settings_flood":
            emit({"event": "sent", "op": op, "frames": await self.flood(frame(SETTINGS, 0, 0), st["count"])})
        elif op == "ping":
            emit({"event": "sent", "op": op, "frames": await self.flood(frame(PING, 0, 0, b"plb-ping"), st["count"])})
        elif op == "continuation":
            await self.continuation(st)
        elif op == "frame":
            await self.write(frame(st["type"], st.get("flags", 0), st.get("stream", 0), bytes.fromhex(st.get("payload", ""))))
        elif op == "flood":
            one = frame(st["type"], st.get("flags", 0), st.get("stream", 0), bytes.fromhex(st.get("payload", "")))
            emit({"event": "sent", "op": op, "frames": await self.flood(one, st["count"])})
        elif op == "open_streams":
            await self.open_streams(st)
        elif op == "hpack_bomb":
            await self.hpack_bomb(st)
        elif op == "stop_reading":
            self.reading.clear()
        elif op == "start_reading":
            self.reading.set()
        elif op == "bytes":
            await self.write(bytes.fromhex(st["hex"]))
        elif op == "wait":
            deadline = time.monotonic() + st.get("ms", 5000) / 1000
            until, count = st["until"], st.get("count", 1)
            while not self.satisfied(until, sid, count):
                if not await self.wait_change(deadline):
                    if not self.satisfied(until, sid, count):
                        emit({"event": "timeout", "waiting_for": until, "stream": sid})
                    break
        elif op == "sleep":
            await asyncio.sleep(st["ms"] / 1000)
        elif op == "close":
            self.writer.close()
        else:
            raise ValueError(f"unknown op: {op}")

    def unindexed_block(self, fields):
        """A block that leaves the dynamic table as it is (never-indexed literals, or indexed entries): valid for as long as the table does not change."""
        return self.encoder.encode([(n.encode("latin1"), v.encode("latin1"), True) for n, v in fields])

    async def open_streams(self, st):
        count = min(int(st["count"]), MAX_FLOOD_FRAMES)
        block = self.unindexed_block(self.default_request(st))
        flags = END_HEADERS | (END_STREAM if st.get("end_stream", True) else 0)
        rst = st.get("rst")
        sent = 0
        first = self.next_stream
        while sent < count and self.write_error is None:
            out = []
            for _ in range(min(1000, count - sent)):
                sid = self.next_stream
                self.next_stream += 2
                self.stream(sid)
                out.append(frame(HEADERS, flags, sid, block))
                if rst is not None:
                    out.append(frame(RST_STREAM, 0, sid, struct.pack(">I", rst)))
                sent += 1
            await self.write(b"".join(out))
        self.last_stream = self.next_stream - 2
        emit({"event": "sent", "op": "open_streams", "streams": sent, "first": first, "last": self.last_stream})

    async def hpack_bomb(self, st):
        size = int(st.get("value_size", 4000))
        refs = int(st.get("refs", 16000))
        sid = self.next_stream
        self.next_stream += 2
        self.stream(sid)
        # x-bomb enters the table (incremental indexing) and evicts what was there: it is entry 62.
        await self.send_headers(sid, self.default_request(st) + [["x-bomb", "a" * size]], True)
        bomb = self.unindexed_block(self.default_request(st)) + b"\xbe" * refs
        sent = 0
        for _ in range(int(st.get("streams", 1))):
            if self.write_error is not None:
                break
            b = self.next_stream
            self.next_stream += 2
            self.stream(b)
            await self.send_headers(b, None, True, block=bomb)
            sent += 1
        self.last_stream = self.next_stream - 2
        emit({"event": "sent", "op": "hpack_bomb", "streams": sent, "block_bytes": len(bomb), "decoded_bytes": refs * (size + 6 + 32)})

    async def continuation(self, st):
        """HEADERS without END_HEADERS, then `count` CONTINUATION frames of `fragment` bytes of one header block."""
        sid = st.get("stream", self.next_stream)
        self.next_stream = max(self.next_stream, sid + 2)
        self.last_stream = sid
        self.stream(sid)
        count = min(int(st["count"]), MAX_FLOOD_FRAMES)
        size = int(st.get("fragment", 16))
        fields = st.get("headers", self.default_request(st))
        want = min(size * (count + 1), MAX_FLOOD_BYTES)
        filler = 0
        if size:  # filler fields until the block fills every frame (sized on a scratch encoder: ours encodes once)
            per_field = len(Encoder().encode([(b"x-filler-0", b"f" * 64, True)]))
            base = len(Encoder().encode([(n.encode("latin1"), v.encode("latin1")) for n, v in fields]))
            filler = max(0, -(-(want - base) // per_field))
        block = self.header_block(fields, filler)
        first = block if size == 0 else block[:size]
        rest = b"" if size == 0 else block[size:]
        out = [frame(HEADERS, END_STREAM if st.get("end_stream", True) else 0, sid, first)]
        for k in range(count):
            part = rest[:size] if size else b""
            rest = rest[size:] if size else rest
            last = k == count - 1
            out.append(frame(CONTINUATION, END_HEADERS if last and st.get("end_headers", True) else 0, sid, part if not last else part + rest))
        sent = 0
        for j in range(0, len(out), 1000):
            if not await self.write(b"".join(out[j:j + 1000])):
                break
            sent += len(out[j:j + 1000])
        emit({"event": "sent", "op": "continuation", "frames": sent, "block_bytes": len(block)})

    async def run(self):
        sc = self.sc
        ctx = None
        if sc.get("tls"):
            ctx = ssl.create_default_context(cafile=sc["ca"]) if sc.get("ca") else ssl._create_unverified_context()
            ctx.set_alpn_protocols(sc.get("alpn", ["h2"]))
        reader, self.writer = await asyncio.open_connection(sc["host"], sc["port"], ssl=ctx,
                                                            server_hostname=(sc.get("sni") or sc["host"]) if ctx else None)
        if ctx:
            self.alpn = self.writer.get_extra_info("ssl_object").selected_alpn_protocol()
        emit({"event": "connected", "tls": bool(ctx), "alpn": self.alpn})
        reading = asyncio.ensure_future(self.read_loop(reader))
        if sc.get("preface", True):
            await self.write(PREFACE + frame(SETTINGS, 0, 0, settings_payload(sc.get("settings", {}))))
            if "HEADER_TABLE_SIZE" in sc.get("settings", {}):
                self.decoder.max_allowed_table_size = int(sc["settings"]["HEADER_TABLE_SIZE"])
        steps = sc.get("steps", [{"op": "request"}, {"op": "wait", "until": "end"}])
        for st in steps:
            await self.step(st)
        if self.write_error:
            emit({"event": "error", "message": f"write: {self.write_error}"})
        reading.cancel()
        self.writer.close()

    def summary(self, started):
        return {"event": "summary", "alpn": self.alpn, "streams": {str(k): v.summary() for k, v in self.streams.items()},
                "goaway": self.goaway, "closed": self.closed, "frames": self.frames, "ping_acks": self.ping_acks,
                "settings_acks": self.settings_acks, "server_settings": self.server_settings,
                "write_error": self.write_error, "elapsed_ms": round((time.monotonic() - started) * 1000)}


async def main():
    sc = json.loads(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read())
    started = time.monotonic()
    client = Client(sc)
    try:
        await asyncio.wait_for(client.run(), sc.get("timeout_ms", 10_000) / 1000)
    except asyncio.TimeoutError:
        emit({"event": "error", "message": f"run timed out after {sc.get('timeout_ms', 10_000)} ms"})
    except (ConnectionError, OSError, ssl.SSLError) as e:
        emit({"event": "error", "message": f"connect: {type(e).__name__}: {e}"})
    emit(client.summary(started))


if __name__ == "__main__":
    asyncio.run(main())
