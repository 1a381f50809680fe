/**
 * A real DNS server for end-to-end tests: Debian's dnsmasq, run by the test
 * on 127.0.0.1 (UDP and TCP) on a free port, authoritative for `.test`
 * (unknown names there are NXDOMAIN), with nothing forwarded and no system
 * files read. A and AAAA records come from a hosts file that `setHosts`
 * rewrites (dnsmasq reads it again on SIGHUP); SRV records and names that
 * fail (forwarded to a nameserver that answers nothing) are command-line
 * options, changed by `restart` on the same port. `pause` (SIGSTOP) makes
 * every query time out. Names in `broken` domains are forwarded to a
 * nameserver (this module's) that answers every query with SERVFAIL.
 */
import type { Subprocess } from "bun";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./ports.ts";
import { tempDir } from "./plb.ts";

export interface DnsmasqOptions {
  /** hosts(5) lines: "127.0.0.2 web.test". */
  hosts?: string;
  /** SRV records: [name, target, port, priority, weight]. */
  srv?: [string, string, number, number, number][];
  /** host-record names (targets of SRV records): [name, address, …]. */
  records?: [string, ...string[]][];
  /** TTL of every local answer (dnsmasq --local-ttl), seconds. */
  ttl?: number;
  /** Names with a TXT record only: their A and AAAA queries get an empty answer. */
  txt?: string[];
  /** Domains whose queries go to a nameserver that answers SERVFAIL. */
  broken?: string[];
}

export interface Dnsmasq {
  readonly port: number;
  /** Queries dnsmasq logged ("web.test/A"), as they came. */
  queries(): string[];
  /** Rewrite the hosts file and have dnsmasq read it again (resolves once it has). */
  setHosts(text: string): Promise<void>;
  /** Stop and start again on the same port with other options (the hosts file is kept unless given). */
  restart(opts: DnsmasqOptions): Promise<void>;
  /** SIGSTOP: queries time out until `resume`. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export const DNSMASQ = "/usr/sbin/dnsmasq";

export async function startDnsmasq(first: DnsmasqOptions = {}): Promise<Dnsmasq> {
  const dir = tempDir("plb-dnsmasq-");
  const hostsFile = join(dir, "hosts");
  writeFileSync(hostsFile, first.hosts ?? "");
  const port = await freePort();
  // dnsmasq's upstream for `broken` domains: the query sent back as a SERVFAIL response.
  const failing = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    binaryType: "uint8array",
    socket: {
      data(sock, q, fromPort, from) {
        if (q.length < 12) return;
        const r = q.slice();
        r[2] = 0x80 | (q[2]! & 0x01); // QR, RD as asked
        r[3] = 0x80 | 2; // RA, SERVFAIL
        sock.send(r, fromPort, from);
      },
    },
  });
  let opts = first;
  let proc: Subprocess<"ignore", "ignore", "pipe"> | undefined;
  let text = "";
  let log: string[] = [];

  const launch = async (): Promise<void> => {
    const args = [
      DNSMASQ,
      "--keep-in-foreground",
      "--log-facility=-",
      "--log-queries",
      "--no-resolv",
      "--no-hosts",
      "--no-poll",
      "--conf-file=/dev/null",
      "--user=root",
      "--group=root",
      "--pid-file=",
      `--port=${port}`,
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      "--local=/test/",
      `--local-ttl=${opts.ttl ?? 0}`,
      `--addn-hosts=${hostsFile}`,
      ...(opts.srv ?? []).map(([name, target, p, prio, weight]) => `--srv-host=${name},${target},${p},${prio},${weight}`),
      ...(opts.records ?? []).map(([name, ...addrs]) => `--host-record=${name},${addrs.join(",")}`),
      ...(opts.txt ?? []).map((name) => `--txt-record=${name},plb`),
      ...(opts.broken ?? []).map((d) => `--server=/${d}/127.0.0.1#${failing.port}`),
    ];
    const p = Bun.spawn(args, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    proc = p;
    (async () => {
      const dec = new TextDecoder();
      for await (const chunk of p.stderr) {
        text += dec.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = text.indexOf("\n")) >= 0) {
          log.push(text.slice(0, nl));
          text = text.slice(nl + 1);
        }
      }
    })();
    await waitFor(() => log.some((l) => /read .*hosts/.test(l)), () => p.exitCode !== null, "dnsmasq to start", () => log.join("\n"));
  };

  const stopProc = async (): Promise<void> => {
    if (proc === undefined) return;
    proc.kill("SIGCONT");
    proc.kill("SIGTERM");
    await proc.exited;
    proc = undefined;
  };

  await launch();
  return {
    port,
    queries: () => log.flatMap((l) => {
      const m = /query\[(A|AAAA|SRV)\] (\S+) from/.exec(l);
      return m ? [`${m[2]}/${m[1]}`] : [];
    }),
    async setHosts(hosts: string) {
      writeFileSync(hostsFile, hosts);
      const reads = log.filter((l) => /read .*hosts/.test(l)).length;
      proc?.kill("SIGHUP");
      await waitFor(() => log.filter((l) => /read .*hosts/.test(l)).length > reads, () => false, "dnsmasq to read its hosts file again", () => log.join("\n"));
    },
    async restart(next: DnsmasqOptions) {
      await stopProc();
      if (next.hosts !== undefined) writeFileSync(hostsFile, next.hosts);
      opts = { ...next };
      await launch();
    },
    pause: () => proc?.kill("SIGSTOP"),
    resume: () => proc?.kill("SIGCONT"),
    async stop() {
      await stopProc();
      failing.close();
    },
  };
}

async function waitFor(done: () => boolean, dead: () => boolean, what: string, output: () => string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (dead()) throw new Error(`dnsmasq exited waiting for ${what}:\n${output()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output()}`);
    await Bun.sleep(10);
  }
}
