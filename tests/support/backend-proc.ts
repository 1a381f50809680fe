/**
 * A backend in its own process: answers `name\n` to each connection, then
 * closes. SIGTERM stops accepting at once and exits when the connections in
 * flight are done (a graceful death); SIGKILL is an abrupt one.
 */
const [name, port, host] = process.argv.slice(2);
const server = Bun.listen({
  hostname: host ?? "127.0.0.1",
  port: Number(port),
  socket: {
    open(s) {
      s.write(`${name}\n`);
      s.shutdown();
    },
    data() {},
    close() {},
  },
});
process.on("SIGTERM", () => {
  server.stop(false);
  setTimeout(() => process.exit(0), 200);
});
process.stdout.write("ready\n");
