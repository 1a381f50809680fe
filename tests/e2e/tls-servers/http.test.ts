/**
 * TLS to http servers (server_tls) against real nginx servers with
 * certificates from a test CA: requests arrive over verified TLS with SNI,
 * pooled server connections are reused (one TLS connection at the server
 * for many requests) and new ones resume the TLS session; servers whose
 * certificate does not verify (unknown CA, name mismatch, expired) are
 * down with the cause in /status.json and the log and never get a
 * request, in plain text or otherwise; verify = false takes them; a server
 * that requires a client certificate gets plb's; health checks run over
 * TLS.
 */
import { afterAll, expect, test } from "bun:test";
import { startNginx } from "../../support/nginx.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";
import { testCa, type CertFiles } from "../../support/test-ca.ts";
import { until } from "../../support/until.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const ca = await testCa();

/** What each nginx answers: which server, its TLS connection number, whether the session was resumed, the SNI, the client certificate. */
const ECHO = `return 200 "$server_port conn=$connection reused=$ssl_session_reused sni=$ssl_server_name proto=$ssl_protocol client=$ssl_client_s_dn\\n";`;

function tlsServerBlock(port: number, files: CertFiles, extra = ""): string {
  return `server {
  listen 127.0.0.1:${port} ssl;
  ssl_certificate ${files.cert};
  ssl_certificate_key ${files.key};
  ${extra}
  location = /healthz { return 200 "ok\\n"; }
  location / { ${ECHO} }
}`;
}

async function nginx(blocks: string[], firstPort: number): Promise<void> {
  const n = await startNginx(blocks.join("\n"), firstPort);
  cleanups.push(() => n.stop());
}

async function plbWith(servers: number[], serverTls: string, extra = "", global = ""): Promise<{ plb: PlbProcess; port: number; stats: number }> {
  const [port, stats] = await freePorts(2);
  const plb = await startPlb(`${global}
[stats]
listen = "127.0.0.1:${stats}"
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
backend = "app"
[[backend]]
name = "app"
servers = [${servers.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
server_tls = ${serverTls}
${extra}
`);
  cleanups.push(() => plb.stop());
  return { plb, port, stats };
}

interface ServerStatus {
  name: string;
  state: string;
  cause: string | null;
  last_check: { ok: boolean; detail: string; reason: string | null } | null;
}

async function servers(stats: number): Promise<ServerStatus[]> {
  const j = (await (await fetch(`http://127.0.0.1:${stats}/status.json`)).json()) as { backends: { name: string; servers: ServerStatus[] }[] };
  return j.backends.find((b) => b.name === "app")!.servers;
}

async function get(port: number, path = "/"): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, body: await r.text() };
}

test("verified TLS with SNI; 20 requests ride one pooled TLS connection; new connections resume the session (TLS 1.3 and 1.2)", async () => {
  const [n1, n2, n3] = await freePorts(3);
  // n2 and n3 close their connections after each request: every request is a new TLS connection.
  await nginx(
    [
      tlsServerBlock(n1, ca.server, "ssl_protocols TLSv1.3;"),
      tlsServerBlock(n2, ca.server, "ssl_protocols TLSv1.3; keepalive_requests 1;"),
      tlsServerBlock(n3, ca.server, "ssl_protocols TLSv1.2; keepalive_requests 1;"),
    ],
    n1,
  );
  const pooled = await plbWith([n1], `{ ca = "${ca.ca}", server_name = "app.internal" }`);
  const bodies: string[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await get(pooled.port);
    expect(r.status).toBe(200);
    bodies.push(r.body);
  }
  expect(bodies[0]).toMatch(new RegExp(`^${n1} conn=\\d+ reused=\\S sni=app.internal proto=TLSv1.3 client=\\n$`));
  // The start check is a connection of its own; every request rode one pooled connection.
  expect(new Set(bodies.map((b) => /conn=(\d+)/.exec(b)![1])).size).toBe(1);

  for (const [port, proto] of [[n2, "TLSv1.3"], [n3, "TLSv1.2"]] as const) {
    const fresh = await plbWith([port], `{ ca = "${ca.ca}", server_name = "app.internal" }`);
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) seen.push((await get(fresh.port)).body);
    expect(new Set(seen.map((b) => /conn=(\d+)/.exec(b)![1])).size).toBe(5);
    for (const b of seen) expect(b).toContain(`proto=${proto}`);
    // The start check's session is offered by the first request already.
    expect(seen.filter((b) => b.includes("reused=r")).length).toBeGreaterThanOrEqual(4);
  }
});

