/**
 * Processes in network namespaces a test creates (`ip netns exec`), with
 * their stdout and stderr kept for assertions and failure messages, and a
 * wait that names what it waited for. Used by the tests that need more than
 * loopback (keepalived's VRRP, a pod's own network).
 */
import type { Subprocess } from "bun";

/** Run `cmd` to completion; its stdout, or an Error naming it and its stderr. */
export function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

/** Poll `done` every 50 ms (it may run a command), or fail naming `what` and `context()`. */
export async function waitFor(done: () => boolean, what: string, ms: number, context: () => string = () => ""): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${context()}`);
    await Bun.sleep(50);
  }
}

/** The processes one test file started in its namespaces. */
export class NamespacedProcs {
  private readonly procs: Subprocess[] = [];
  private readonly logs = new Map<Subprocess, string>();

  /** Start `cmd` in namespace `ns`, keeping its output. */
  spawnIn(ns: string, cmd: string[]): Subprocess<"ignore", "pipe", "pipe"> {
    const p = Bun.spawn(["ip", "netns", "exec", ns, ...cmd], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.procs.push(p);
    this.logs.set(p, "");
    for (const stream of [p.stdout, p.stderr]) {
      void (async () => {
        const dec = new TextDecoder();
        for await (const chunk of stream) this.logs.set(p, this.logs.get(p) + dec.decode(chunk, { stream: true }));
      })();
    }
    return p;
  }

  /** What `p` wrote so far (stdout and stderr, as they came). */
  logOf(p: Subprocess): string {
    return this.logs.get(p) ?? "";
  }

  /** Stop them all, newest first: `signal`, then SIGKILL for those still running after `graceMs`. */
  async stopAll(signal: NodeJS.Signals = "SIGKILL", graceMs = 3000): Promise<void> {
    for (const p of [...this.procs].reverse()) if (p.exitCode === null) p.kill(signal);
    await Promise.all(this.procs.map((p) => Promise.race([p.exited, Bun.sleep(graceMs)])));
    for (const p of this.procs) if (p.exitCode === null) p.kill("SIGKILL");
    await Promise.all(this.procs.map((p) => p.exited));
  }
}
