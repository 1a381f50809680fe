"""A real aiosmtpd server for plb's SMTP tests (run it with /usr/bin/python3,
which sees Debian's python3-aiosmtpd).

Started by tests/support/smtp/aiosmtpd.ts. It listens on 127.0.0.1 (port 0 =
any free one), prints one JSON line {"event": "ready", "port": N} to stdout,
and appends one JSON line per event to DIR/events.jsonl, flushed BEFORE the
reply that makes the event visible to the client (a client that got "250" for
its DATA finds the message in the file):

  {"event": "open", "session": id, ...}        a connection was accepted
  {"event": "message", "session": id, ...}     a message was accepted; its
      bytes are in DIR/msg-N.data (as aiosmtpd delivers them: dot-stuffing
      undone) and DIR/msg-N.raw (the exact bytes after the 354 reply through
      the final ".\\r\\n", or the BDAT chunks back to back)
  {"event": "close", "session": id, ...}       the connection ended

Options (argv): see parse_args(). The process exits when its stdin closes, so
a test process that dies leaves neither the server nor its files behind.
"""

import argparse
import asyncio
import json
import logging
import os
import re
import shutil
import ssl
import sys
import threading
import time

from aiosmtpd.proxy_protocol import AF, PROTO, V2_CMD, get_proxy
from aiosmtpd.smtp import SMTP, syntax

ARGS = None
EVENTS = None
COUNTERS = {"session": 0, "message": 0}

XCLIENT_ATTRS = ("NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT")


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--name", default="aiosmtpd")
    p.add_argument("--greeting", default="220", choices=["220", "421", "silent", "garbage", "close"])
    p.add_argument("--proxy", action="store_true", help="expect a PROXY v1/v2 header first")
    p.add_argument("--proxy-timeout", type=float, default=5.0)
    p.add_argument("--xclient", action="store_true", help="advertise and accept XCLIENT")
    p.add_argument("--chunking", action="store_true", help="advertise CHUNKING and accept BDAT")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--require-tls", action="store_true")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--data-size-limit", type=int, default=64 * 1024 * 1024)
    return p.parse_args()


def emit(obj):
    obj["t"] = time.time()
    EVENTS.write(json.dumps(obj) + "\n")
    EVENTS.flush()


