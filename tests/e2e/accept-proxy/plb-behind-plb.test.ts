/**
 * plb behind plb: a front plb (client_address = "proxy-v1" / "proxy-v2")
 * relays to a back plb with accept_proxy = true. Clients connect from their
 * own loopback addresses (127.0.0.2, …); everything the back plb says about
 * the client — X-Forwarded-For, the access log, source hashing, XCLIENT, the
 * PROXY header it sends its own servers — is the original client, not the
 * front plb (127.0.0.1).
 */
import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { backend } from "../../support/backends.ts";
import { fakeSmtp } from "../../support/fake-smtp.ts";
import { httpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb, tempDir, type PlbProcess } from "../../support/plb.ts";
import { RawSmtp } from "../../support/smtp/clients.ts";
import { testCert } from "../../support/smtp/tls.ts";
import { until } from "../../support/until.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function plbOn(toml: string): Promise<PlbProcess> {
  const plb = await startPlb(toml);
  cleanup.push(() => plb.stop());
  return plb;
}

/** A front plb: one tcp service per [listen port, back port, client_address]. */
function front(routes: [number, number, string][]): Promise<PlbProcess> {
  return plbOn(
    routes
      .map(([listen, to, mode], i) => `[[service]]\nname = "front${i}"\nlisten = ["127.0.0.1:${listen}"]\nservers = ["127.0.0.1:${to}"]\nclient_address = "${mode}"\n`)
      .join("\n"),
  );
}

/** curl from `source`:`localPort`; the body. */
async function curlFrom(source: string, localPort: number, url: string): Promise<string> {
  const p = Bun.spawn(["curl", "-sS", "--max-time", "5", "--interface", source, "--local-port", String(localPort), url], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`curl ${url} from ${source} failed (${code}): ${err}`);
  return out;
}

test("http behind a front plb, PROXY v1 and v2: the server sees the original client in X-Forwarded-For and the access log names it and its port", async () => {
  const web = await httpBackend("web");
  cleanup.push(() => web.close());
  const [back, v1, v2, port1, port2] = await freePorts(5);
  const log = join(tempDir(), "back.log");
  const backPlb = await plbOn(`
[[service]]
name = "back"
protocol = "http"
listen = ["127.0.0.1:${back}"]
servers = ["127.0.0.1:${web.port}"]
accept_proxy = true
proxy_from = ["127.0.0.1"]
access_log = { path = "${log}", format = "json" }
`);
  await front([
    [v1, back, "proxy-v1"],
    [v2, back, "proxy-v2"],
  ]);
  expect(await curlFrom("127.0.0.2", port1, `http://127.0.0.1:${v1}/one`)).toBe("web");
  expect(await curlFrom("127.0.0.3", port2, `http://127.0.0.1:${v2}/two`)).toBe("web");
  const xff = Object.fromEntries(web.seen.map((s) => [s.url, s.headers["x-forwarded-for"]]));
  expect(xff).toEqual({ "/one": "127.0.0.2", "/two": "127.0.0.3" });

  await backPlb.stop(); // flushes the access log
  const lines = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { path: string; client: string; client_port: number });
  expect(lines.map((l) => [l.path, l.client, l.client_port])).toEqual([
    ["/one", "127.0.0.2", port1],
    ["/two", "127.0.0.3", port2],
  ]);
  // The front's start check (a v2 LOCAL header, or none) was no refusal.
  expect(backPlb.log()).not.toContain("closing the connection from");
});

/** The name a `{ name }` backend behind `port` sends, for a client connecting from `source`. */
async function nameFrom(port: number, source: string): Promise<string> {
  const c = await RawSmtp.connect(port, { source });
  return (await c.untilClosed()).toString("latin1").trim();
}

