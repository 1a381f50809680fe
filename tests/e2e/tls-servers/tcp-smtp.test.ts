/**
 * TLS to tcp and smtp servers (server_tls): a tcp client's bytes reach a TLS
 * echo server and come back through plb; a mail sent in plain text to plb
 * (swaks) reaches a real aiosmtpd that speaks only implicit TLS (SMTPS),
 * after plb's greeting check over TLS; an SMTPS server whose certificate
 * comes from another CA is down with the cause, and mail goes to the other.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { TLSSocket } from "bun";
import { startPlb } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";
import { testCa, type CertFiles } from "../../support/test-ca.ts";
import { until } from "../../support/until.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const ca = await testCa();
const read = (f: string) => readFileSync(f, "utf8");

test("tcp: bytes through plb to a TLS echo server and back, verified with SNI; the start check is a TLS handshake too", async () => {
  const names: string[] = [];
  const srv = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: read(ca.server.cert), key: read(ca.server.key) },
    socket: {
      handshake(s: TLSSocket) {
        names.push(s.getServername?.() || "");
      },
      data(s, d) {
        s.write(d);
      },
      error() {},
    },
  });
  cleanups.push(() => srv.stop(true));
  const [port, stats] = await freePorts(2);
  const plb = await startPlb(`
[stats]
listen = "127.0.0.1:${stats}"
[[service]]
name = "echo"
protocol = "tcp"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${srv.port}"]
server_tls = { ca = "${ca.ca}", server_name = "app.internal" }
`);
  cleanups.push(() => plb.stop());
  const payload = Buffer.alloc(256 * 1024, 0);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
  const got: Buffer[] = [];
  let length = 0;
  const { promise, resolve } = Promise.withResolvers<void>();
  const c = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, d) {
        got.push(Buffer.from(d));
        length += d.length;
        if (length >= payload.length) resolve();
      },
      close() {
        resolve();
      },
    },
  });
  let sent = 0;
  const pump = () => {
    while (sent < payload.length) {
      const n = c.write(payload.subarray(sent, Math.min(payload.length, sent + 65536)));
      if (n <= 0) return;
      sent += n;
    }
  };
  const timer = setInterval(pump, 5);
  pump();
  await Promise.race([promise, Bun.sleep(15_000)]);
  clearInterval(timer);
  c.end();
  expect(Buffer.concat(got).equals(payload)).toBe(true);
  // the start check and the client's connection, both with SNI
  expect(names.length).toBeGreaterThanOrEqual(2);
  expect(new Set(names)).toEqual(new Set(["app.internal"]));
});

interface Smtps {
  readonly port: number;
  out(): string;
}

/** A real aiosmtpd speaking implicit TLS (--smtpscert), printing what it receives (its Debugging handler). */
async function smtps(port: number, files: CertFiles): Promise<Smtps> {
  const proc = Bun.spawn(["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", `127.0.0.1:${port}`, "--smtpscert", files.cert, "--smtpskey", files.key], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  cleanups.push(async () => {
    proc.kill();
    await proc.exited;
  });
  let out = "";
  void (async () => {
    for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
  })();
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then((s) => (s.end(), true), () => false);
    if (up) break;
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`aiosmtpd did not start: ${await new Response(proc.stderr).text()}`);
    await Bun.sleep(50);
  }
  return { port, out: () => out };
}

test("smtp: a mail sent in plain text to plb reaches an SMTPS-only aiosmtpd; a server with a certificate from another CA is down with the cause", async () => {
  const [good, wrong, port, stats] = await freePorts(4);
  const a = await smtps(good, ca.server);
  await smtps(wrong, ca.wrongCa);
  const plb = await startPlb(`
[stats]
listen = "127.0.0.1:${stats}"
[[service]]
name = "mail"
protocol = "smtp"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${good}", "127.0.0.1:${wrong}"]
server_tls = { ca = "${ca.ca}" }
`);
  cleanups.push(() => plb.stop());
  await until(() => plb.log().includes(`server 127.0.0.1:${wrong} of "mail" is down at start: TLS: unknown CA`), "the wrong-CA server down at start", 10_000);
  for (let i = 0; i < 3; i++) {
    const swaks = Bun.spawn(["swaks", "--server", "127.0.0.1", "--port", String(port), "--from", "a@example.org", "--to", "b@example.org", "--h-Subject", `tls-to-servers ${i}`, "--body", `body number ${i}`], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out] = await Promise.all([swaks.exited, new Response(swaks.stdout).text()]);
    expect({ code, out: code === 0 ? "" : out }).toEqual({ code: 0, out: "" });
  }
  await until(() => (a.out().match(/body number \d/g) ?? []).length === 3, "three messages at the SMTPS server", 10_000);
  expect(a.out()).toContain("Subject: tls-to-servers 2");
  const j = (await (await fetch(`http://127.0.0.1:${stats}/status.json`)).json()) as { backends: { servers: { name: string; state: string; cause: string | null }[] }[] };
  expect(j.backends[0]!.servers.find((s) => s.name.endsWith(`:${wrong}`))).toMatchObject({ state: "down", cause: "at start: TLS: unknown CA (unable to verify the first certificate)" });
  expect(j.backends[0]!.servers.find((s) => s.name.endsWith(`:${good}`))!.state).toBe("up");
});
