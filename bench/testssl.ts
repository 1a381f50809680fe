/**
 * testssl.sh (Debian's) against plb's default TLS listener, HAProxy and
 * nginx with their Debian default TLS settings (tls-peers.ts: a certificate
 * and key and nothing else), in one run, and a side-by-side table of what it
 * rates above OK (LOW, MEDIUM, HIGH, CRITICAL). All three get the same
 * certificate, signed by a local CA that testssl is told to trust
 * (--add-ca), for localhost and 127.0.0.1, valid 90 days, with a CRL URI:
 * so that the table is about the servers, not about a test certificate.
 * Writes bench/results/latest-testssl.md and each scan's JSON beside it.
 *
 *   bun bench/testssl.ts [--key rsa|ecdsa] [--binary]
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { writeTable } from "./harness.ts";
import { buildBinary, ensureTools, freePorts, killAllNow, launch, log, type Peer, plbCommand, ROOT, stopAll, waitReady } from "./peers.ts";
import { plbSource, snapshotSource } from "./snapshot.ts";
import { KEY_LABEL, type KeyType, LABEL, makeCertificates, probe, startTerminator, TERMINATORS, type Terminator } from "./tls-peers.ts";

const SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"] as const;
type Severity = (typeof SEVERITIES)[number];
const rank = (s: string) => SEVERITIES.indexOf(s as Severity);

/** One line of testssl's flat JSON (--jsonfile). */
export interface Finding {
  id: string;
  severity: string;
  finding: string;
}

/** The findings of a flat JSON file: each id once (the first), scan-engine lines left out. */
export function parseFindings(json: string): Finding[] {
  const seen = new Set<string>();
  const out: Finding[] = [];
  for (const f of JSON.parse(json) as Finding[]) {
    if (seen.has(f.id) || ["scanTime", "engine_problem"].includes(f.id)) continue;
    seen.add(f.id);
    out.push({ id: f.id, severity: f.severity, finding: f.finding });
  }
  return out;
}

