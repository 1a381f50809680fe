/**
 * A loopback address that never completes a connect: a listening socket
 * with backlog 0 that never accepts, its queue filled first. Further SYNs are
 * dropped, so a connect hangs until plb's own timeout. (Python's socket
 * module, because Bun cannot listen without accepting.)
 */
import { until } from "./until.ts";

const SCRIPT = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(0)
port = s.getsockname()[1]
fill = []
for _ in range(4):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    fill.append(c)
time.sleep(0.2)
print(port, flush=True)
sys.stdin.read()
`;

export async function blackhole(port = 0): Promise<{ port: number; close(): void }> {
  const proc = Bun.spawn(["python3", "-c", SCRIPT, String(port)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  const { value } = await reader.read();
  const bound = Number(new TextDecoder().decode(value).trim());
  if (!bound) throw new Error("blackhole did not start");
  return {
    port: bound,
    close: () => proc.kill("SIGKILL"),
  };
}

/**
 * Once plb's start check has seen `server` up (one accepted connection),
 * stop it and put a black hole on its port: the server then hangs connects
 * while plb still counts it up.
 */
export async function blackholeAfterStartCheck(server: { port: number; accepted(): number; stop(): void }): Promise<{ port: number; close(): void }> {
  await until(() => server.accepted() > 0, "plb's start check to reach the server", 15_000);
  if (server.accepted() !== 1) throw new Error(`the start check reached the server ${server.accepted()} times, not once`);
  server.stop();
  return await blackhole(server.port);
}
