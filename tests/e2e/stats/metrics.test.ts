/**
 * The stats listener ([stats]): /metrics parsed whole by the Prometheus
 * Python client's own parsers (text format and OpenMetrics), counters that
 * move with real traffic, /status.json, the read token, and workers' counters
 * summed by the master.
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { backend } from "../../support/backends.ts";
import { httpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { until } from "../../support/until.ts";

const PARSER = join(import.meta.dir, "..", "..", "support", "prom_parse.py");
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface Sample {
  family: string;
  type: string;
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Scrape and parse with prometheus_client (throws on anything it cannot parse). */
async function scrape(port: number, openMetrics = false): Promise<{ samples: Sample[]; contentType: string; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, openMetrics ? { headers: { Accept: "application/openmetrics-text; version=1.0.0" } } : {});
  expect(res.status).toBe(200);
  const text = await res.text();
  const p = Bun.spawnSync(["/usr/bin/python3", PARSER, ...(openMetrics ? ["--openmetrics"] : [])], { stdin: Buffer.from(text), stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`prometheus_client could not parse /metrics: ${p.stderr}\n${text}`);
  return { samples: JSON.parse(p.stdout.toString()), contentType: res.headers.get("content-type") ?? "", text };
}

/**
 * Scrape until `ready` holds (counters move when sessions end, which the client does not wait
 * for), or give the last scrape after a generous deadline: the assertions then say what is off.
 */
async function scrapeWhen(port: number, ready: (s: Sample[]) => boolean): Promise<{ samples: Sample[]; contentType: string; text: string }> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await scrape(port);
    if (ready(r.samples) || Date.now() > deadline) return r;
    await Bun.sleep(50);
  }
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** `extra` follows `[stats] listen = …` (stats keys first, then [[service]] tables); `globals` goes before it. */
async function plbWithStats(extra: string, globals = ""): Promise<{ plb: PlbProcess; statsPort: number; ports: number[] }> {
  const ports = await freePorts(4);
  const [statsPort] = ports;
  const plb = await startPlb(`
timeout_cleanup = "300ms"
${globals}
[stats]
listen = "127.0.0.1:${statsPort}"
${extra.replaceAll("$P1", String(ports[1])).replaceAll("$P2", String(ports[2])).replaceAll("$P3", String(ports[3]))}
`);
  cleanup.push(() => plb.stop());
  return { plb, statsPort, ports };
}