test("tcp with balance = \"source\" behind a front plb hashes the carried client address, exactly as without the front", async () => {
  const servers = ["a", "b", "c"].map((name) => backend({ name }));
  for (const s of servers) cleanup.push(() => s.stop());
  const [direct, behind, entry] = await freePorts(3);
  const list = servers.map((s) => `"127.0.0.1:${s.port}"`).join(", ");
  await plbOn(`
[[service]]
name = "direct"
balance = "source"
listen = ["127.0.0.1:${direct}"]
servers = [${list}]
[[service]]
name = "behind"
balance = "source"
listen = ["127.0.0.1:${behind}"]
servers = [${list}]
accept_proxy = true
proxy_from = ["127.0.0.0/8"]
`);
  await front([[entry, behind, "proxy-v2"]]);
  const seen = new Set<string>();
  for (let i = 2; i <= 21; i++) {
    const source = `127.0.0.${i}`;
    const [d, b, again] = [await nameFrom(direct, source), await nameFrom(entry, source), await nameFrom(entry, source)];
    expect({ source, behind: b, again }).toEqual({ source, behind: d, again: d });
    seen.add(b);
  }
  // Hashing the front's own address would have sent every client to one server.
  expect(seen.size).toBeGreaterThan(1);
});

test("smtp behind a front plb: XCLIENT and the PROXY header towards the servers carry the original client (and the address it reached)", async () => {
  const xc = fakeSmtp("xc", "xclient");
  const pp = fakeSmtp("pp", "ok");
  cleanup.push(() => xc.stop(), () => pp.stop());
  const [backXc, backPp, frontXc, frontPp] = await freePorts(4);
  await plbOn(`
[[service]]
name = "mail-xclient"
protocol = "smtp"
listen = ["127.0.0.1:${backXc}"]
servers = ["127.0.0.1:${xc.port}"]
client_address = "xclient"
accept_proxy = true
proxy_from = ["127.0.0.1"]
[[service]]
name = "mail-proxy"
protocol = "smtp"
listen = ["127.0.0.1:${backPp}"]
servers = ["127.0.0.1:${pp.port}"]
client_address = "proxy-v1"
accept_proxy = true
proxy_from = ["127.0.0.1"]
`);
  await front([
    [frontXc, backXc, "proxy-v2"],
    [frontPp, backPp, "proxy-v1"],
  ]);

  const a = await RawSmtp.connect(frontXc, { source: "127.0.0.2" });
  expect((await a.reply()).lines[0]).toBe("xc ESMTP ready for 127.0.0.2");
  expect((await a.command("QUIT")).code).toBe(221);
  // (The front's start check reaches the servers too, as a connection from 127.0.0.1.)
  const xclient = xc.conns.map((c) => /XCLIENT [^\r]*/.exec(c)?.[0]).filter((x) => x !== undefined && !x.includes("ADDR=127.0.0.1 "));
  expect(xclient).toEqual([`XCLIENT ADDR=127.0.0.2 PORT=${a.socket.localPort} PROTO=ESMTP`]);

  const b = await RawSmtp.connect(frontPp, { source: "127.0.0.3" });
  expect((await b.reply()).code).toBe(220);
  expect((await b.command("QUIT")).code).toBe(221);
  await until(() => pp.conns.some((c) => c.includes("QUIT")), "the session at the server");
  const headers = pp.conns.map((c) => /^PROXY [^\r]*/.exec(c)?.[0]).filter((h) => h !== undefined && h !== "PROXY UNKNOWN" && !h.startsWith("PROXY TCP4 127.0.0.1 "));
  expect(headers).toEqual([`PROXY TCP4 127.0.0.3 127.0.0.1 ${b.socket.localPort} ${frontPp}`]);
});

test("TLS behind a front plb: a tcp service with accept_proxy reads the header and relays the handshake untouched (what to do instead of tls with accept_proxy)", async () => {
  const { cert, key } = await testCert();
  const tls = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert: Bun.file(cert), key: Bun.file(key) }, fetch: () => new Response("over tls") });
  cleanup.push(() => tls.stop(true));
  const [back, entry] = await freePorts(2);
  await plbOn(`
[[service]]
name = "tls-through"
listen = ["127.0.0.1:${back}"]
servers = ["127.0.0.1:${tls.port}"]
accept_proxy = true
proxy_from = ["127.0.0.1"]
`);
  await front([[entry, back, "proxy-v2"]]);
  const p = Bun.spawn(["curl", "-sS", "--max-time", "5", "--cacert", cert, `https://127.0.0.1:${entry}/`], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = [await new Response(p.stdout).text(), await new Response(p.stderr).text()];
  expect({ out, err }).toEqual({ out: "over tls", err: "" });
});