/** Lines shown under the findings for context whatever their rating: versions, ALPN, cipher order, resumption. */
const CONTEXT = ["TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "ALPN", "cipher_order", "sessionresumption_ticket", "sessionresumption_ID", "TLS_session_ticket"];

const cellText = (f: Finding | undefined) => (f === undefined ? "—" : `${f.severity}: ${f.finding.replace(/\|/g, "\\|").replace(/\s+/g, " ").trim()}`);

/**
 * The side-by-side table: every id some server has above OK, worst first
 * (or the ids `only`, in that order); each server's severity and finding for it.
 */
export function sideBySide(scans: Record<string, Finding[]>, only?: readonly string[]): string[] {
  const names = Object.keys(scans);
  const byId = (n: string) => new Map(scans[n].map((f) => [f.id, f]));
  const maps = Object.fromEntries(names.map((n) => [n, byId(n)]));
  if (only) {
    const rows = only.filter((id) => names.some((n) => maps[n].has(id)));
    return [`| context | ${names.join(" | ")} |`, `|---|${names.map(() => "---").join("|")}|`, ...rows.map((id) => `| \`${id}\` | ${names.map((n) => cellText(maps[n].get(id))).join(" | ")} |`)];
  }
  const ids = [...new Set(names.flatMap((n) => scans[n].filter((f) => rank(f.severity) >= 0).map((f) => f.id)))];
  const worst = (id: string) => Math.max(...names.map((n) => rank(maps[n].get(id)?.severity ?? "")));
  ids.sort((a, b) => worst(b) - worst(a) || a.localeCompare(b));
  const count = (n: string) =>
    SEVERITIES.slice()
      .reverse()
      .map((s) => `${scans[n].filter((f) => f.severity === s).length} ${s}`)
      .join(", ");
  return [
    `| finding | ${names.join(" | ")} |`,
    `|---|${names.map(() => "---").join("|")}|`,
    ...ids.map((id) => `| \`${id}\` | ${names.map((n) => cellText(maps[n].get(id))).join(" | ")} |`),
    `| **above OK** | ${names.map(count).join(" | ")} |`,
  ];
}

function testsslVersion(): string {
  const r = Bun.spawnSync(["dpkg-query", "-W", "-f", "${Version}", "testssl.sh"], { stdout: "pipe", stderr: "pipe" });
  return r.exitCode === 0 ? `testssl.sh ${r.stdout.toString().trim()} (Debian)` : "testssl.sh";
}

function ensureTestssl(): void {
  if (Bun.spawnSync(["bash", "-c", "command -v testssl"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0) return;
  log("installing testssl.sh");
  const apt = (args: string[]) => Bun.spawnSync(["apt-get", ...args], { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, stdout: "ignore", stderr: "inherit" }).exitCode === 0;
  if (!apt(["install", "-y", "testssl.sh"]) && !(apt(["update"]) && apt(["install", "-y", "testssl.sh"]))) throw new Error("apt-get install testssl.sh failed");
}

const scans = new Set<Subprocess>();

/** testssl against 127.0.0.1:`port`, its flat JSON written to `json`; no DNS look-ups, nothing fetched from outside. */
async function scan(port: number, json: string, ca: string, logFile: string): Promise<void> {
  const args = ["testssl", "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none", "--add-ca", ca, "--connect-timeout", "10", "--openssl-timeout", "10"];
  const proc = Bun.spawn(["timeout", "900", ...args, "--jsonfile", json, "--logfile", logFile, `127.0.0.1:${port}`], { stdout: "ignore", stderr: "pipe" });
  scans.add(proc);
  const err = await new Response(proc.stderr).text();
  await proc.exited;
  scans.delete(proc);
  if (proc.exitCode === 124) throw new Error(`testssl on port ${port} did not finish within 900 s`);
  // testssl's exit code counts findings; a missing or empty JSON file is the failure.
  try {
    JSON.parse(readFileSync(json, "utf8"));
  } catch {
    throw new Error(`testssl on port ${port} wrote no JSON (exit ${proc.exitCode}): ${err.trim().split("\n").slice(-3).join(" / ")}`);
  }
}

export async function runTestssl(argv: string[]): Promise<number> {
  const keyIdx = argv.indexOf("--key");
  const keyType = (keyIdx >= 0 ? argv[keyIdx + 1] : "rsa") as KeyType;
  const binary = argv.includes("--binary");
  if (!["rsa", "ecdsa"].includes(keyType) || argv.some((a, i) => !["--key", "--binary"].includes(a) && !(i === keyIdx + 1 && keyIdx >= 0))) {
    console.error("usage: bun bench/testssl.ts [--key rsa|ecdsa] [--binary]");
    return 2;
  }
  ensureTools();
  ensureTestssl();
  if (binary) buildBinary();
  const dir = mkdtempSync(join(tmpdir(), "plb-bench-testssl-"));
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      for (const s of scans) s.kill("SIGKILL");
      killAllNow();
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  }
  try {
    const certs = makeCertificates(dir);
    const src = binary ? ROOT : snapshotSource(dir);
    const ports = freePorts(TERMINATORS.length);
    const peers: Peer[] = [];
    for (const [i, t] of TERMINATORS.entries()) {
      const start = (name: string, cmd: string[], logFile: string, cwd?: string) => launch(name, cmd, "0-1", logFile, cwd);
      const peer = startTerminator(t, { dir, certs, listeners: [{ port: ports[i], keyType }], start, plb: { cmd: plbCommand(binary, src), cwd: src } });
      await waitReady(peer, ports[i]);
      if (!probe(ports[i], "1.2").answered) throw new Error(`${LABEL[t]} did not answer 200 over TLS 1.2`);
      peers.push(peer);
    }
    log(`testssl against ${TERMINATORS.map((t, i) => `${LABEL[t]} (:${ports[i]})`).join(", ")}, all three at once (a minute or a few)`);
    const out = join(ROOT, "bench/results");
    mkdirSync(out, { recursive: true });
    const t0 = performance.now();
    await Promise.all(TERMINATORS.map((t, i) => scan(ports[i], join(dir, `testssl-${t}.json`), certs.ca, join(dir, `testssl-${t}.log`))));
    log(`scans done in ${Math.round((performance.now() - t0) / 1000)} s`);
    const results: Record<string, Finding[]> = {};
    for (const t of TERMINATORS) {
      for (const ext of ["json", "log"]) copyFileSync(join(dir, `testssl-${t}.${ext}`), join(out, `testssl-${t}.${ext}`));
      results[t === "plb" ? "plb" : `${LABEL[t]} (Debian defaults)`] = parseFindings(readFileSync(join(dir, `testssl-${t}.json`), "utf8"));
    }
    const table = [
      "# testssl.sh: plb vs HAProxy vs nginx, default TLS settings",
      "",
      `${new Date().toISOString()} · ${testsslVersion()} · plb from ${plbSource(binary)} · ${versionLine()}`,
      "",
      `Each serves the same ${KEY_LABEL[keyType]} certificate (local CA passed with --add-ca, SAN localhost and 127.0.0.1, 90 days, a CRL URI) and answers GET / with 200 "ok" itself.` +
        " plb: `tls = { cert, key }` and nothing else; HAProxy: `bind … ssl crt` under Debian's shipped global `ssl-default-bind-*` lines; nginx: `ssl_certificate` and `ssl_certificate_key` under Debian's shipped `ssl_protocols` and `ssl_prefer_server_ciphers on`." +
        " Rows: every finding that testssl rates above OK for at least one of them; each cell is that server's severity and finding (— : testssl wrote no such line).",
      "",
      ...sideBySide(results),
      "",
      ...warnings(results),
      "For context, whatever their rating:",
      "",
      ...sideBySide(results, CONTEXT),
      "",
      "Full reports: bench/results/testssl-{plb,haproxy,nginx}.log (and .json).",
      "",
    ].join("\n");
    writeTable("latest-testssl.md", table);
    return 0;
  } finally {
    for (const s of scans) s.kill("SIGKILL");
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "testssl could not check …" lines (WARN: a check that failed, not a finding), one per server that has any. */
function warnings(scans: Record<string, Finding[]>): string[] {
  const lines = Object.entries(scans)
    .map(([n, fs]) => [n, fs.filter((f) => f.severity === "WARN")] as const)
    .filter(([, ws]) => ws.length > 0)
    .map(([n, ws]) => `- ${n}: testssl could not check ${ws.map((w) => `\`${w.id}\` (${w.finding})`).join(", ")}`);
  return lines.length ? [...lines, ""] : [];
}

function versionLine(): string {
  const out = (cmd: string[]) => {
    const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
    return (r.stdout.toString() + r.stderr.toString()).split("\n")[0].trim();
  };
  return [out(["haproxy", "-v"]), out(["nginx", "-v"]), out(["openssl", "version"]), `bun ${Bun.version}`].join("; ");
}

if (import.meta.main) process.exit(await runTestssl(process.argv.slice(2)));
