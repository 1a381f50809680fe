/**
 * http checks keep their connection (health.reuse, on by default): a server
 * checked many times sees one connection; a server that closes idle
 * connections between checks is never taken for down (the check connects
 * afresh within the same check); `reuse = false` opens one connection per
 * check with `Connection: close`; a server removed by a reload has its
 * kept check connection closed.
 */
import { afterEach, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import { freePorts } from "../../support/ports.ts";
import { startPlbFile, writeConfig } from "../../support/plb.ts";
import { reloadWith } from "../../support/reload.ts";
import { until } from "../../support/until.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const INTERVAL = 200;
/** Generous: a busy two-core machine delays timers and process start. */
const WAIT = 10_000;

interface CheckServer {
  readonly port: number;
  /** Connections accepted, open now, and check requests answered. */
  connections: number;
  open: number;
  checks: number;
  /** Requests that asked for Connection: close. */
  closing: number;
}

/**
 * A tiny HTTP/1.1 server that answers 200 "ok" and keeps the connection;
 * or closes it `closeAfterMs` after each answer; or, with `oncePerConnection`,
 * closes without an answer when a second request comes on a connection
 * (what a server whose idle timeout fires as the request arrives does).
 */
function checkServer(closeAfterMs?: number, oncePerConnection = false): CheckServer {
  const st = { connections: 0, open: 0, checks: 0, closing: 0 } as CheckServer & { port: number };
  const l: TCPSocketListener<{ buf: string; served: number }> = Bun.listen<{ buf: string; served: number }>({
    hostname: "127.0.0.1",
    port: 0,
    data: { buf: "", served: 0 },
    socket: {
      open(s) {
        s.data = { buf: "", served: 0 };
        st.connections++;
        st.open++;
      },
      data(s, d) {
        s.data.buf += d.toString();
        for (let end = s.data.buf.indexOf("\r\n\r\n"); end >= 0; end = s.data.buf.indexOf("\r\n\r\n")) {
          const head = s.data.buf.slice(0, end);
          s.data.buf = s.data.buf.slice(end + 4);
          if (oncePerConnection && s.data.served++ > 0) return void s.end();
          st.checks++;
          if (/\r\nconnection: close/i.test(head)) {
            st.closing++;
            s.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            return;
          }
          s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
          if (closeAfterMs !== undefined) setTimeout(() => s.end(), closeAfterMs);
        }
      },
      close() {
        st.open--;
      },
      error() {},
    },
  });
  cleanup.push(() => l.stop(true));
  Object.defineProperty(st, "port", { value: l.port });
  return st;
}

const config = (port: number, statsPort: number, servers: CheckServer[], health: string) => `
[stats]
listen = "127.0.0.1:${statsPort}"
[[service]]
name = "api"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = [${servers.map((s) => `"127.0.0.1:${s.port}"`).join(", ")}]
health = { path = "/healthz", interval = "${INTERVAL}ms", timeout = "150ms", fall = 1${health} }
`;

async function failures(statsPort: number): Promise<number[]> {
  const j = (await (await fetch(`http://127.0.0.1:${statsPort}/status.json`)).json()) as { backends: { servers: { check_failures: number }[] }[] };
  return j.backends[0].servers.map((s) => s.check_failures);
}

test("by default a server checked many times sees one connection, kept open between checks", async () => {
  const a = checkServer();
  const [port, statsPort] = await freePorts(2);
  const plb = await startPlbFile(writeConfig(config(port, statsPort, [a], "")));
  cleanup.push(() => plb.stop());
  await until(() => a.checks >= 8, "eight checks", WAIT);
  expect(a.connections).toBe(1);
  expect(a.open).toBe(1);
  expect(a.closing).toBe(0);
  expect(await failures(statsPort)).toEqual([0]);
  await plb.stop();
  await until(() => a.open === 0, "the kept connection closed when plb stops", WAIT);
});

test("a server that closes idle connections between checks is never taken for down: the check connects again at once", async () => {
  const a = checkServer(20);
  const [port, statsPort] = await freePorts(2);
  const plb = await startPlbFile(writeConfig(config(port, statsPort, [a], "")));
  cleanup.push(() => plb.stop());
  await until(() => a.checks >= 8, "eight checks", WAIT);
  expect(a.connections).toBeGreaterThanOrEqual(8);
  expect(await failures(statsPort)).toEqual([0]);
  expect(plb.log()).not.toMatch(/is down/);
});

test("a kept connection the server closes as the check's request arrives costs a fresh connect within the same check, not a failure", async () => {
  const a = checkServer(undefined, true);
  const [port, statsPort] = await freePorts(2);
  const plb = await startPlbFile(writeConfig(config(port, statsPort, [a], "")));
  cleanup.push(() => plb.stop());
  await until(() => a.checks >= 6, "six checks", WAIT);
  // every check after the first met a closed kept connection, then connected again
  expect(a.connections).toBeGreaterThanOrEqual(6);
  expect(await failures(statsPort)).toEqual([0]);
  expect(plb.log()).not.toMatch(/is down/);
});

test("reuse = false: one connection per check, each asking to close", async () => {
  const a = checkServer();
  const [port, statsPort] = await freePorts(2);
  const plb = await startPlbFile(writeConfig(config(port, statsPort, [a], ", reuse = false")));
  cleanup.push(() => plb.stop());
  await until(() => a.checks >= 5, "five checks", WAIT);
  expect(a.closing).toBe(a.checks);
  expect(a.connections).toBe(a.checks);
  expect(await failures(statsPort)).toEqual([0]);
});

test("a server removed by a reload has its kept check connection closed; the one that stays is still checked over one connection", async () => {
  const a = checkServer();
  const b = checkServer();
  const [port, statsPort] = await freePorts(2);
  const file = writeConfig(config(port, statsPort, [a, b], ""));
  const plb = await startPlbFile(file);
  cleanup.push(() => plb.stop());
  await until(() => a.checks >= 3 && b.checks >= 3, "three checks of each", WAIT);
  expect([a.open, b.open]).toEqual([1, 1]);
  expect(await reloadWith(plb, file, config(port, statsPort, [a], ""))).toMatch(/reload: /);
  await until(() => b.open === 0, "B's check connection closed", WAIT);
  const before = a.checks;
  await until(() => a.checks >= before + 3, "A still checked", WAIT);
  expect(a.open).toBe(1);
});