test("unknown CA, name mismatch and expired certificates: down at start with the cause in /status.json and the log; every request goes to the good server", async () => {
  const [good, wrongCa, dnsOnly, expired] = await freePorts(4);
  await nginx(
    [tlsServerBlock(good, ca.server), tlsServerBlock(wrongCa, ca.wrongCa), tlsServerBlock(dnsOnly, ca.dnsOnly), tlsServerBlock(expired, ca.expired)],
    good,
  );
  // No server_name: each certificate is checked against 127.0.0.1 (dns-only names app.internal alone).
  const { plb, port, stats } = await plbWith([good, wrongCa, dnsOnly, expired], `{ ca = "${ca.ca}" }`);
  await until(() => (plb.log().match(/is down at start/g) ?? []).length >= 3, "three servers down at start", 10_000);
  const byPort = new Map((await servers(stats)).map((s) => [Number(s.name.split(":")[1]), s]));
  expect(byPort.get(good)!.state).toBe("up");
  expect(byPort.get(wrongCa)).toMatchObject({ state: "down", cause: "at start: TLS: unknown CA (unable to verify the first certificate)" });
  expect(byPort.get(dnsOnly)).toMatchObject({ state: "down", cause: "at start: TLS: name mismatch: the server's address is not in the certificate (it names no IP address)" });
  expect(byPort.get(expired)).toMatchObject({ state: "down", cause: "at start: TLS: certificate expired" });
  for (const p of [wrongCa, dnsOnly, expired]) expect(byPort.get(p)!.last_check).toMatchObject({ ok: false, reason: "tls" });
  expect(plb.log()).toContain(`server 127.0.0.1:${wrongCa} of "app" is down at start: TLS: unknown CA`);
  expect(plb.log()).toContain(`server 127.0.0.1:${expired} of "app" is down at start: TLS: certificate expired`);
  for (let i = 0; i < 12; i++) expect((await get(port)).body).toStartWith(`${good} `);
  const metrics = await (await fetch(`http://127.0.0.1:${stats}/metrics`)).text();
  expect(metrics).toMatch(new RegExp(`plb_server_check_failures_total\\{[^}]*server="127.0.0.1:${expired}"[^}]*reason="tls"\\} [1-9]`));
});

test("a server whose certificate stops verifying is a failure of traffic too: requests fail over, the server goes down after server_retry", async () => {
  const [good, wrongCa] = await freePorts(2);
  await nginx([tlsServerBlock(good, ca.server), tlsServerBlock(wrongCa, ca.wrongCa)], good);
  // Probes only every minute: the start check marks wrongCa down, traffic never meets it.
  const { plb, port, stats } = await plbWith([good, wrongCa], `{ ca = "${ca.ca}", server_name = "app.internal" }`, `timeout_cleanup = "60s"\nserver_retry = 1`);
  await until(() => plb.log().includes("is down at start"), "wrongCa down at start", 10_000);
  for (let i = 0; i < 6; i++) expect((await get(port)).body).toStartWith(`${good} `);
  expect((await servers(stats)).find((s) => s.name.endsWith(`:${wrongCa}`))!.cause).toContain("TLS: unknown CA");
});

