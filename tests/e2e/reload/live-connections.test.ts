/**
 * Every live connection survives reloads: a 300 MB tcp transfer, a WebSocket
 * echo, an SMTP session in the middle of DATA (a real aiosmtpd) and an http
 * keep-alive client and an http upload, through ten reloads that change settings, add and
 * remove a server and a whole service. The keep-alive client's next request
 * uses the new configuration (forwarded_for toggles what its server sees).
 */
import { afterAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { backend } from "../../support/backends.ts";
import { httpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlbFile, writeConfig } from "../../support/plb.ts";
import { RawClient } from "../../support/raw-client.ts";
import { reloadWith } from "../../support/reload.ts";
import { until } from "../../support/until.ts";
import { startSmtpServer } from "../../support/smtp/aiosmtpd.ts";
import { RawSmtp } from "../../support/smtp/clients.ts";

const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

test("a 300 MB tcp transfer, a WebSocket echo, an SMTP session mid-DATA, a keep-alive client and an upload survive ten reloads", async () => {
  const echo = backend("echo");
  const spare = backend("echo");
  cleanup.push(() => echo.stop(), () => spare.stop());
  const xff = await httpBackend("web", (req, res, body) =>
    res.end(req.method === "POST" ? `got ${body.length} bytes, sha256 ${createHash("sha256").update(body).digest("hex")}` : `xff=${req.headers["x-forwarded-for"] ?? "none"}`),
  );
  cleanup.push(() => xff.close());
  const ws = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response("no", { status: 400 })),
    websocket: { message: (s, m) => void s.send(`echo:${m}`) },
  });
  cleanup.push(() => ws.stop(true));
  const mail = await startSmtpServer({ name: "mx" });
  cleanup.push(() => mail.stop());
  const [tcpPort, webPort, wsPort, smtpPort, extraPort] = await freePorts(5);

  const conf = (n: number) => `
timeout_cleanup = "300ms"
timeout_client = "${n % 2 ? "61s" : "60s"}"
[[service]]
name = "tunnel"
protocol = "tcp"
listen = ["127.0.0.1:${tcpPort}"]
servers = ["127.0.0.1:${echo.port}"${n % 2 ? `, "127.0.0.1:${spare.port}"` : ""}]
balance = "first"
[[service]]
name = "web"
protocol = "http"
forwarded_for = "${n % 2 ? "off" : "append"}"
listen = ["127.0.0.1:${webPort}"]
servers = ["127.0.0.1:${xff.port}"]
[[service]]
name = "ws"
protocol = "http"
balance = "${n % 2 ? "leastconn" : "roundrobin"}"
listen = ["127.0.0.1:${wsPort}"]
servers = ["127.0.0.1:${ws.port}"]
[[service]]
name = "mail"
protocol = "smtp"
listen = ["127.0.0.1:${smtpPort}"]
servers = ["127.0.0.1:${mail.port}"]
${n % 2 ? `[[service]]\nname = "extra"\nprotocol = "tcp"\nlisten = ["127.0.0.1:${extraPort}"]\nservers = ["127.0.0.1:${spare.port}"]\n` : ""}`;
  const file = writeConfig(conf(0));
  const plb = await startPlbFile(file, ["--loglevel", "info"]);
  cleanup.push(() => plb.stop());

  // 300 MB through the tcp service on one connection: 30 MB before the
  // first reload and after each, echoed back whole.
  const data = new Uint8Array(300 << 20);
  for (let i = 0; i < data.length; i += 4096) data[i] = (i >> 12) & 0xff;
  const bulk = await pacedTransfer(tcpPort, data);
  await bulk.send(0);

  const socket = new WebSocket(`ws://127.0.0.1:${wsPort}/`);
  const wsGot: string[] = [];
  socket.onmessage = (e) => void wsGot.push(String(e.data));
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error("websocket error"));
  });

  const smtp = await RawSmtp.connect(smtpPort);
  expect((await smtp.reply()).code).toBe(220);
  expect((await smtp.command("EHLO client.test")).code).toBe(250);
  expect((await smtp.command("MAIL FROM:<a@client.test>")).code).toBe(250);
  expect((await smtp.command("RCPT TO:<b@mx.test>")).code).toBe(250);
  expect((await smtp.command("DATA")).code).toBe(354);
  smtp.write("Subject: reloads\r\n\r\n");

  const keep = await RawClient.open(webPort);
  const ask = async (i: number) => {
    keep.write(`GET /${i} HTTP/1.1\r\nHost: web\r\n\r\n`);
    expect(await keep.until(() => keep.responses.length > i, 5000)).toBe(true);
    return keep.responses[i].body;
  };
  expect(await ask(0)).toBe("xff=127.0.0.1");

  // An upload whose body comes in ten pieces, one after each reload.
  const piece = new Uint8Array(64 << 10);
  const upload = await RawClient.open(webPort);
  upload.write(`POST /upload HTTP/1.1\r\nHost: web\r\nContent-Length: ${piece.length * 10}\r\n\r\n`);
  const uploaded = createHash("sha256");

  for (let n = 1; n <= 10; n++) {
    const line = await reloadWith(plb, file, conf(n));
    expect(line).toMatch(/^.*\[reload\] reload: /);
    socket.send(`m${n}`);
    smtp.write(`line ${n} of the message, sent after reload ${n}\r\n`);
    if (n < 10) await bulk.send(n);
    piece.fill(n);
    upload.write(piece);
    uploaded.update(piece);
    // The same client connection; its next request follows the new forwarded_for.
    expect(await ask(n)).toBe(n % 2 ? "xff=none" : "xff=127.0.0.1");
    await until(() => wsGot.length >= n, `WebSocket echo ${n}`);
    expect(wsGot[n - 1]).toBe(`echo:m${n}`);
  }
  expect(keep.closed).toBe(false);
  expect(await upload.until(() => upload.responses.length === 1, 5000)).toBe(true);
  expect(upload.responses[0].body).toBe(`got ${piece.length * 10} bytes, sha256 ${uploaded.digest("hex")}`);

  const end = await smtp.command(".");
  expect(end.code).toBe(250);
  expect((await smtp.command("QUIT")).code).toBe(221);
  const [msg] = await mail.waitForMessages(1);
  const text = Buffer.from(msg.data).toString();
  for (let n = 1; n <= 10; n++) expect(text).toContain(`line ${n} of the message, sent after reload ${n}\r\n`);

  const back = await bulk.finish();
  expect(back.length).toBe(data.length);
  expect(createHash("sha256").update(back).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
  socket.close();
  expect(plb.log()).not.toMatch(/reload failed/);
}, 120_000);

/** One tcp connection that sends tenth `k` of `data` when asked (with backpressure), then half-closes and collects the echo. */
async function pacedTransfer(port: number, data: Uint8Array) {
  const tenth = data.length / 10;
  const chunks: Uint8Array[] = [];
  let off = 0;
  let until = 0;
  let wake: (() => void) | undefined;
  let closed!: () => void;
  const done = new Promise<void>((r) => (closed = r));
  const pump = (s: { write(b: Uint8Array): number }) => {
    while (off < until) {
      const n = s.write(data.subarray(off, Math.min(off + (1 << 20), until)));
      if (n <= 0) return;
      off += n;
    }
    wake?.();
  };
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: {
      drain: pump,
      data: (_s, b) => void chunks.push(b),
      end: (s) => void s.end(),
      close: () => closed(),
    },
  });
  return {
    /** Send tenth `k` and wait until it is written. */
    async send(k: number) {
      until = (k + 1) * tenth;
      pump(sock);
      while (off < until) await new Promise<void>((r) => (wake = r));
    },
    async finish() {
      sock.shutdown();
      await done;
      return Buffer.concat(chunks);
    },
  };
}
