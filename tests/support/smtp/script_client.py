"""A scripted raw SMTP client for plb's STARTTLS tests (run by /usr/bin/python3).

argv[1] is a JSON object: port, host ("127.0.0.1"), source (local address),
cafile (CA to trust for "tls"), timeout (seconds per step, default 10), and
steps, each a list:
  ["send", text]        write text (latin1) in one sendall
  ["reply"]             read one complete reply -> ["reply", code, [lines]]
  ["tls"]               TLS handshake on the connection -> ["tls", version]
  ["closed"]            wait for the server to close -> ["closed", ms]
  ["sleep", seconds]
  ["touch", path]       create the file (tell the test how far the script got)
  ["wait_file", path]   wait (at most the step timeout) until the file exists
Prints one JSON line: the list of results; a failure ends the script with
["error", "Type: text"] (a close while waiting for a reply is ["eof", bytes]).
"""

import json
import os
import socket
import ssl
import sys
import time


def main():
    o = json.loads(sys.argv[1])
    timeout = o.get("timeout", 10)
    out = []
    source = (o["source"], 0) if o.get("source") else None
    s = socket.create_connection((o.get("host", "127.0.0.1"), o["port"]), timeout=timeout, source_address=source)
    buf = b""

    def read_reply():
        nonlocal buf
        lines = []
        while True:
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise EOFError(buf.decode("latin1"))
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            text = line.decode("latin1").rstrip("\r")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), [l[4:] for l in lines]

    try:
        for step in o["steps"]:
            kind = step[0]
            if kind == "send":
                s.sendall(step[1].encode("latin1"))
            elif kind == "reply":
                code, lines = read_reply()
                out.append(["reply", code, lines])
            elif kind == "tls":
                ctx = ssl.create_default_context(cafile=o.get("cafile"))
                s = ctx.wrap_socket(s, server_hostname="localhost")
                out.append(["tls", s.version()])
            elif kind == "closed":
                t0 = time.monotonic()
                while True:
                    try:
                        chunk = s.recv(65536)
                    except (ConnectionResetError, ssl.SSLError):
                        chunk = b""
                    if not chunk:
                        break
                out.append(["closed", round((time.monotonic() - t0) * 1000)])
            elif kind == "sleep":
                time.sleep(step[1])
            elif kind == "touch":
                open(step[1], "w").close()
            elif kind == "wait_file":
                deadline = time.monotonic() + timeout
                while not os.path.exists(step[1]):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{step[1]} never appeared")
                    time.sleep(0.01)
            else:
                raise ValueError(f"unknown step {kind}")
    except EOFError as e:
        out.append(["eof", str(e)])
    except Exception as e:  # reported, not raised: the test decides
        out.append(["error", f"{type(e).__name__}: {e}"])
    finally:
        try:
            s.close()
        except Exception:
            pass
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
