/**
 * Reproduction of the syscalls Bun's socket layer makes per proxied TCP
 * connection (what plb's tcp one-request-per-connection row pays and cannot
 * change from JavaScript): a minimal relay — Bun.listen accepting, one
 * Bun.connect per client to a server, bytes written across, each FIN passed
 * on with end() — runs alone under `strace -c -f`, while this process (not
 * traced) runs the server and 2,000 clients, one small request and answer
 * each. Prints the relay's calls per connection by name.
 *
 *   bun bench/repro/bun-syscalls-per-connection.ts
 *
 * Bun 1.4.5, Linux, this VM: 21.0 socket calls per connection, of which
 * epoll_ctl 5 and setsockopt 5 (TCP_NODELAY on the accepted socket and
 * twice on the connected one, TCP_CORK 0 before a close), accept4 2 (one
 * EAGAIN). plb's tcp service under the same count: 22.7 (epoll_ctl 6.1:
 * ADD on accept, ADD + MOD on connect, MOD to EPOLLOUT after the server's
 * FIN, DEL before each close; setsockopt 4.1; shutdown 1 to pass the FIN
 * on). HAProxy in tcp mode: 18.6 (epoll_ctl 3.2, setsockopt 2).
 */
const N = 2000;

if (process.argv[2] === "--relay") {
  const server = Number(process.argv[3]);
  type Side = { peer?: import("bun").Socket<Side>; early?: Uint8Array[] };
  const listener = Bun.listen<Side>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(c) {
        c.data = {};
        void Bun.connect<Side>({
          hostname: "127.0.0.1",
          port: server,
          data: { peer: c },
          socket: {
            open(s) {
              c.data.peer = s;
              for (const b of c.data.early ?? []) s.write(b);
            },
            data: (s, d) => void s.data.peer!.write(d),
            end: (s) => void s.data.peer!.end(),
            close: (s) => void s.data.peer!.end(),
            error() {},
          },
        });
      },
      data(c, d) {
        if (c.data.peer) c.data.peer.write(d);
        else (c.data.early ??= []).push(new Uint8Array(d));
      },
      end: (c) => void c.data.peer?.end(),
      close: (c) => void c.data.peer?.end(),
      error() {},
    },
  });
  console.log(listener.port);
  setInterval(() => {}, 1 << 30);
} else {
  const srv = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { data: (s) => void s.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), error() {} },
  });
  const out = `/tmp/bun-syscalls-${process.pid}.txt`;
  const strace = Bun.spawn(["strace", "-c", "-f", "-o", out, process.execPath, import.meta.path, "--relay", String(srv.port)], { stdout: "pipe", stderr: "inherit" });
  const reader = strace.stdout.getReader();
  const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
  for (let i = 0; i < N; i++) {
    await new Promise<void>((done) => {
      void Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: { open: (s) => void s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), data() {}, close: () => done(), end: (s) => void s.end(), error: () => done() },
      });
    });
  }
  await Bun.sleep(300);
  // The relay ends; strace writes its summary and exits.
  const relay = Bun.spawnSync(["pgrep", "-P", String(strace.pid)], { stdout: "pipe" }).stdout.toString().trim();
  process.kill(Number(relay), "SIGTERM");
  await strace.exited;
  srv.stop(true);
  const rows = (await Bun.file(out).text())
    .split("\n")
    .filter((l) => /^\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+/.test(l))
    .map((l) => l.trim().split(/\s+/));
  const wanted = ["accept4", "socket", "connect", "epoll_ctl", "setsockopt", "recvfrom", "sendto", "shutdown", "close"];
  let total = 0;
  for (const f of rows.filter((f) => wanted.includes(f.at(-1)!))) {
    total += Number(f[3]);
    console.log(`${f.at(-1)!.padEnd(11)} ${(Number(f[3]) / N).toFixed(2)} per connection`);
  }
  console.log(`${"total".padEnd(11)} ${(total / N).toFixed(2)} per connection (socket calls only)`);
  await Bun.file(out).unlink?.();
}
