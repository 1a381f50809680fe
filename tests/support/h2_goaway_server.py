#!/usr/bin/python3
"""An h2c server (the h2 project's python3-h2) that sends GOAWAY under
streams it received, for plb's tests of GOAWAY from servers.

  h2_goaway_server.py PORT N

Prints "ready PORT". On its first connection it waits for N requests, then
answers the first request and sends GOAWAY with its stream id as the last
stream id (every later stream is unprocessed), and closes the connection a
moment later. Every later connection answers every
request. Answers are 200 with the body "conn=<number> <METHOD> <path>".
"""
import socket
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events

port = int(sys.argv[1])
goaway_after = int(sys.argv[2])
count = {"n": 0}
lock = threading.Lock()


def answer(conn, sock, stream_id, number, method, path):
    body = ("conn=%d %s %s" % (number, method, path)).encode()
    conn.send_headers(stream_id, [(":status", "200"), ("content-length", str(len(body))), ("content-type", "text/plain")])
    conn.send_data(stream_id, body, end_stream=True)
    sock.sendall(conn.data_to_send())


def serve(sock):
    number = 0  # counted at the first bytes: a bare connect (a TCP health check) is not a connection here
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    heads = {}
    done = []  # (stream id, method, path) of complete requests, in order
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            if number == 0:
                with lock:
                    count["n"] += 1
                    number = count["n"]
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    h = dict(ev.headers)
                    heads[ev.stream_id] = (h[":method"], h[":path"])
                    if ev.stream_ended:
                        done.append((ev.stream_id,) + heads[ev.stream_id])
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    if ev.stream_ended:
                        done.append((ev.stream_id,) + heads[ev.stream_id])
                elif isinstance(ev, h2.events.StreamEnded):
                    if ev.stream_id in heads and not any(d[0] == ev.stream_id for d in done):
                        done.append((ev.stream_id,) + heads[ev.stream_id])
            sock.sendall(conn.data_to_send())
            if number == 1:
                if len(done) >= goaway_after:
                    first = min(d[0] for d in done)
                    d = [x for x in done if x[0] == first][0]
                    answer(conn, sock, first, number, d[1], d[2])
                    # (python3-h2 sends nothing more once its GOAWAY is out: the answer goes first)
                    conn.close_connection(last_stream_id=first)
                    sock.sendall(conn.data_to_send())
                    time.sleep(0.2)
                    return
            else:
                while done:
                    d = done.pop(0)
                    answer(conn, sock, d[0], number, d[1], d[2])
    except (ConnectionError, h2.exceptions.ProtocolError):
        return
    finally:
        sock.close()


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    print("ready %d" % port, flush=True)
    while True:
        s, _ = ls.accept()
        threading.Thread(target=serve, args=(s,), daemon=True).start()


main()
