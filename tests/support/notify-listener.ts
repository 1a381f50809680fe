/**
 * A stand-in for systemd's notify socket: Debian's /usr/bin/python3 binds
 * an AF_UNIX SOCK_DGRAM socket (a path, or an abstract name given as
 * "@name") with SO_PASSCRED and prints one JSON line per datagram: its
 * text, the sender's pid/uid/gid as the kernel reports them (what systemd's
 * NotifyAccess= checks), and CLOCK_MONOTONIC in µs when it was read. With
 * `probePort`, on a datagram holding READY=1 it first tries a TCP connect
 * to 127.0.0.1:probePort and reports whether it was accepted.
 */
import { chmodSync } from "node:fs";
import { join } from "node:path";
import { JsonLines } from "./child.ts";
import { tempDir } from "./plb.ts";

export const PYTHON = "/usr/bin/python3";

const SCRIPT = `
import json, os, socket, struct, sys, time
name, probe = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind("\\0" + name[1:] if name.startswith("@") else name)
if not name.startswith("@"):
    os.chmod(name, 0o777)
print(json.dumps({"event": "bound"}), flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(struct.calcsize("3i")))
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    text = data.decode()
    pid = uid = gid = None
    for level, kind, value in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, uid, gid = struct.unpack("3i", value[:12])
    accepted = None
    if probe and "READY=1" in text.split("\\n"):
        try:
            socket.create_connection(("127.0.0.1", probe), timeout=2).close()
            accepted = True
        except OSError:
            accepted = False
    print(json.dumps({"event": "datagram", "text": text, "pid": pid, "uid": uid, "gid": gid, "monoUsec": now, "accepted": accepted}), flush=True)
`;

export interface Datagram {
  text: string;
  pid: number;
  uid: number;
  gid: number;
  /** The listener's CLOCK_MONOTONIC (µs) when it received the datagram. */
  monoUsec: number;
  /** With probePort, for READY=1: whether plb's port accepted a connection at that moment. */
  accepted: boolean | null;
}

export interface NotifyListener {
  /** The value for NOTIFY_SOCKET. */
  readonly socket: string;
  /** The next datagram (rejects after `timeoutMs`). */
  next(timeoutMs?: number): Promise<Datagram>;
  close(): void;
}

let serial = 0;

/** Starts a listener on a fresh path (in a 0755 folder: nobody may reach it) or abstract name. */
export async function notifyListener(opts: { abstract?: boolean; probePort?: number } = {}): Promise<NotifyListener> {
  let socket: string;
  if (opts.abstract) {
    socket = `@plb-test-notify-${process.pid}-${++serial}-${Math.random().toString(36).slice(2)}`;
  } else {
    const dir = tempDir("plb-notify-");
    chmodSync(dir, 0o755);
    socket = join(dir, "notify.sock");
  }
  const proc = Bun.spawn([PYTHON, "-c", SCRIPT, socket, String(opts.probePort ?? 0)], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  const lines = new JsonLines(proc.stdout);
  const first = await lines.next<{ event: string }>();
  if (first.event !== "bound") throw new Error(`notify listener: ${JSON.stringify(first)}`);
  return {
    socket,
    next: (timeoutMs = 10_000) => lines.next<Datagram & { event: string }>(timeoutMs),
    close: () => proc.kill("SIGKILL"),
  };
}
