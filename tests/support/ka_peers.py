"""Peers for the keepalived test, run inside network namespaces.

    python3 ka_peers.py backend NAME HOST PORT SLOW_SECONDS
        An HTTP/1.1 server answering NAME; GET /slow answers after
        SLOW_SECONDS and prints "slow" to stdout when it arrives.
    python3 ka_peers.py client URL
        GET URL on a new connection every 50 ms until killed; prints one
        JSON line per request: {"t": ms since the epoch at its start,
        "ms": how long it took, "ok": bool, "body" or "error"}.
"""
import http.client
import http.server
import json
import sys
import time
import urllib.parse


def backend(name, host, port, slow):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path == "/slow":
                print("slow", flush=True)
                time.sleep(slow)
            body = name.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    print("ready", flush=True)
    server.serve_forever()


def client(url):
    u = urllib.parse.urlsplit(url)
    while True:
        t = int(time.time() * 1000)
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=2)
            c.request("GET", u.path or "/", headers={"Connection": "close"})
            r = c.getresponse()
            body = r.read().decode()
            c.close()
            line = {"t": t, "ok": r.status == 200, "body": body} if r.status == 200 else {"t": t, "ok": False, "error": f"status {r.status}"}
        except Exception as e:  # refused, reset, timed out: what a client sees while the address moves
            line = {"t": t, "ok": False, "error": f"{type(e).__name__}: {e}"}
        line["ms"] = int(time.time() * 1000) - t
        print(json.dumps(line), flush=True)
        time.sleep(0.05)


if sys.argv[1] == "backend":
    backend(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
else:
    client(sys.argv[2])
