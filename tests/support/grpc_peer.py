#!/usr/bin/python3
"""gRPC peers for plb's tests (python3-grpcio, generic handlers, raw bytes as
messages: no code generation).

  grpc_peer.py server PORT [--tls CERT KEY] [--name NAME] [--max-streams N] [--health-file FILE]
      Serves on 127.0.0.1:PORT and prints "ready PORT" when it listens.
      /test.Echo/Unary         answers "NAME:" + the request; a request "fail"
                               ends with INVALID_ARGUMENT and a grpc-message
      /test.Echo/Stream        the request is a count N: N messages "m<i>"
                               (the last one "m<N-1>"); a request "N/slow"
                               sends one message every 50 ms; with
                               --events-file, a call cancelled before its last
                               message appends "cancelled Stream" there
      /test.Echo/Bidi          echoes each message as it comes, "NAME:" + it
      /test.Echo/Sleep         sleeps the request's seconds, then answers
      /test.Echo/Total         a client stream: "<count> messages, <bytes> bytes"
      /test.Echo/Deadline      the seconds left of the call's deadline (from
                               its grpc-timeout), or "none"
      /grpc.health.v1.Health/Check   SERVING, or NOT_SERVING while the file
                               named by --health-file exists
  grpc_peer.py client JSON
      Runs the calls of the JSON ({"target", "ca"?, "calls": [...]}) and prints
      one JSON line per call: {"ok", "code", "details", "messages" | "count",
      "last", "seconds"}.
"""
import json
import os
import sys
import time

import grpc


def ident(b):
    return b


def serve(argv):
    from concurrent import futures

    port = int(argv[0])
    name = "srv"
    tls = None
    health_file = None
    events_file = None
    options = []
    i = 1
    while i < len(argv):
        if argv[i] == "--tls":
            tls = (open(argv[i + 1], "rb").read(), open(argv[i + 2], "rb").read())
            i += 3
        elif argv[i] == "--name":
            name = argv[i + 1]
            i += 2
        elif argv[i] == "--max-streams":
            options.append(("grpc.max_concurrent_streams", int(argv[i + 1])))
            i += 2
        elif argv[i] == "--events-file":
            events_file = argv[i + 1]
            i += 2
        elif argv[i] == "--health-file":
            health_file = argv[i + 1]
            i += 2
        else:
            raise SystemExit("unknown argument " + argv[i])
    prefix = (name + ":").encode()

    def unary(req, ctx):
        if req == b"fail":
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad input: fail (\u00e9)")
        return prefix + req

    def stream(req, ctx):
        text = req.decode()
        slow = text.endswith("/slow")
        n = int(text.split("/")[0])
        done = []
        if events_file:
            def ended():
                if not done:
                    with open(events_file, "a") as f:
                        f.write("cancelled Stream\n")
            ctx.add_callback(ended)
        for k in range(n):
            if slow:
                time.sleep(0.05)
            if k == n - 1:
                done.append(True)
            yield b"m%d" % k

    def total(it, ctx):
        n = 0
        count = 0
        for m in it:
            n += len(m)
            count += 1
        return b"%d messages, %d bytes" % (count, n)

    def bidi(it, ctx):
        for m in it:
            yield prefix + m

    def sleep(req, ctx):
        time.sleep(float(req.decode()))
        return b"woke"

    def deadline(req, ctx):
        left = ctx.time_remaining()
        return b"none" if left is None else b"%.3f" % left

    def check(req, ctx):
        # HealthCheckResponse{status}: 1 SERVING, 2 NOT_SERVING (field 1, varint)
        down = health_file is not None and os.path.exists(health_file)
        return b"\x08\x02" if down else b"\x08\x01"

    h = grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, ident, ident),
        "Stream": grpc.unary_stream_rpc_method_handler(stream, ident, ident),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi, ident, ident),
        "Sleep": grpc.unary_unary_rpc_method_handler(sleep, ident, ident),
        "Deadline": grpc.unary_unary_rpc_method_handler(deadline, ident, ident),
        "Total": grpc.stream_unary_rpc_method_handler(total, ident, ident),
    })
    health = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(check, ident, ident),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), handlers=[h, health], options=options)
    addr = "127.0.0.1:%d" % port
    if tls:
        server.add_secure_port(addr, grpc.ssl_server_credentials([(tls[1], tls[0])]))
    else:
        server.add_insecure_port(addr)
    server.start()
    print("ready %d" % port, flush=True)
    server.wait_for_termination()


def client(spec):
    spec = json.loads(spec)
    target = spec["target"]
    if spec.get("ca"):
        creds = grpc.ssl_channel_credentials(root_certificates=open(spec["ca"], "rb").read())
        ch = grpc.secure_channel(target, creds, options=[("grpc.ssl_target_name_override", spec.get("name", "localhost"))])
    else:
        ch = grpc.insecure_channel(target)
    for call in spec["calls"]:
        kind = call["kind"]
        t0 = time.monotonic()
        out = {"ok": True, "code": "OK", "details": None}
        timeout = call.get("timeout", 30)
        try:
            if kind == "unary":
                f = ch.unary_unary(call["method"], request_serializer=ident, response_deserializer=ident)
                out["messages"] = [f(call["request"].encode(), timeout=timeout).decode()]
            elif kind == "stream":
                f = ch.unary_stream(call["method"], request_serializer=ident, response_deserializer=ident)
                count = 0
                last = None
                first = []
                it = f(call["request"].encode(), timeout=timeout)
                for m in it:
                    count += 1
                    last = m.decode()
                    if len(first) < 3:
                        first.append(last)
                    if call.get("report_after") == count:
                        print(json.dumps({"progress": count}), flush=True)
                    if call.get("cancel_after") == count:
                        it.cancel()
                out["count"] = count
                out["last"] = last
                out["messages"] = first
            elif kind == "client_stream":
                f = ch.stream_unary(call["method"], request_serializer=ident, response_deserializer=ident)
                size, n = call["size"], call["count"]

                def many():
                    for k in range(n):
                        yield bytes([97 + k % 26]) * size

                out["messages"] = [f(many(), timeout=timeout).decode()]
            elif kind == "bidi":
                f = ch.stream_stream(call["method"], request_serializer=ident, response_deserializer=ident)
                msgs = [m.encode() for m in call["requests"]]

                def gen():
                    for m in msgs:
                        yield m
                        time.sleep(call.get("gap", 0))

                out["messages"] = [m.decode() for m in f(gen(), timeout=timeout)]
        except grpc.RpcError as e:
            out = {"ok": False, "code": e.code().name, "details": e.details()}
        out["seconds"] = round(time.monotonic() - t0, 3)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(sys.argv[2:])
    else:
        client(sys.argv[2])
