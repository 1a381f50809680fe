/**
 * HTTP/2 conformance (`npm run conformance`, = `bun bench/conformance.ts`):
 * h2spec 2.0.0 (../shared/tools/h2spec beside the repository, or $H2SPEC;
 * skipped with a message when absent) against a front end started here,
 * over TLS (ALPN h2) and over h2c (prior knowledge), each with and without
 * --strict. The front end forwards to an HTTP/1.1 nginx serving a 100-byte
 * file (h2spec asks for it: -P /small.txt), or with --self answers every
 * request itself (200 "ok": the setup of the figures in
 * ../shared/tools/README.md). Default front end: plb; with
 * --peer haproxy / nginx (or a list) HAProxy 2.6 and nginx 1.22 in the same
 * setup (bench/h2-peers.ts), for the README's comparison. Prints a table of
 * passed / skipped / failed per run and the failed cases, and writes it to
 * bench/results/latest-conformance.md. A front end that does not answer
 * over HTTP/2 (plb before it speaks h2, or refusing `h2c = true`) gets a
 * "no h2" row instead of an h2spec run.
 *
 *   bun bench/conformance.ts [--peer plb,haproxy,nginx] [--transport tls,h2c] [--self] [--binary] [--verbose]
 *
 * Exit code: 0 when every run ran (failures or not), 1 when a front end
 * failed to start or did not speak h2, 2 on bad options.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../tests/support/h2-peers.ts";
import { writeTable } from "./harness.ts";
import { buildBinary, freePorts, launch, log, type Peer, plbCommand, ROOT, SMALL, startNginx, stop, stopAll, waitReady, writeContent } from "./peers.ts";
import { FRONTS, type Front, h2Refusal, LABEL, startH2Front, startRefusal, type Transport, TRANSPORTS } from "./h2-peers.ts";
import { makeCertificates } from "./tls-peers.ts";

const H2SPEC = process.env.H2SPEC ?? join(ROOT, "..", "shared", "tools", "h2spec");
/** One h2spec run's limit (146 cases, 2 s timeout each at worst). */
const RUN_LIMIT_MS = 400_000;

interface Options {
  peers: Front[];
  transports: Transport[];
  binary: boolean;
  verbose: boolean;
  /** The front answers itself instead of forwarding to the backend. */
  self: boolean;
}

const USAGE = "usage: bun bench/conformance.ts [--peer plb,haproxy,nginx] [--transport tls,h2c] [--self] [--binary] [--verbose]";

function parseOptions(argv: string[]): Options | undefined {
  const o: Options = { peers: ["plb"], transports: [...TRANSPORTS], binary: false, verbose: false, self: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--binary") o.binary = true;
    else if (a === "--verbose") o.verbose = true;
    else if (a === "--self") o.self = true;
    else if (a === "--peer" && argv[i + 1]) {
      const v = argv[++i].split(",");
      if (!v.every((p) => (FRONTS as string[]).includes(p))) return undefined;
      o.peers = [...new Set(v)] as Front[];
    } else if (a === "--transport" && argv[i + 1]) {
      const v = argv[++i].split(",");
      if (!v.every((t) => (TRANSPORTS as string[]).includes(t))) return undefined;
      o.transports = [...new Set(v)] as Transport[];
    } else return undefined;
  }
  return o;
}

// ---------------------------------------------------------------- h2spec

interface SpecRun {
  front: Front;
  transport: Transport;
  strict: boolean;
  tests?: number;
  passed?: number;
  skipped?: number;
  failed?: number;
  /** Failed and skipped cases: "package (section): case". */
  failures: string[];
  skips: string[];
  /** Why there is no h2spec result (the front did not start, no h2, h2spec broke). */
  none?: string;
}

/** The JUnit report's cases of one outcome, "package (section): case". */
function casesOf(xml: string, outcome: "failed" | "skipped"): string[] {
  const out: string[] = [];
  const marks = outcome === "failed" ? ["<failure", "<error"] : ["<skipped"];
  for (const suite of xml.matchAll(/<testsuite name="([^"]*)"[^>]*>([\s\S]*?)<\/testsuite>/g)) {
    for (const tc of suite[2].matchAll(/<testcase package="([^"]*)" classname="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g)) {
      if (marks.some((m) => tc[3].includes(m))) out.push(`${tc[1]} (${decode(suite[1])}): ${decode(tc[2])}`);
    }
  }
  return out;
}

