/**
 * TLS passthrough by name, what it costs (`bun bench/sni.ts [--duration 5]
 * [--rounds 1]`): requests/s of wrk over TLS to a 100-byte file, keep-alive
 * and one request per connection (a full handshake each), through:
 *
 * - tcp: plb's tcp service without routes, relaying to nginx's TLS;
 * - passthrough: the same with a route by name (the ClientHello read);
 * - one hop: plb's http service terminating TLS, to nginx over plain http;
 * - two hops: a tcp route by name to that http service on loopback (the
 *   README's setup for one port that passes some names through and
 *   terminates others), in the same plb process.
 *
 * plb runs on CPU 0, nginx and wrk on CPU 1 (as the other modes). First,
 * in this process, what reading one ClientHello costs (curl's, whole, and
 * fed one byte more at a time). Results go to stdout and
 * bench/results/latest-sni.md. Not a test: numbers, not pass/fail. See
 * bench/README.md "TLS passthrough by name".
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setUp, writeTable } from "./harness.ts";
import { wrk, type WrkResult } from "./measure.ts";
import { freePorts, launch, log, nginxHead, nginxKeepalive, plbCommand, SMALL, startNginx, startPlbWith, stopAll, waitReady, writeContent } from "./peers.ts";
import { LOAD_CPU } from "./measure.ts";
import { parseClientHello } from "../src/tls/client-hello.ts";
import { captureClientHello, run } from "../tests/support/client-hello.ts";

const argv = Bun.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(argv[i + 1]) : dflt;
  if (!Number.isFinite(v) || v <= 0 || v > 120) throw new Error(`--${name} takes a number of 1 to 120`);
  return v;
};
const duration = opt("duration", 5);
const rounds = opt("rounds", 1);

const dir = setUp({ binary: false, duration, rounds, direct: false, pin: true }, "sni");
const www = writeContent(dir, false);

// A certificate for "localhost" (wrk sends the URL's host as SNI).
const cert = join(dir, "cert.pem");
const key = join(dir, "key.pem");
const gen = Bun.spawnSync(["openssl", "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"], { stderr: "pipe" });
if (gen.exitCode !== 0) throw new Error(`openssl: ${gen.stderr}`);

const [plainPort, tlsPort, tcpPort, passPort, oneHop, twoHops] = freePorts(6);

// nginx: plain http for plb's http service, TLS for the relays.
const plainNginx = startNginx(dir, www, "nginx-plain", plainPort);
const t = (s: string) => join(dir, `nginx-tls-${s}`);
const tlsConf = join(dir, "nginx-tls.conf");
writeFileSync(tlsConf, `${nginxHead(t)}${nginxKeepalive(t)}  ssl_protocols TLSv1.2 TLSv1.3;
  server {
    listen 127.0.0.1:${tlsPort} ssl backlog=4096;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    root ${www};
    location / { }
  }
}
`);
const tlsNginx = launch("nginx-tls", ["nginx", "-p", dir, "-c", tlsConf], LOAD_CPU, t("stderr.log"));

const plb = startPlbWith(dir, "plb", `
timeout_client = "60s"
[[backend]]
name = "nginx-tls"
servers = ["127.0.0.1:${tlsPort}"]

[[backend]]
name = "terminate"
servers = ["127.0.0.1:${oneHop}"]

[[service]]
name = "tcp"
protocol = "tcp"
listen = ["127.0.0.1:${tcpPort}"]
backend = "nginx-tls"

[[service]]
name = "passthrough"
protocol = "tcp"
listen = ["127.0.0.1:${passPort}"]
[[service.route]]
sni = "localhost"
backend = "nginx-tls"

[[service]]
name = "one-hop"
protocol = "http"
listen = ["127.0.0.1:${oneHop}"]
tls = { cert = "${cert}", key = "${key}" }
servers = ["127.0.0.1:${plainPort}"]

[[service]]
name = "two-hops"
protocol = "tcp"
listen = ["127.0.0.1:${twoHops}"]
[[service.route]]
sni = "localhost"
backend = "terminate"
`, { cmd: plbCommand(false) });

/** ns per parse of curl's ClientHello, whole; µs for all its prefixes (a client sending one byte per read). */
async function parseCost(): Promise<string> {
  const { bytes } = await captureClientHello((port) => run(["curl", "-sk", "--max-time", "5", "--resolve", `localhost:${port}:127.0.0.1`, `https://localhost:${port}/`]));
  if (parseClientHello(bytes).kind !== "done") throw new Error("curl's ClientHello did not parse");
  for (let i = 0; i < 100_000; i++) parseClientHello(bytes);
  const n = 1_000_000;
  let t = performance.now();
  for (let i = 0; i < n; i++) parseClientHello(bytes);
  const whole = ((performance.now() - t) * 1e6) / n;
  const r = 200;
  t = performance.now();
  for (let k = 0; k < r; k++) for (let i = 1; i <= bytes.length; i++) parseClientHello(bytes.subarray(0, i));
  const prefixes = ((performance.now() - t) * 1e3) / r;
  return `reading curl's ClientHello (${bytes.length} B): ${whole.toFixed(0)} ns whole, ${prefixes.toFixed(0)} µs one byte at a time (every prefix)\n\n`;
}

const TARGETS = [["tcp", tcpPort], ["passthrough", passPort], ["one hop", oneHop], ["two hops", twoHops]] as const;

try {
  const parse = await parseCost();
  log(parse.trim());
  for (const [port, peer] of [[plainPort, plainNginx], [tlsPort, tlsNginx], [twoHops, plb]] as const) await waitReady(peer, port);
  for (const [name, port] of TARGETS) {
    const probe = Bun.spawnSync(["curl", "-sS", "--cacert", cert, "-o", "/dev/null", "-w", "%{http_code}", `https://localhost:${port}/${SMALL}`]);
    if (String(probe.stdout) !== "200") throw new Error(`${name}: curl got ${probe.stdout} ${probe.stderr}`);
  }
  const runs: Record<string, WrkResult[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const close of [false, true]) {
      for (const [name, port] of TARGETS) {
        const label = `${name}${close ? ", close" : ""}`;
        log(`round ${r + 1}: ${label}`);
        (runs[label] ??= []).push(await wrk(`https://localhost:${port}/${SMALL}`, duration, { close, conns: close ? 16 : 64 }));
      }
    }
  }
  const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows = Object.entries(runs).map(([label, rs]) => ({ label, rps: median(rs.map((x) => x.rps)), p99: median(rs.map((x) => x.p99Ms)), errors: rs.reduce((n, x) => n + x.errors, 0) }));
  const base = (label: string) => rows.find((x) => x.label === label)!.rps;
  const lines = [
    `| path (${duration} s × ${rounds}) | req/s | p99 ms | errors | vs |`,
    "|---|--:|--:|--:|---|",
    ...rows.map((x) => {
      const close = x.label.endsWith(", close") ? ", close" : "";
      const ref = x.label.startsWith("passthrough") ? `tcp${close}` : x.label.startsWith("two hops") ? `one hop${close}` : undefined;
      return `| ${x.label} | ${Math.round(x.rps)} | ${x.p99.toFixed(1)} | ${x.errors} | ${ref ? `${((x.rps / base(ref)) * 100).toFixed(0)} % of ${ref}` : ""} |`;
    }),
  ];
  writeTable("latest-sni.md", `${parse}${lines.join("\n")}\n`);
} finally {
  await stopAll();
}
