/**
 * Reproduction of a Bun limitation plb works around (src/admission.ts,
 * src/net/listen.ts): when accept4() fails with EMFILE, Bun's listener
 * stays registered and readable, so the event loop retries at once, for
 * ever: 100 % of a core, and the clients in the queue are never answered.
 * Bun also has no way to pause a listener (plb stops it and listens again
 * on a dup of its descriptor with Bun.listen({ fd })).
 *
 *   bun bench/repro/bun-accept-emfile.ts
 *
 * Runs itself under `ulimit -n 64`, holds every accepted socket, opens 100
 * client connections and prints the listener process's CPU share over one
 * second (Bun 1.4.5, Linux: ~100 %).
 */
import { readFileSync } from "node:fs";

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

if (Bun.argv[2] === "--listener") {
  const held: unknown[] = [];
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => void held.push(s), data() {} } });
  console.log(server.port);
  setInterval(() => {}, 1000);
} else {
  const child = Bun.spawn(["bash", "-c", `ulimit -n 64 && exec "$@"`, "x", process.execPath, import.meta.path, "--listener"], { stdout: "pipe" });
  const reader = child.stdout.getReader();
  const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
  const clients: unknown[] = [];
  for (let i = 0; i < 100; i++) clients.push(await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }));
  await Bun.sleep(300);
  const c0 = cpuMs(child.pid);
  await Bun.sleep(1000);
  console.log(`Bun ${Bun.version}: a listener out of descriptors (ulimit -n 64, 100 clients) uses ${cpuMs(child.pid) - c0} ms of CPU per second`);
  child.kill();
  process.exit(0);
}