test("verify = false (written): a certificate from another CA is taken, and the start says so", async () => {
  const [wrongCa] = await freePorts(1);
  await nginx([tlsServerBlock(wrongCa, ca.wrongCa)], wrongCa);
  const { plb, port } = await plbWith([wrongCa], `{ verify = false }`);
  expect(plb.log()).toContain(`backend "app": server_tls.verify = false: the servers' certificates are not checked`);
  const r = await get(port);
  expect(r.status).toBe(200);
  expect(r.body).toMatch(/proto=TLSv1\.[23] /);
});

test("a server that requires a client certificate (nginx ssl_verify_client on): plb's is sent; without one nginx refuses the request", async () => {
  const [strict] = await freePorts(1);
  await nginx([tlsServerBlock(strict, ca.server, `ssl_verify_client on; ssl_client_certificate ${ca.ca};`)], strict);
  const withCert = await plbWith([strict], `{ ca = "${ca.ca}", server_name = "app.internal", cert = "${ca.client.cert}", key = "${ca.client.key}" }`);
  const r = await get(withCert.port);
  expect(r.status).toBe(200);
  expect(r.body).toContain("client=CN=plb-client");
  const without = await plbWith([strict], `{ ca = "${ca.ca}", server_name = "app.internal" }`);
  const refused = await get(without.port);
  expect(refused.status).toBe(400);
  expect(refused.body).toContain("No required SSL certificate was sent");
});

test("active health checks run over TLS: the good server passes GET /healthz, the wrong-CA one fails with reason tls", async () => {
  const [good, wrongCa] = await freePorts(2);
  await nginx([tlsServerBlock(good, ca.server), tlsServerBlock(wrongCa, ca.wrongCa)], good);
  const { stats } = await plbWith([good, wrongCa], `{ ca = "${ca.ca}", server_name = "app.internal" }`, `health = { path = "/healthz", interval = "300ms", timeout = "250ms", rise = 1, fall = 1 }`);
  let list: ServerStatus[] = [];
  const deadline = Date.now() + 10_000;
  for (;;) {
    list = await servers(stats);
    if (list.every((s) => s.last_check !== null) || Date.now() > deadline) break;
    await Bun.sleep(50);
  }
  const goodS = list.find((s) => s.name.endsWith(`:${good}`))!;
  const wrongS = list.find((s) => s.name.endsWith(`:${wrongCa}`))!;
  expect(goodS.state).toBe("up");
  expect(goodS.last_check).toMatchObject({ ok: true, detail: "GET /healthz → 200" });
  expect(wrongS.state).toBe("down");
  expect(wrongS.last_check).toMatchObject({ ok: false, reason: "tls", detail: "TLS: unknown CA (unable to verify the first certificate)" });
});

