/** A real HAProxy (Debian's package) on loopback, in the foreground, with sections the test gives. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface HAProxy {
  readonly dir: string;
  /** Everything HAProxy wrote to stderr so far. */
  log(): string;
  stop(): Promise<void>;
}

/** Start `haproxy -db` with `sections` (frontends, backends) after plain tcp defaults; resolves once every port in `ports` accepts. */
export async function startHAProxy(sections: string, ports: number[]): Promise<HAProxy> {
  const dir = mkdtempSync(join(tmpdir(), "plb-haproxy-"));
  const conf = join(dir, "haproxy.cfg");
  writeFileSync(
    conf,
    `global
  maxconn 256
  log stderr format raw local0 info
defaults
  log global
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
${sections}
`,
  );
  const proc = Bun.spawn(["haproxy", "-db", "-f", conf], { stdout: "ignore", stderr: "pipe" });
  let text = "";
  (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) text += dec.decode(chunk, { stream: true });
  })();
  for (const port of ports) {
    for (let i = 0; ; i++) {
      const up = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
        (s) => (s.end(), true),
        () => false,
      );
      if (up) break;
      if (proc.exitCode !== null || i > 250) throw new Error(`haproxy did not start: ${text}`);
      await Bun.sleep(20);
    }
  }
  return {
    dir,
    log: () => text,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
