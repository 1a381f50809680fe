/**
 * Test helper for process-privileges.test.ts. Usage:
 *   bun drop-child.ts '{"user":"nobody","group":"nogroup","chroot_dir":"/tmp/x","lowPort":true}'
 * Binds a TCP echo server on 127.0.0.1 (a port below 1024 with lowPort),
 * calls dropPrivileges(), then prints one JSON line on stdout:
 *   {"event":"ready","port":…,"summary":…,"etcVisible":…,"lowBind":…}
 *   {"event":"error","port":…,"code":…,"message":…}   (and exits with status 3)
 * and keeps serving until killed. With "pidfile" set, it writes the pid
 * file before dropping, and on SIGTERM removes it and prints
 *   {"event":"exit","pidfile":"removed" | "failed" | …}
 */
import { existsSync } from "node:fs";
import { PlbError } from "../../src/errors.ts";
import { removePidFile, writePidFile } from "../../src/process/pidfile.ts";
import { dropPrivileges, type PrivilegeOptions } from "../../src/process/privileges.ts";

const options = JSON.parse(process.argv[2] ?? "{}") as PrivilegeOptions & { lowPort?: boolean; pidfile?: string };

const echo = { data(socket: { write(d: Uint8Array): number }, data: Uint8Array) { socket.write(data); } };

function listenOn(port: number) {
  return Bun.listen({ hostname: "127.0.0.1", port, socket: echo });
}

function lowListener() {
  for (let i = 0; ; i++) {
    try {
      return listenOn(700 + Math.floor(Math.random() * 300));
    } catch (err) {
      if (i > 50) throw err;
    }
  }
}

const listener = options.lowPort ? lowListener() : listenOn(0);
const { lowPort: _, pidfile, ...privileges } = options;
if (pidfile !== undefined) {
  writePidFile(pidfile);
  process.on("SIGTERM", () => {
    console.log(JSON.stringify({ event: "exit", pidfile: removePidFile(pidfile) }));
    process.exit(0);
  });
}
try {
  const summary = dropPrivileges(privileges);
  // Binding below 1024 must now fail when root was dropped.
  let lowBind = "ok";
  try {
    listenOn(1 + Math.floor(Math.random() * 600)).stop(true);
  } catch (err) {
    lowBind = (err as { code?: string }).code ?? String(err);
  }
  const etcVisible = existsSync("/etc/passwd");
  console.log(JSON.stringify({ event: "ready", port: listener.port, summary, etcVisible, lowBind }));
} catch (err) {
  const code = err instanceof PlbError ? err.code : "UNKNOWN";
  console.log(JSON.stringify({ event: "error", port: listener.port, code, message: (err as Error).message }));
  process.exit(3);
}