const decode = (s: string) => s.replace(/&#34;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

async function h2spec(port: number, transport: Transport, strict: boolean, dir: string): Promise<Omit<SpecRun, "front" | "transport" | "strict">> {
  const report = join(dir, `h2spec-${port}-${strict ? "strict" : "default"}.xml`);
  const args = ["-h", "127.0.0.1", "-p", String(port), "-P", `/${SMALL}`, "-j", report, ...(transport === "tls" ? ["-t", "-k"] : []), ...(strict ? ["--strict"] : [])];
  const r = await run([H2SPEC, ...args], RUN_LIMIT_MS);
  const m = /(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed/.exec(r.stdout);
  if (!m) return { failures: [], skips: [], none: `h2spec gave no summary (exit ${r.code}${r.killed ? ", killed" : ""}): ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" / ")}` };
  const [tests, passed, skipped, failed] = m.slice(1).map(Number);
  const xml = existsSync(report) ? readFileSync(report, "utf8") : "";
  return { tests, passed, skipped, failed, failures: casesOf(xml, "failed"), skips: casesOf(xml, "skipped") };
}

// ---------------------------------------------------------------- table

function render(runs: SpecRun[], version: string, self: boolean): string {
  const cell = (n?: number) => (n === undefined ? "—" : String(n));
  const rows = runs.map(
    (r) => `| ${LABEL[r.front]} | ${r.transport === "tls" ? "TLS (ALPN h2)" : "h2c (prior knowledge)"} | ${r.strict ? "--strict" : "default"} | ${cell(r.tests)} | ${cell(r.passed)} | ${cell(r.skipped)} | ${cell(r.failed)} | ${r.none ?? ""} |`,
  );
  const listed = runs.filter((r) => r.failures.length || r.skips.length);
  const name = (r: SpecRun) => `${LABEL[r.front]} ${r.transport}${r.strict ? " --strict" : ""}`;
  return [
    `# HTTP/2 conformance: ${version}`,
    "",
    `${new Date().toISOString()} · ${self ? 'each front end answers every request itself (200, "ok")' : `each front end forwards to an HTTP/1.1 nginx (GET /${SMALL}, 100 bytes)`}; h2spec -P /${SMALL}, TLS runs with -t -k`,
    "",
    "| front end | transport | cases | tests | passed | skipped | failed | note |",
    "|---|---|---|--:|--:|--:|--:|---|",
    ...rows,
    ...listed.flatMap((r) => ["", `${name(r)}:`, "", ...r.failures.map((f) => `- failed: ${f}`), ...r.skips.map((f) => `- skipped: ${f}`)]),
    "",
  ].join("\n");
}

// ---------------------------------------------------------------- main

export async function runConformance(argv: string[]): Promise<number> {
  const o = parseOptions(argv);
  if (!o) {
    console.error(USAGE);
    return 2;
  }
  if (!existsSync(H2SPEC)) {
    console.error(`conformance: skipped: no h2spec at ${H2SPEC} (see /work/shared/tools/README.md, or set H2SPEC=/path/to/h2spec)`);
    return 0;
  }
  for (const tool of [...(o.peers.includes("haproxy") ? ["haproxy"] : []), "nginx"]) {
    if (Bun.spawnSync(["bash", "-c", `command -v ${tool}`], { stdout: "ignore" }).exitCode !== 0) {
      console.error(`conformance: ${tool} is missing: apt-get install -y ${tool}`);
      return 1;
    }
  }
  if (o.binary) buildBinary();
  const version = `h2spec ${/[\d.]+/.exec(Bun.spawnSync([H2SPEC, "--version"], { stdout: "pipe" }).stdout.toString())?.[0] ?? "?"}`;
  const dir = mkdtempSync(join(tmpdir(), "plb-conformance-"));
  const onSignal = () => {
    void stopAll().then(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const runs: SpecRun[] = [];
  try {
    const certs = makeCertificates(dir);
    const www = writeContent(dir, false);
    const [backendPort] = freePorts(1);
    const backend = startNginx(dir, www, "backend", backendPort);
    await waitReady(backend, backendPort);
    const start = (name: string, cmd: string[], logFile: string, cwd?: string) => launch(name, cmd, "0-1", logFile, cwd);
    for (const front of o.peers) {
      for (const transport of o.transports) {
        const [port] = freePorts(1);
        const base = { front, transport, failures: [], skips: [] };
        let note: string | undefined;
        let peer: Peer | undefined;
        try {
          peer = startH2Front(front, { transport, port, servers: o.self ? [] : [backendPort], certs }, { dir, start, plb: { cmd: plbCommand(o.binary), cwd: ROOT } });
          await waitReady(peer, port);
          note = await h2Refusal(port, transport, `/${SMALL}`);
        } catch (err) {
          note = startRefusal(err);
        }
        if (note !== undefined) {
          log(`${LABEL[front]} ${transport}: ${note}`);
          runs.push({ ...base, strict: false, none: note });
        } else {
          for (const strict of [false, true]) {
            log(`${LABEL[front]} ${transport}${strict ? " --strict" : ""}: h2spec`);
            const r = { ...base, strict, ...(await h2spec(port, transport, strict, dir)) };
            log(`${LABEL[front]} ${transport}${strict ? " --strict" : ""}: ${r.none ?? `${r.tests} tests, ${r.passed} passed, ${r.skipped} skipped, ${r.failed} failed`}`);
            if (o.verbose) for (const f of [...r.failures.map((c) => `failed: ${c}`), ...r.skips.map((c) => `skipped: ${c}`)]) log(`  ${f}`);
            runs.push(r);
          }
        }
        if (peer) await stop(peer);
      }
    }
    writeTable("latest-conformance.md", render(runs, version, o.self));
    return runs.some((r) => r.none) ? 1 : 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) process.exit(await runConformance(process.argv.slice(2)));
