/**
 * Slow start end to end: two real nginx servers behind an http service with
 * slowstart = "4s"; one is stopped until plb takes it down, started again,
 * and from the moment plb brings it back it gets a small share of the
 * requests at first and its full share once the ramp is over, as /metrics
 * and /status.json show; in one process and with workers (the master ramps,
 * the workers balance with the weights it pushes); and a server a reload
 * adds, with the slowstart that reload brings.
 */
import { afterEach, expect, test } from "bun:test";
import { startNginx, type Nginx } from "../../support/nginx.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb, startPlbFile, writeConfig } from "../../support/plb.ts";
import { reloadWith } from "../../support/reload.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A real nginx answering every request with its name. */
function named(name: string, port: number): Promise<Nginx> {
  return startNginx(`server { listen 127.0.0.1:${port}; location / { default_type text/plain; return 200 "${name}"; } }`, port);
}

interface ServerStatus {
  name: string;
  state: string;
  weight: number;
  effective_weight: number;
  slowstart: boolean;
}

async function serverStatus(statsPort: number, server: string): Promise<ServerStatus> {
  const res = await fetch(`http://127.0.0.1:${statsPort}/status.json`);
  const body = (await res.json()) as { backends: { servers: ServerStatus[] }[] };
  return body.backends[0].servers.find((s) => s.name === server)!;
}

async function metric(statsPort: number, name: string, server: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${statsPort}/metrics`)).text();
  const m = new RegExp(`^${name}\\{backend="web",server="${server.replaceAll(".", "\\.")}"\\} (\\S+)$`, "m").exec(text);
  if (!m) throw new Error(`no ${name} for ${server} in:\n${text}`);
  return Number(m[1]);
}

test.each([
  ["", "one process"],
  ["workers = 2", "workers = 2: the master ramps and pushes each step to the workers"],
])("a server back from down gets a small share of requests at first and its full share once slowstart is over (%p: %s)", async (globals) => {
  const [plbPort, statsPort, portA, portB] = await freePorts(4);
  const a = await named("A", portA);
  cleanup.push(() => a.stop());
  let b = await named("B", portB);
  cleanup.push(() => b.stop());
  const B = `127.0.0.1:${portB}`;
  const plb = await startPlb(`
timeout_cleanup = "200ms"
${globals}
[stats]
listen = "127.0.0.1:${statsPort}"
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${plbPort}"]
servers = ["127.0.0.1:${portA}", "${B}"]
server_retry = 1
slowstart = "4s"
`);
  cleanup.push(() => plb.stop());
  const get = async (): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${plbPort}/`);
    expect(res.status).toBe(200);
    return await res.text();
  };
  const count = async (n: number, untilMs = Infinity): Promise<{ A: number; B: number }> => {
    const c = { A: 0, B: 0 };
    for (let i = 0; i < n && Date.now() < untilMs; i++) c[(await get()) as "A" | "B"]++;
    return c;
  };

  // At start both take their full share: slow start never applies at start.
  expect(await count(20)).toEqual({ A: 10, B: 10 });
  expect(await serverStatus(statsPort, B)).toMatchObject({ weight: 1, effective_weight: 1, slowstart: false });

  // B stops: the next request that picks it fails over to A and takes B down.
  await b.stop();
  for (let i = 0; i < 20 && !plb.log().includes(`${B} of "web" is down`); i++) expect(await get()).toBe("A");
  await plb.waitForLog(new RegExp(`${B} of "web" is down`), 3000);

  // B starts again; the next probe brings it back, in slow start.
  b = await named("B", portB);
  await plb.waitForLog(new RegExp(`${B} of "web" is up again: probe connected \\(slow start: weight 0\\.05 of 1, full in 4s\\)`), 5000);
  const upAt = Date.now();
  const early = await serverStatus(statsPort, B);
  expect(early.state).toBe("up");
  expect(early.slowstart).toBe(true);
  expect(early.weight).toBe(1);
  expect(early.effective_weight).toBeLessThan(0.5);
  expect(await metric(statsPort, "plb_server_slowstart", B)).toBe(1);
  expect(await metric(statsPort, "plb_server_weight", B)).toBe(1);
  expect(await metric(statsPort, "plb_server_effective_weight", B)).toBeLessThan(0.5);

  // The first 0.8 s (at most 100 requests): its weight is 5-20 % of A's, so
  // its share is at most ~17 % (about 8 % expected); far from the half it had.
  const first = await count(100, upAt + 800);
  const firstShare = first.B / (first.A + first.B);
  expect(first.A + first.B).toBeGreaterThanOrEqual(20);
  expect(firstShare).toBeLessThan(0.25);

  // Once the 4 s are over: full weight, half the requests again. (Polled: the last step is a
  // timer in plb; the bound below allows for the time the log line took to reach this test.)
  let over = await serverStatus(statsPort, B);
  while (over.slowstart && Date.now() < upAt + 15_000) {
    await Bun.sleep(100);
    over = await serverStatus(statsPort, B);
  }
  expect(Date.now() - upAt).toBeGreaterThanOrEqual(3000); // not over before its 4 s
  expect(over).toMatchObject({ state: "up", weight: 1, effective_weight: 1, slowstart: false });
  expect(await metric(statsPort, "plb_server_slowstart", B)).toBe(0);
  expect(await metric(statsPort, "plb_server_effective_weight", B)).toBe(1);
  const last = await count(200);
  expect(last.B).toBeGreaterThanOrEqual(80);
  expect(last.B).toBeLessThanOrEqual(120);
  expect(last.B / (last.A + last.B)).toBeGreaterThan(firstShare * 2);
}, 30_000);

test("a server added by a reload ramps once its first check passes, with the slowstart the reload brings", async () => {
  const [plbPort, statsPort, portA, portB] = await freePorts(4);
  const a = await named("A", portA);
  cleanup.push(() => a.stop());
  const b = await named("B", portB);
  cleanup.push(() => b.stop());
  const B = `127.0.0.1:${portB}`;
  const conf = (servers: string, slowstart: string) => `
[stats]
listen = "127.0.0.1:${statsPort}"
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${plbPort}"]
servers = [${servers}]
slowstart = ${slowstart}
`;
  const file = writeConfig(conf(`"127.0.0.1:${portA}"`, "0"));
  const plb = await startPlbFile(file);
  cleanup.push(() => plb.stop());
  expect(await reloadWith(plb, file, conf(`"127.0.0.1:${portA}", "${B}"`, '"4s"'))).toContain("reload: +1 server");
  await plb.waitForLog(new RegExp(`${B} of "web" is up: its first check passed \\(slow start: weight 0\\.05 of 1, full in 4s\\)`), 5000);
  const upAt = Date.now();
  expect(await serverStatus(statsPort, B)).toMatchObject({ state: "up", weight: 1, slowstart: true });
  const c = { A: 0, B: 0 };
  for (let i = 0; i < 100 && Date.now() < upAt + 800; i++) {
    const res = await fetch(`http://127.0.0.1:${plbPort}/`);
    c[(await res.text()) as "A" | "B"]++;
  }
  expect(c.A + c.B).toBeGreaterThanOrEqual(20);
  expect(c.B / (c.A + c.B)).toBeLessThan(0.25);
}, 30_000);
