"""Which server answers each of COUNT keys through one plb (a hashing test's client).

    python3 hash_keys.py MODE HOST PORT COUNT

MODE source: key i is a client address, 127.77.<i // 200>.<i % 200 + 1>
(bound as the connection's local address), one connection per key.
MODE uri: key i is the path /k/<i>; MODE header: key i is X-Tenant: t<i>;
both over one kept-alive connection. Prints a JSON list: the body of each
answer (the server's name), or "!<status>" / "!<error>" for a failure.
"""
import http.client
import json
import sys

mode, host, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


def source_ip(i):
    return f"127.77.{i // 200}.{i % 200 + 1}"


def answer(conn, path, headers):
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read().decode()
    return body if r.status == 200 else f"!{r.status}"


out = []
conn = None
for i in range(count):
    try:
        if mode == "source":
            c = http.client.HTTPConnection(host, port, timeout=5, source_address=(source_ip(i), 0))
            out.append(answer(c, "/", {"Connection": "close"}))
            c.close()
        else:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=5)
            if mode == "uri":
                out.append(answer(conn, f"/k/{i}", {}))
            else:
                out.append(answer(conn, "/", {"X-Tenant": f"t{i}"}))
    except Exception as e:  # one failed key is reported, the others still run
        out.append(f"!{type(e).__name__}: {e}")
        if conn is not None:
            conn.close()
        conn = None
print(json.dumps(out))