test("--check reads the files: a key that is not the client certificate's is refused with the line", async () => {
  const { writeConfig, BUN, CLI } = await import("../../support/plb.ts");
  const file = writeConfig(`
[[service]]
name = "web"
listen = ["127.0.0.1:1"]
servers = ["127.0.0.1:2"]
server_tls = { ca = "${ca.ca}", cert = "${ca.client.cert}", key = "${ca.server.key}" }
`);
  const p = Bun.spawn([BUN, CLI, "--check", "--config", file], { stdout: "pipe", stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  expect(code).not.toBe(0);
  expect(err).toContain(`plb.toml:6: service "web": server_tls.key: key does not match the certificate in ${ca.client.cert}`);
});

test("reload: a wrong ca (servers down, unknown CA) replaced by the right one brings them back; a broken file is refused and the running setting kept", async () => {
  const { writeConfig, startPlbFile } = await import("../../support/plb.ts");
  const { reloadWith } = await import("../../support/reload.ts");
  const { writeFileSync } = await import("node:fs");
  const [server, port, stats] = await freePorts(3);
  await nginx([tlsServerBlock(server, ca.server)], server);
  const conf = (caFile: string) => `
[stats]
listen = "127.0.0.1:${stats}"
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
backend = "app"
[[backend]]
name = "app"
servers = ["127.0.0.1:${server}"]
timeout_cleanup = "300ms"
server_tls = { ca = "${caFile}", server_name = "app.internal" }
`;
  const otherCa = `${ca.dir}/other-ca.pem`;
  const file = writeConfig(conf(otherCa));
  const plb = await startPlbFile(file);
  cleanups.push(() => plb.stop());
  await until(() => plb.log().includes("is down at start: TLS: unknown CA"), "down at start", 10_000);
  expect((await get(port)).status).toBe(503);
  expect(await reloadWith(plb, file, conf(ca.ca))).toMatch(/^.*reload: /);
  await until(() => /is up again/.test(plb.log()), "the server back after the reload", 10_000);
  expect((await get(port)).body).toStartWith(`${server} `);
  const broken = `${ca.dir}/broken-ca.pem`;
  writeFileSync(broken, "not a certificate\n");
  const failed = await reloadWith(plb, file, conf(broken));
  expect(failed).toContain("reload failed");
  expect(plb.log()).toContain(`backend "app": server_tls.ca: ${broken} is not a PEM certificate`);
  expect((await get(port)).body).toStartWith(`${server} `);
});

test("workers = 2: the workers relay over verified TLS; the master's start check puts the wrong-CA server down with its cause", async () => {
  const [good, wrongCa] = await freePorts(2);
  await nginx([tlsServerBlock(good, ca.server), tlsServerBlock(wrongCa, ca.wrongCa)], good);
  // No probes for a minute: the start check (in the master) takes wrongCa down; the workers' connects verify on their own.
  const { plb, port, stats } = await plbWith([good, wrongCa], `{ ca = "${ca.ca}", server_name = "app.internal" }`, `timeout_cleanup = "60s"`, "workers = 2");
  expect(plb.log()).toMatch(/pids \d+, \d+\)/);
  const seen = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const r = await get(port);
    expect(r.status).toBe(200);
    seen.add(r.body.split(" ")[0]!);
  }
  expect([...seen]).toEqual([String(good)]);
  // The transition is the master's start check; the last failure may be a worker's request that reached the
  // server before that transition did (it failed over to the good one): the same TLS cause either way.
  const down = (await servers(stats)).find((s) => s.name.endsWith(`:${wrongCa}`)) as { cause?: string } | undefined;
  expect(down).toMatchObject({ state: "down", last_transition: { state: "down", cause: "at start: TLS: unknown CA (unable to verify the first certificate)" } });
  expect(down?.cause).toEndWith("TLS: unknown CA (unable to verify the first certificate)");
});

test("servers from DNS ({ dns = \"app.internal:port\" }): SNI and the name checked are the DNS name, not the address it resolved to", async () => {
  const { dnsServer } = await import("../../support/dns-server.ts");
  const dns = await dnsServer({ "app.internal": "127.0.0.1" });
  cleanups.push(() => dns.close());
  const [server, literal, port, stats] = await freePorts(4);
  // The certificate names app.internal only: checked against 127.0.0.1 it is a name mismatch.
  await nginx([tlsServerBlock(server, ca.dnsOnly), tlsServerBlock(literal, ca.dnsOnly)], server);
  const plb = await startPlb(`nameservers = ["127.0.0.1:${dns.port}"]
[stats]
listen = "127.0.0.1:${stats}"
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
backend = "app"
[[backend]]
name = "app"
servers = [{ dns = "app.internal:${server}" }, "127.0.0.1:${literal}"]
server_tls = { ca = "${ca.ca}" }
`);
  cleanups.push(() => plb.stop());
  await until(() => plb.log().includes("is down at start"), "the address-only server down at start", 10_000);
  const byName = new Map((await servers(stats)).map((s) => [s.name, s]));
  expect(byName.get(`127.0.0.1:${server}`)!.state).toBe("up");
  expect(byName.get(`127.0.0.1:${literal}`)).toMatchObject({ state: "down", cause: "at start: TLS: name mismatch: the server's address is not in the certificate (it names no IP address)" });
  for (let i = 0; i < 4; i++) {
    const body = (await get(port)).body;
    expect(body).toStartWith(`${server} `);
    expect(body).toContain(" sni=app.internal ");
  }
});