def xtext_decode(s):
    """RFC 3461 xtext: "+XX" is the byte 0xXX."""
    return re.sub(r"\+([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), s)


def proxy_info(pd):
    if pd is None:
        return None

    def s(v):
        return None if v is None else str(v)

    def name(v, enum):
        # aiosmtpd stores the enums for v1 but plain ints for v2.
        if v is None:
            return None
        try:
            return enum(v).name
        except ValueError:
            return str(v)

    return {
        "version": pd.version,
        "command": name(pd.command, V2_CMD),
        "family": name(pd.family, AF),
        "protocol": name(pd.protocol, PROTO),
        "srcAddr": s(pd.src_addr),
        "srcPort": pd.src_port,
        "dstAddr": s(pd.dst_addr),
        "dstPort": pd.dst_port,
        "valid": bool(pd.valid),
        "error": pd.error or None,
    }


class Handler:
    async def handle_PROXY(self, server, session, envelope, proxy_data):
        return True

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        last = responses.pop()  # "250 HELP"
        responses.append("250-PIPELINING")
        if ARGS.chunking:
            responses.append("250-CHUNKING")
        if ARGS.xclient:
            responses.append("250-XCLIENT " + " ".join(XCLIENT_ATTRS))
        responses.append(last)
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        return f"250 {ARGS.name}"

    async def handle_DATA(self, server, session, envelope):
        return server.record_message(envelope.original_content, bytes(server._tap or b""), "DATA")


class PeerSMTP(SMTP):
    """aiosmtpd's SMTP plus: greeting modes, XCLIENT, BDAT, and a record of
    every session and message."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        COUNTERS["session"] += 1
        self.sid = COUNTERS["session"]
        self._tap = None
        self._logged_open = False
        self._logged_close = False
        self._quit = False
        self._closed_by = None
        self._commands = []
        self._messages = 0
        self._xclient = None
        self._bdat = None

    # -- connection bookkeeping ------------------------------------------

    def connection_made(self, transport):
        first = self.transport is None
        super().connection_made(transport)
        if first:
            # Tap the stream reader so DATA/BDAT bytes can be kept as received.
            reader = self._reader
            orig_readuntil = reader.readuntil
            orig_read = reader.read
            orig_readexactly = reader.readexactly

            async def readuntil(*a, **k):
                b = await orig_readuntil(*a, **k)
                if self._tap is not None:
                    self._tap += b
                return b

            async def read(*a, **k):
                b = await orig_read(*a, **k)
                if self._tap is not None:
                    self._tap += b
                return b

            async def readexactly(*a, **k):
                b = await orig_readexactly(*a, **k)
                if self._tap is not None:
                    self._tap += b
                return b

            reader.readuntil = readuntil
            reader.read = read
            reader.readexactly = readexactly

    def connection_lost(self, error):
        if not self._logged_close:
            self._logged_close = True
            if self._closed_by is None:
                self._closed_by = "quit" if self._quit else "client"
            if not self._logged_open:
                self._log_open()
            emit({
                "event": "close",
                "session": self.sid,
                "quit": self._quit,
                "closedBy": self._closed_by,
                "commands": self._commands,
                "messages": self._messages,
                "tls": self.session.ssl is not None,
                "error": None if error is None else str(error),
            })
        super().connection_lost(error)

    def _timeout_cb(self):
        self._closed_by = "timeout"
        super()._timeout_cb()

    def _client_address(self):
        peer = self.session.peer or (None, None)
        addr, port = peer[0], peer[1]
        pd = getattr(self.session, "proxy_data", None)
        if pd is not None and pd.valid and pd.src_addr is not None:
            addr, port = str(pd.src_addr), pd.src_port
        if self._xclient is not None:
            a = self._xclient.get("ADDR")
            if a and not a.startswith("["):
                addr = a[5:] if a.upper().startswith("IPV6:") else a
            p = self._xclient.get("PORT")
            if p and p.isdigit():
                port = int(p)
        return addr, port

    def _log_open(self):
        self._logged_open = True
        peer = self.session.peer or (None, None)
        addr, port = self._client_address()
        emit({
            "event": "open",
            "session": self.sid,
            "greeting": ARGS.greeting,
            "peer": {"host": peer[0], "port": peer[1]},
            "proxy": proxy_info(getattr(self.session, "proxy_data", None)),
            "clientAddress": addr,
            "clientPort": port,
        })

    def record_message(self, content, raw, via):
        COUNTERS["message"] += 1
        n = COUNTERS["message"]
        self._messages += 1
        base = os.path.join(ARGS.dir, f"msg-{n}")
        with open(base + ".data", "wb") as f:
            f.write(content)
        with open(base + ".raw", "wb") as f:
            f.write(raw)
        peer = self.session.peer or (None, None)
        addr, port = self._client_address()
        emit({
            "event": "message",
            "id": n,
            "session": self.sid,
            "via": via,
            "mailFrom": self.envelope.mail_from,
            "mailOptions": self.envelope.mail_options,
            "rcptTos": self.envelope.rcpt_tos,
            "rcptOptions": self.envelope.rcpt_options,
            "heloName": self.session.host_name,
            "peer": {"host": peer[0], "port": peer[1]},
            "proxy": proxy_info(getattr(self.session, "proxy_data", None)),
            "xclient": self._xclient,
            "clientAddress": addr,
            "clientPort": port,
            "tls": self.session.ssl is not None,
            "size": len(content),
            "dataFile": base + ".data",
            "rawFile": base + ".raw",
        })
        return f"250 2.0.0 Ok: queued as {ARGS.name}-{n}"

    # -- greeting modes ----------------------------------------------------

    async def _handle_client(self):
        if ARGS.greeting == "220":
            if self._proxy_timeout is None:
                self._log_open()
            else:
                # Log the open after the PROXY header is read (see handle_PROXY
                # below); a bad header closes the connection before that.
                pass
            return await super()._handle_client()
        if self._proxy_timeout is not None:
            self._reset_timeout(self._proxy_timeout)
            self.session.proxy_data = await get_proxy(self._reader)
            self._reset_timeout()
        self._log_open()
        mode = ARGS.greeting
        if mode == "421":
            self._closed_by = "server"
            self._writer.write(b"421 4.3.2 busy\r\n")
            await self._writer.drain()
            self.transport.close()
        elif mode == "garbage":
            self._closed_by = "server"
            self._writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            await self._writer.drain()
            self.transport.close()
        elif mode == "close":
            self._closed_by = "server"
            self.transport.close()
        else:  # silent: read and ignore until the client goes away
            try:
                while self.transport is not None:
                    b = await self._reader.read(65536)
                    if not b:
                        break
                    self._reset_timeout()
            finally:
                # EOF cancels this task (aiosmtpd keeps half-closed
                # connections open): close our side too.
                if self.transport is not None:
                    self.transport.close()

    async def _call_handler_hook(self, command, *args):
        status = await super()._call_handler_hook(command, *args)
        if command == "PROXY":
            self._log_open()
        return status

    # -- commands ------------------------------------------------------------

    def _note(self, verb):
        self._commands.append(verb)

    async def smtp_EHLO(self, arg):
        self._note("EHLO")
        self._bdat = None
        await super().smtp_EHLO(arg)

    async def smtp_HELO(self, arg):
        self._note("HELO")
        self._bdat = None
        await super().smtp_HELO(arg)

    async def smtp_MAIL(self, arg):
        self._note("MAIL")
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        self._note("RCPT")
        await super().smtp_RCPT(arg)

    async def smtp_RSET(self, arg):
        self._note("RSET")
        self._bdat = None
        await super().smtp_RSET(arg)

    async def smtp_NOOP(self, arg):
        self._note("NOOP")
        await super().smtp_NOOP(arg)

    async def smtp_QUIT(self, arg):
        self._note("QUIT")
        if not arg:
            self._quit = True
        await super().smtp_QUIT(arg)

    async def smtp_STARTTLS(self, arg):
        self._note("STARTTLS")
        await super().smtp_STARTTLS(arg)

    async def smtp_DATA(self, arg):
        self._note("DATA")
        self._tap = bytearray()
        try:
            await super().smtp_DATA(arg)
        finally:
            self._tap = None

    @syntax("BDAT size [LAST]")
    async def smtp_BDAT(self, arg):
        self._note("BDAT")
        if not ARGS.chunking:
            await self.push('500 Error: command "BDAT" not recognized')
            return
        parts = (arg or "").split()
        if not parts or not parts[0].isdigit() or len(parts) > 2 or (
                len(parts) == 2 and parts[1].upper() != "LAST"):
            await self.push("501 5.5.4 Syntax: BDAT size [LAST]")
            return
        size = int(parts[0])
        last = len(parts) == 2
        chunk = await self._reader.readexactly(size) if size else b""
        if await self.check_helo_needed():
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if self._bdat is None:
            self._bdat = bytearray()
        self._bdat += chunk
        if self.data_size_limit and len(self._bdat) > self.data_size_limit:
            self._bdat = None
            self._set_post_data_state()
            await self.push("552 5.3.4 Error: Too much mail data")
            return
        if not last:
            await self.push(f"250 2.0.0 {size} octets received")
            return
        content = bytes(self._bdat)
        self._bdat = None
        self.envelope.content = content
        self.envelope.original_content = content
        status = self.record_message(content, content, "BDAT")
        self._set_post_data_state()
        await self.push(status)

    @syntax("XCLIENT attribute=value ...")
    async def smtp_XCLIENT(self, arg):
        self._note("XCLIENT")
        if not ARGS.xclient:
            await self.push('500 Error: command "XCLIENT" not recognized')
            return
        if self.envelope.mail_from is not None:
            await self.push("503 5.5.1 Error: MAIL transaction in progress")
            return
        if not arg:
            await self.push("501 5.5.4 Syntax: XCLIENT attribute=value...")
            return
        attrs = {}
        for item in arg.split():
            name, eq, value = item.partition("=")
            name = name.upper()
            if not eq or name not in XCLIENT_ATTRS:
                await self.push(f"501 5.5.4 Bad XCLIENT attribute name: {name}")
                return
            attrs[name] = xtext_decode(value)
        self._xclient = {**(self._xclient or {}), **attrs}
        emit({
            "event": "xclient",
            "session": self.sid,
            "attrs": attrs,
            "clientAddress": self._client_address()[0],
            "clientPort": self._client_address()[1],
        })
        # As Postfix does: the session starts over with a new greeting.
        self._set_rset_state()
        self.session.host_name = None
        self.session.extended_smtp = False
        await self.push(f"220 {self.hostname} {self.__ident__}")


def main():
    global ARGS, EVENTS
    ARGS = parse_args()
    # Warnings and errors (a failing task, a bad PROXY header) go to stderr,
    # which the TS side keeps (SmtpServer.stderr()).
    logging.basicConfig(level=logging.WARNING)
    EVENTS = open(os.path.join(ARGS.dir, "events.jsonl"), "a", encoding="utf-8")

    tls_context = None
    if ARGS.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Handler()

    def factory():
        return PeerSMTP(
            handler,
            hostname=ARGS.name,
            ident="ESMTP aiosmtpd",
            data_size_limit=ARGS.data_size_limit,
            enable_SMTPUTF8=True,
            tls_context=tls_context,
            require_starttls=ARGS.require_tls,
            timeout=ARGS.timeout,
            proxy_protocol_timeout=ARGS.proxy_timeout if ARGS.proxy else None,
            loop=loop,
        )

    server = loop.run_until_complete(
        loop.create_server(factory, host=ARGS.host, port=ARGS.port, reuse_address=True, backlog=1024))
    port = server.sockets[0].getsockname()[1]

    def watch_stdin():
        # stdin closes when the test process is gone: nobody will read our
        # files any more, so remove them and exit.
        try:
            while sys.stdin.buffer.read(65536):
                pass
        except Exception:
            pass
        EVENTS.close()
        shutil.rmtree(ARGS.dir, ignore_errors=True)
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    sys.stdout.write(json.dumps({"event": "ready", "port": port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
