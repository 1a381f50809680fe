/**
 * Idle memory of tcp, http and smtp sessions (issue 12 §3; bench/run.ts has
 * tcp too, beside HAProxy): plb's RSS (its process tree, /proc) before and
 * after --conns client connections that each did one thing and then stay
 * idle:
 * - tcp: a relayed connection that sent "ping" and got it back from an echo
 *   server, which keeps its end open (one server connection per client);
 * - http: one keep-alive GET answered by a server that keeps its connection,
 *   so plb holds the client connection and pools the server connection (the
 *   pool is shared: as many server connections as requests ran at once);
 * - smtp: a session that got its 220 greeting (plb checked it, then relays),
 *   each with its own server connection held by a server that greets and
 *   waits.
 * A warm-up round of 200 first; the reading comes --settle ms after the last
 * connection opened (garbage of the set-up phase is part of what is read:
 * JSC collects when it allocates, and idle connections allocate nothing).
 *
 *   bun bench/idle.ts [--conns 4000] [--settle 8000] [--rounds 2] [--only tcp,http,smtp]
 *
 * IDLE_PLB_ARGS="--smol" (say) puts arguments before plb's script on bun's
 * command line (for experiments: "--preload gc.ts" showed what a forced
 * full GC would take away).
 *
 * The servers run in this process; every connection is on 127.0.0.1.
 */
import { mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openClients, rssTree } from "./measure.ts";
import { freePorts, log, plbCommand, startPlbWith, stop, stopAll, waitReady } from "./peers.ts";
import { int, median, spread } from "./table.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const CONNS = arg("conns", 4000);
const SETTLE = arg("settle", 8000);
const ROUNDS = arg("rounds", 2);

type Kind = "tcp" | "http" | "h2" | "smtp";
const KINDS = (process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1]!.split(",") : ["tcp", "http", "h2", "smtp"]) as Kind[];
/**
 * h2 (prior knowledge): the preface, an empty SETTINGS, the ack of plb's,
 * and one GET on stream 1 (HPACK: :method GET, :scheme http, :path /
 * from the static table, :authority "idle" as a literal).
 */
const H2_GET = new Uint8Array([
  ...new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
  0, 0, 0, 4, 0, 0, 0, 0, 0,
  0, 0, 0, 4, 1, 0, 0, 0, 0,
  0, 0, 9, 1, 5, 0, 0, 0, 1, 0x82, 0x86, 0x84, 0x41, 4, 0x69, 0x64, 0x6c, 0x65,
]);
const FIRST: Record<Kind, string | Uint8Array | undefined> = { tcp: "ping", http: "GET / HTTP/1.1\r\nHost: idle\r\n\r\n", h2: H2_GET, smtp: undefined };
const UNTIL: Record<Kind, string> = { tcp: "ping", http: "ok", h2: "ok", smtp: "220 " };

/** Open `n` connections to `port`, each having done its one thing. */
const EXTRA = process.env.IDLE_PLB_ARGS ? process.env.IDLE_PLB_ARGS.split(" ") : [];
const clients = (port: number, n: number, kind: Kind) => openClients(port, n, { parallel: 100, send: FIRST[kind], until: UNTIL[kind] });

const dir = join(tmpdir(), `plb-bench-idle-${process.pid}`);
mkdirSync(dir, { recursive: true });
const held = new Set<unknown>();
const [smtpServer, httpServer, tcpServer, smtpPort, httpPort, tcpPort, h2Port] = freePorts(7);
const PORTS: Record<Kind, number> = { tcp: tcpPort, http: httpPort, h2: h2Port, smtp: smtpPort };
const servers = [
  Bun.listen({ hostname: "127.0.0.1", port: tcpServer, socket: { open: (s) => void held.add(s), data: (s, d) => void s.write(d), close: (s) => void held.delete(s), error() {} } }),
  Bun.listen({ hostname: "127.0.0.1", port: smtpServer, socket: { open: (s) => void (held.add(s), s.write("220 idle ESMTP\r\n")), data() {}, close: (s) => void held.delete(s), error() {} } }),
  Bun.listen({ hostname: "127.0.0.1", port: httpServer, socket: { open: (s) => void held.add(s), data: (s) => void s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), close: (s) => void held.delete(s), error() {} } }),
];
const config =
  `loglevel = "warn"\ntimeout_shutdown = 0\ntimeout_client = 600\ntimeout_server = 600\n` +
  `[[service]]\nname = "raw"\nprotocol = "tcp"\nlisten = ["127.0.0.1:${tcpPort}"]\nservers = ["127.0.0.1:${tcpServer}"]\n` +
  `[[service]]\nname = "mail"\nprotocol = "smtp"\nlisten = ["127.0.0.1:${smtpPort}"]\nservers = ["127.0.0.1:${smtpServer}"]\n` +
  `[[service]]\nname = "web"\nprotocol = "http"\nlisten = ["127.0.0.1:${httpPort}"]\nservers = ["127.0.0.1:${httpServer}"]\ntimeout_http_request = 600\ntimeout_pool_idle = 600\n` +
  `[[service]]\nname = "h2"\nprotocol = "http"\nlisten = ["127.0.0.1:${h2Port}"]\nbackend = "web"\nh2c = "only"\ntimeout_http_request = 600\n`;
const results: Record<Kind, number[]> = { tcp: [], http: [], h2: [], smtp: [] };
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const kind of KINDS) {
      const plb = startPlbWith(dir, "plb", config, { cmd: EXTRA.length ? [plbCommand(false)[0]!, ...EXTRA, ...plbCommand(false).slice(1)] : plbCommand(false) });
      const port = PORTS[kind];
      await waitReady(plb, port);
      for (const s of await clients(port, 200, kind)) s.terminate();
      await Bun.sleep(1500);
      const before = rssTree(plb.pid);
      const open = await clients(port, CONNS, kind);
      await Bun.sleep(SETTLE);
      const perConn = (rssTree(plb.pid) - before) / CONNS;
      results[kind].push(perConn);
      log(`round ${round} ${kind}: ${open.size} idle clients, ${held.size} server connections held, ${Math.round(perConn)} B per idle client connection`);
      for (const s of open) s.terminate();
      await stop(plb);
      await Bun.sleep(500);
    }
  }
} finally {
  await stopAll();
  for (const s of servers) s.stop(true);
  rmSync(dir, { recursive: true, force: true });
}
const range = (xs: number[]) => (xs.length ? `${int(median([...xs]))} B (${spread(xs)})` : "not run");
console.log(
  [
    `idle sessions through plb, ${CONNS} each, read ${SETTLE} ms after the last opened, ${ROUNDS} round(s): median (min–max)`,
    "",
    "| session | RSS per idle client connection |",
    "|---|--:|",
    `| tcp connection that relayed one message (its own server connection) | ${range(results.tcp)} |`,
    `| http keep-alive client after one request (server connections pooled, shared) | ${range(results.http)} |`,
    `| h2 (h2c) client connection after one request (its HPACK tables included; server connections pooled) | ${range(results.h2)} |`,
    `| smtp session after its greeting (its own server connection) | ${range(results.smtp)} |`,
  ].join("\n"),
);
process.exit(0);
