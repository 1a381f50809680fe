/**
 * Test helper for process-daemon.test.ts (also compiled with
 * `bun build --compile`). Usage: daemon-child <port> <mode> [arg]
 *
 * Parent (started by the test): startDaemon() with the same arguments,
 * prints the result as one JSON line, exits 0 (ok) or 1.
 * Daemon child, by mode:
 *   serve <delayMs> [backlog]
 *                    wait delayMs, listen on 127.0.0.1:<port> (TCP echo),
 *                    setBacklog() if given, reportReady(); on a listen
 *                    error reportFailure()
 *   crash            exit with status 7 before reporting
 *   hang             never report (the parent is given a short timeout)
 */
import { setBacklog } from "../../src/net/backlog.ts";
import { isDaemonChild, reportFailure, reportReady, startDaemon } from "../../src/process/daemon.ts";

const [portText = "0", mode = "serve", arg = "0", backlog] = process.argv.slice(2);

if (!isDaemonChild()) {
  const timeoutMs = mode === "hang" ? Number(arg) : 10_000;
  const result = await startDaemon(process.argv.slice(2), { timeoutMs });
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}

if (mode === "crash") process.exit(7);
if (mode === "hang") setInterval(() => {}, 1000);
if (mode === "serve") {
  await Bun.sleep(Number(arg));
  try {
    const listener = Bun.listen({
      hostname: "127.0.0.1",
      port: Number(portText),
      socket: { data(socket, data) { socket.write(data); } },
    });
    if (backlog !== undefined) setBacklog(listener, Number(backlog));
  } catch (err) {
    const code = (err as { code?: string }).code ?? "";
    reportFailure(`cannot listen on 127.0.0.1:${portText}: ${code} ${(err as Error).message}`);
    process.exit(2);
  }
  reportReady();
  // Keep writing to stdout (now /dev/null): must not hurt once the parent is gone.
  setInterval(() => console.log("still serving"), 20);
}