test("/metrics parses whole with the Prometheus client (text and OpenMetrics) and its counters, states and histograms move with traffic", async () => {
  const web = await httpBackend("web");
  const echo = backend("echo");
  cleanup.push(() => web.close(), () => echo.stop());
  const { statsPort, ports } = await plbWithStats(`
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:$P1"]
servers = ["127.0.0.1:${web.port}", "127.0.0.1:$P3"]
[[service]]
name = "tunnel"
protocol = "tcp"
listen = ["127.0.0.1:$P2"]
servers = ["127.0.0.1:${echo.port}"]
`);
  const [, webPort, tcpPort, dead] = ports;
  const before = await scrape(statsPort);
  expect(before.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
  const w = `127.0.0.1:${web.port}`;
  const d = `127.0.0.1:${dead}`;
  expect(value(before.samples, "plb_service_sessions_total", { service: "web" })).toBe(0);
  for (let i = 0; i < 20; i++) {
    const r = await fetch(`http://127.0.0.1:${webPort}/x`, { keepalive: false });
    expect(r.status).toBe(200);
    await r.text();
  }
  for (let i = 0; i < 5; i++) {
    let got = "";
    const s = await Bun.connect({ hostname: "127.0.0.1", port: tcpPort, socket: { data: (_s, b) => void (got += b.toString()) } });
    s.write("0123456789");
    await until(() => got.length === 10, "the echo");
    s.end();
  }
  const after = await scrapeWhen(
    statsPort,
    (x) =>
      value(x, "plb_service_bytes_out_total", { service: "tunnel" }) === 50 &&
      value(x, "plb_server_state", { service: "web", server: d, state: "down" }) === 1,
  );
  const s = after.samples;
  expect(value(s, "plb_server_state", { backend: "web", server: d, state: "down" })).toBe(1);
  expect(value(s, "plb_server_state", { backend: "web", server: d, state: "up" })).toBe(0);
  expect(value(s, "plb_server_state", { backend: "web", server: w, state: "up" })).toBe(1);
  expect(value(s, "plb_service_sessions_total", { service: "web" })).toBe(20);
  expect(value(s, "plb_server_sessions_total", { backend: "web", server: w })).toBe(20);
  expect(value(s, "plb_http_responses_total", { service: "web", code_class: "2xx" })).toBe(20);
  expect(value(s, "plb_server_response_time_seconds_count", { backend: "web", server: w })).toBe(20);
  expect(value(s, "plb_server_response_time_seconds_bucket", { backend: "web", server: w, le: "+Inf" })).toBe(20);
  expect(value(s, "plb_server_response_time_seconds_sum", { backend: "web", server: w })).toBeGreaterThan(0);
  expect(value(s, "plb_service_sessions_total", { service: "tunnel" })).toBe(5);
  expect(value(s, "plb_service_bytes_in_total", { service: "tunnel" })).toBe(50);
  expect(value(s, "plb_service_bytes_out_total", { service: "tunnel" })).toBe(50);
  expect(value(s, "plb_server_connect_time_seconds_count", { backend: "tunnel", server: `127.0.0.1:${echo.port}` })).toBe(5);
  expect(value(s, "plb_server_check_failures_total", { backend: "web", server: d })).toBeGreaterThanOrEqual(0);
  expect(value(s, "plb_server_transitions_total", { backend: "web", server: d })).toBe(1);
  expect(value(s, "plb_process_resident_memory_bytes", {})).toBeGreaterThan(10_000_000);
  expect(value(s, "plb_process_open_fds", {})).toBeGreaterThan(5);
  // Buckets are cumulative and end at the count.
  const buckets = s.filter((x) => x.name === "plb_service_total_time_seconds_bucket" && x.labels.service === "web").map((x) => x.value);
  expect(buckets.every((v, i) => i === 0 || v >= buckets[i - 1])).toBe(true);

  const om = await scrape(statsPort, true);
  expect(om.contentType).toBe("application/openmetrics-text; version=1.0.0; charset=utf-8");
  expect(om.text.endsWith("# EOF\n")).toBe(true);
  expect(value(om.samples, "plb_service_sessions_total", { service: "web" })).toBe(20);
  expect(om.samples.find((x) => x.name === "plb_service_sessions_total")?.family).toBe("plb_service_sessions");
});

test("/status.json: services, servers, their state, counters and the last transition with its cause; 404 elsewhere", async () => {
  const web = await httpBackend("web");
  cleanup.push(() => web.close());
  const { statsPort, ports } = await plbWithStats(`
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:$P1"]
servers = ["127.0.0.1:${web.port}", "127.0.0.1:$P3"]
`);
  const [, webPort, , dead] = ports;
  await (await fetch(`http://127.0.0.1:${webPort}/`, { keepalive: false })).text();
  type ServerRow = { name: string; state: string; last_transition: { cause: string } | null; sessions_total: number };
  type Status = { services: { name: string; listen: string[]; backend: string }[]; backends: { name: string; declared: boolean; servers: ServerRow[] }[] };
  // the session is counted when it ends, and the dead server is down once its start check failed
  let res: Response;
  let st: Status;
  const deadline = Date.now() + 15_000;
  do {
    res = await fetch(`http://127.0.0.1:${statsPort}/status.json`);
    st = (await res.json()) as Status;
    const servers = st.backends?.[0]?.servers ?? [];
    if (servers.some((x) => x.sessions_total > 0) && servers.some((x) => x.state === "down")) break;
    await Bun.sleep(50);
  } while (Date.now() < deadline);
  expect(res.headers.get("content-type")).toContain("application/json");
  const svc = st.services[0];
  expect(svc.name).toBe("web");
  expect(svc.listen).toEqual([`127.0.0.1:${webPort}`]);
  // Its own servers: the backend named after it.
  expect(svc.backend).toBe("web");
  expect(st.backends.map((b) => [b.name, b.declared])).toEqual([["web", false]]);
  const be = st.backends[0];
  const down = be.servers.find((s) => s.name === `127.0.0.1:${dead}`)!;
  expect(down.state).toBe("down");
  expect(down.last_transition?.cause).toMatch(/^at start: .*refused/);
  const up = be.servers.find((s) => s.name === `127.0.0.1:${web.port}`)!;
  expect([up.state, up.last_transition, up.sessions_total]).toEqual(["up", null, 1]);
  expect((await fetch(`http://127.0.0.1:${statsPort}/nope`)).status).toBe(404);
  expect((await fetch(`http://127.0.0.1:${statsPort}/metrics`, { method: "PUT" })).status).toBe(405);
});

test("read_token: no token 401, a wrong one 403, the right one 200", async () => {
  const echo = backend("echo");
  cleanup.push(() => echo.stop());
  const token = "0123456789abcdef0123";
  const { statsPort } = await plbWithStats(`token = "${token}"
read_token = true
[[service]]
name = "t"
listen = ["127.0.0.1:$P1"]
servers = ["127.0.0.1:${echo.port}"]
`);
  expect((await fetch(`http://127.0.0.1:${statsPort}/metrics`)).status).toBe(401);
  expect((await fetch(`http://127.0.0.1:${statsPort}/metrics`, { headers: { Authorization: "Bearer not-the-token-at-all" } })).status).toBe(403);
  expect((await fetch(`http://127.0.0.1:${statsPort}/metrics`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
});

test("with workers = 2 the master's /metrics sums every worker's counters", async () => {
  const echo = backend("echo");
  cleanup.push(() => echo.stop());
  const { plb, statsPort, ports } = await plbWithStats(
    `
[[service]]
name = "t"
listen = ["127.0.0.1:$P1"]
servers = ["127.0.0.1:${echo.port}"]
`,
    "workers = 2",
  );
  await plb.waitForLog(/workers running/);
  for (let i = 0; i < 30; i++) {
    let got = "";
    const s = await Bun.connect({ hostname: "127.0.0.1", port: ports[1], socket: { data: (_s, b) => void (got += b.toString()) } });
    s.write("abc");
    await until(() => got === "abc", "the echo");
    s.end();
  }
  const { samples } = await scrapeWhen(statsPort, (x) => value(x, "plb_service_bytes_in_total", { service: "t" }) === 90);
  expect(value(samples, "plb_service_sessions_total", { service: "t" })).toBe(30);
  expect(value(samples, "plb_service_bytes_in_total", { service: "t" })).toBe(90);
  expect(value(samples, "plb_server_state", { backend: "t", server: `127.0.0.1:${echo.port}`, state: "up" })).toBe(1);
});
