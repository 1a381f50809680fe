/**
 * The TLS load generator of bench/tls.ts, run as its own process (two of
 * them, on both CPUs): `conns` loops, each opening a TLS connection to
 * 127.0.0.1:PORT, sending one HTTP/1.1 request with "Connection: close",
 * reading the answer until the balancer closes, and starting over, for
 * `seconds`. Prints one JSON line: connections done, how many had their
 * session resumed, how many got no "200" answer, and this process's CPU.
 *
 *   bun bench/tls-client.ts PORT 1.2|1.3 full|resume CONNS SECONDS
 *
 * Full handshakes go through Bun.connect (BoringSSL, no session cache: every
 * handshake is a full one, and at ~0.3 ms of CPU each the cheapest client
 * at hand: `openssl s_time` spends ~1.3 ms per handshake, h2load resumes by
 * itself and cannot pin the version). Resumed ones through node:tls, whose
 * `session` option offers the session each loop received last (TLS 1.3
 * tickets may be single-use: a loop offers the newest it got).
 */
import { connect as tlsConnect } from "node:tls";

const [port, version, mode, conns, seconds] = [Number(process.argv[2]), process.argv[3], process.argv[4], Number(process.argv[5]), Number(process.argv[6])];
if (!(port > 0) || !["1.2", "1.3"].includes(version) || !["full", "resume"].includes(mode) || !(conns >= 1) || !(seconds > 0)) {
  console.error("usage: bun bench/tls-client.ts PORT 1.2|1.3 full|resume CONNS SECONDS");
  process.exit(2);
}
const REQUEST = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
const OK = /^HTTP\/1\.[01] 200 /;
const deadline = performance.now() + seconds * 1000;
let done = 0;
let resumed = 0;
let failed = 0;
const errors = new Map<string, number>();
const note = (e: unknown) => {
  const k = String((e as Error)?.message ?? e).slice(0, 80);
  errors.set(k, (errors.get(k) ?? 0) + 1);
};

/** One connection through Bun.connect: a full handshake. */
function full(): Promise<void> {
  return new Promise((resolve) => {
    let head = "";
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      done++;
      if (!ok) failed++;
      resolve();
    };
    const v = version === "1.2" ? 771 : 772;
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      tls: { rejectUnauthorized: false, serverName: "localhost", minVersion: v, maxVersion: v } as Bun.TLSOptions,
      socket: {
        handshake(s, ok) {
          if (ok) s.write(REQUEST);
          else {
            note("handshake failed");
            s.end();
          }
        },
        data(_s, d) {
          if (head.length < 16) head += d.toString("latin1");
        },
        close() {
          finish(OK.test(head));
        },
        error(_s, e) {
          note(e);
        },
        connectError(_s, e) {
          note(e);
          finish(false);
        },
      },
    }).catch(() => finish(false));
  });
}

/** One connection through node:tls offering `session`; returns the newest session the server sent. */
function resume(session: Buffer | undefined): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let head = "";
    let latest = session;
    const v = version === "1.2" ? "TLSv1.2" : "TLSv1.3";
    const s = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", rejectUnauthorized: false, minVersion: v, maxVersion: v, session });
    s.on("session", (x: Buffer) => {
      latest = x;
    });
    s.on("secureConnect", () => {
      if (s.isSessionReused()) resumed++;
      s.write(REQUEST);
    });
    s.on("data", (d: Buffer) => {
      if (head.length < 16) head += d.toString("latin1");
    });
    s.on("error", note);
    s.on("close", () => {
      done++;
      if (!OK.test(head)) failed++;
      resolve(latest);
    });
  });
}

const c0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(
  Array.from({ length: conns }, async () => {
    let session: Buffer | undefined;
    while (performance.now() < deadline) {
      if (mode === "full") await full();
      else session = await resume(session);
    }
  }),
);
const cpu = process.cpuUsage(c0);
console.log(
  JSON.stringify({
    done,
    resumed,
    failed,
    seconds: (performance.now() - t0) / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    errors: Object.fromEntries(errors),
  }),
);
