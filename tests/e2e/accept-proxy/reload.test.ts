/**
 * accept_proxy and proxy_from change with a reload for new connections
 * only: a kept-alive client accepted before keeps being served as it was,
 * and a bad range fails the reload with its line while the old settings stay.
 */
import { afterEach, expect, test } from "bun:test";
import { httpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlbFile, writeConfig } from "../../support/plb.ts";
import { RawClient } from "../../support/raw-client.ts";
import { reloadWith } from "../../support/reload.ts";
import { proxyV1, RawSmtp } from "../../support/smtp/clients.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const REQUEST = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/** One request on a new connection from `source` after `prefix`: its body, or "" when plb closed without an answer. */
async function ask(port: number, prefix: string, source = "127.0.0.1"): Promise<string> {
  const c = await RawSmtp.connect(port, { source, prefix });
  c.write(REQUEST.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"));
  const text = (await c.untilClosed()).toString("latin1");
  return text === "" ? "" : text.slice(text.indexOf("\r\n\r\n") + 4);
}

test("a reload turns accept_proxy on and changes proxy_from for new connections; a client accepted before is served as before; a bad range keeps the old settings", async () => {
  const web = await httpBackend("web", (req, res) => res.end(`xff=${req.headers["x-forwarded-for"]}`));
  cleanup.push(() => web.close());
  const [port] = await freePorts(1);
  const toml = (extra: string) => `[[service]]\nname = "web"\nprotocol = "http"\nlisten = ["127.0.0.1:${port}"]\nservers = ["127.0.0.1:${web.port}"]\n${extra}`;
  const file = writeConfig(toml(""));
  const plb = await startPlbFile(file);
  cleanup.push(() => plb.stop());

  const kept = await RawClient.open(port);
  cleanup.push(() => kept.close());
  kept.write(REQUEST);
  expect(await kept.until(() => kept.responses.length === 1, 5000)).toBe(true);
  expect(kept.responses[0].body).toBe("xff=127.0.0.1");

  expect(await reloadWith(plb, file, toml('accept_proxy = true\nproxy_from = ["127.0.0.1"]\n'))).toContain("reload: ");
  kept.write(REQUEST); // the session started without a header: it is not asked for one now
  expect(await kept.until(() => kept.responses.length === 2, 5000)).toBe(true);
  expect(kept.responses[1].body).toBe("xff=127.0.0.1");
  expect(await ask(port, "")).toBe("");
  expect(await ask(port, proxyV1("192.0.2.1", 1, "127.0.0.1", port))).toBe("xff=192.0.2.1");

  expect(await reloadWith(plb, file, toml('accept_proxy = true\nproxy_from = ["127.0.0.2"]\n'))).toContain("reload: ");
  expect(await ask(port, proxyV1("192.0.2.2", 1, "127.0.0.1", port))).toBe("");
  expect(await ask(port, proxyV1("192.0.2.3", 1, "127.0.0.1", port), "127.0.0.2")).toBe("xff=192.0.2.3");

  const failed = await reloadWith(plb, file, toml('accept_proxy = true\nproxy_from = ["127.0.0.2/8"]\n'));
  expect(failed).toContain("reload failed");
  expect(plb.log()).toContain('plb.toml:7: service "web": proxy_from[0]: "127.0.0.2/8" has bits set past its /8 prefix (the range is 127.0.0.0/8');
  expect(await ask(port, proxyV1("192.0.2.4", 1, "127.0.0.1", port), "127.0.0.2")).toBe("xff=192.0.2.4");
  expect(await ask(port, proxyV1("192.0.2.5", 1, "127.0.0.1", port))).toBe("");

  expect(kept.closed).toBe(false);
});
