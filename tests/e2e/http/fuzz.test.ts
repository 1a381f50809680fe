/**
 * Fuzzing plb's HTTP mode end to end: 100,000 random mutations of valid
 * requests (deterministic seed) go through ONE plb to a recording backend
 * (tests/support/recording-backend.ts), and:
 * - plb never crashes: it still answers at the end, its process is alive and
 *   its log has no "unexpected error";
 * - plb never hangs: every batch on a connection ends with its responses or
 *   a close within a deadline;
 * - everything that reached the backend reads, with an independent strict
 *   reader (tests/support/strict-http.ts, no code shared with src/http/), as
 *   well-formed, unambiguous requests: at most one framing field, a valid
 *   Host, no bare CR/LF, no NUL, plb's forwarding fields in place; and a
 *   connection the backend still has open holds no half-read request;
 * - the backend saw exactly as many requests as clients got backend answers
 *   (no smuggled request reached it), and for each mutation the strict reader
 *   calls one valid request, the backend saw the same request (method, target,
 *   version, framing, body bytes, end-to-end fields: compared by a digest the
 *   backend sends back in X-Digest).
 *
 * Throughput: mutations the strict reader calls valid are pipelined in
 * batches on keep-alive connections; any other mutation ends its connection's
 * stream (plb closes after an error): it is written last, followed by a FIN
 * (or, when its head is complete and its body is not, a reset: plb rightly
 * waits for the rest of a body). A batch cut short by an error is resumed on
 * a new connection, so every mutation is fed to plb exactly once as written.
 * Workers run in parallel, each over a fixed slice of the mutations (about
 * 7 s for all 100,000 on a 2-core machine).
 *
 * Two plb bugs are worked around so that this test stays a regression net,
 * each shown by a `BUG:` test: a forwarded Host with a bogus IP literal is
 * counted (KNOWN_BUGS) instead of failing the run, and a connection is only
 * reset once plb has answered on it (a reset before plb accepts the
 * connection makes it log "unexpected error"). A third (pipelined requests
 * dropped after a client's FIN) is avoided by sending the FIN only once the
 * earlier answers are in.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { freePort } from "../../support/ports.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { RawClient } from "../../support/raw-client.ts";
import { type RecordingBackend, recordingBackend, type Violation } from "../../support/recording-backend.ts";
import { parseStrictRequest, show, type StrictRequest } from "../../support/strict-http.ts";
import { rng } from "../../../fuzz/rng.ts";

const SEED = 0x5eed_2024;
const COUNT = 100_000;
const WORKERS = 48;
const BATCH = 16;
/** A batch that has neither its answers nor a close by then is a hang. */
const DEADLINE_MS = 8000;

const TEMPLATES = [
  "GET /index.html?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: fuzz/1.0\r\nAccept: */*\r\n\r\n",
  "POST /form HTTP/1.1\r\nHost: example.com:8080\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\na=1&b=2&c=3",
  "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=v\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n",
  "GET http://h.example/abs?q HTTP/1.1\r\nHost: h.example\r\nAccept-Encoding: gzip\r\n\r\n",
  "GET /old HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
  "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
  "DELETE /x/1 HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: X-Hop\r\nX-Hop: 1\r\nTE: trailers\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
  "POST /empty HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
  'HEAD /h HTTP/1.1\r\nHost: h\r\nIf-None-Match: "abc"\r\n\r\n',
  "PATCH /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n",
];

const CL_VALUES = ["0", "1", "5", "11", "26", "+11", "-1", "011", "11, 11", "1,1", "0x0b", "99999999999999999999", " 11", "11 ", "", "1 1", "abc", "4294967307"];
const TE_VALUES = ["chunked", "CHUNKED", "xchunked", "chunked, identity", "identity, chunked", "gzip, chunked", "chunked, chunked", "\tchunked", " chunked ", ", chunked", "chunked;a=b", '"chunked"', "chunk", "identity", "gzip"];
const TE_NAMES = ["Transfer-Encoding", "transfer-encoding", "Transfer-Encoding ", "Transfer_Encoding", " Transfer-Encoding", "Transfer-Encoding\t"];
const INSERTS = ["\r", "\n", "\0", " ", "\t", ":", ",", "\r\n", "\r\n ", ";", "\x0b", "\x7f", "\xff", "=", '"'];
const VERSIONS = ["HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0", "HTTP/1.", "http/1.1", "HTTP/1.1 ", "HTTP/11"];
const SMUGGLED = ["GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n", "GET /smuggled HTTP/1.1\r\n\r\n", "0\r\n\r\n", "\r\n", "G"];

/** Mutates a request (latin1 string) once. */
function mutateOnce(s: string, r: () => number): string {
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)];
  const at = (n = s.length) => Math.floor(r() * (n + 1));
  const headEnd = s.indexOf("\r\n\r\n") >= 0 ? s.indexOf("\r\n\r\n") + 2 : s.length;
  const lines = () => {
    const out: [number, number][] = [];
    let p = s.indexOf("\r\n") + 2;
    while (p > 1 && p < headEnd) {
      const e = s.indexOf("\r\n", p);
      if (e < 0 || e >= headEnd + 1 || e === p) break;
      out.push([p, e + 2]);
      p = e + 2;
    }
    return out;
  };
  switch (Math.floor(r() * 16)) {
    case 0: {
      // flip a bit
      const i = Math.floor(r() * s.length);
      return s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ (1 << Math.floor(r() * 8))) + s.slice(i + 1);
    }
    case 1: {
      // replace a byte
      const i = Math.floor(r() * s.length);
      return s.slice(0, i) + String.fromCharCode(Math.floor(r() * 256)) + s.slice(i + 1);
    }
    case 2:
    case 3: {
      // insert CR, LF, NUL, SP, HTAB, colon, comma, ...
      const i = at();
      return s.slice(0, i) + pick(INSERTS) + s.slice(i);
    }
    case 4: {
      // delete 1-3 bytes
      const i = Math.floor(r() * s.length);
      return s.slice(0, i) + s.slice(i + 1 + Math.floor(r() * 3));
    }
    case 5: {
      // duplicate a header line
      const ls = lines();
      if (ls.length === 0) return s;
      const [a, b] = pick(ls);
      return s.slice(0, b) + s.slice(a, b) + s.slice(b);
    }
    case 6: {
      // truncate
      return s.slice(0, 1 + Math.floor(r() * (s.length - 1)));
    }
    case 7: {
      // Content-Length: replace the value, add a line, or remove it
      const m = /\r\nContent-Length: ?([^\r\n]*)\r\n/i.exec(s);
      const v = r() < 0.3 ? String(Math.floor(r() * 40)) : pick(CL_VALUES);
      if (m && r() < 0.5) return s.slice(0, m.index) + `\r\nContent-Length: ${v}\r\n` + s.slice(m.index + m[0].length);
      if (m && r() < 0.3) return s.slice(0, m.index) + "\r\n" + s.slice(m.index + m[0].length);
      return s.slice(0, headEnd) + `Content-Length: ${v}\r\n` + s.slice(headEnd);
    }
    case 8: {
      // Transfer-Encoding: replace, add (under an odd name or not), or remove
      const m = /\r\nTransfer-Encoding: ?([^\r\n]*)\r\n/i.exec(s);
      const line = `${r() < 0.7 ? "Transfer-Encoding" : pick(TE_NAMES)}:${r() < 0.8 ? " " : ""}${pick(TE_VALUES)}\r\n`;
      if (m && r() < 0.5) return s.slice(0, m.index) + "\r\n" + line + s.slice(m.index + m[0].length);
      if (m && r() < 0.3) return s.slice(0, m.index) + "\r\n" + s.slice(m.index + m[0].length);
      return s.slice(0, headEnd) + line + s.slice(headEnd);
    }
    case 9: {
      // one line ending becomes LF, CR, CR CR LF or LF CR
      const ends: number[] = [];
      for (let i = s.indexOf("\r\n"); i >= 0 && i < headEnd + 2; i = s.indexOf("\r\n", i + 1)) ends.push(i);
      if (ends.length === 0) return s;
      const i = pick(ends);
      return s.slice(0, i) + pick(["\n", "\r", "\r\r\n", "\n\r", "\r\n\r\n"]) + s.slice(i + 2);
    }
    case 10: {
      // obs-fold inside a header line
      const ls = lines();
      if (ls.length === 0) return s;
      const [a, b] = pick(ls);
      const i = a + 1 + Math.floor(r() * (b - a - 3));
      return s.slice(0, i) + pick(["\r\n ", "\r\n\t"]) + s.slice(i);
    }
    case 11: {
      // Host: remove, duplicate with another value, or an odd value
      const m = /\r\nHost: ?([^\r\n]*)\r\n/i.exec(s);
      const v = pick(["h", "evil", "h, evil", "h evil", "", "h:99999", "[::1", "u@h", "h%20", "h:80:80", "example.com"]);
      if (!m) return s.slice(0, headEnd) + `Host: ${v}\r\n` + s.slice(headEnd);
      const x = r();
      if (x < 0.3) return s.slice(0, m.index) + "\r\n" + s.slice(m.index + m[0].length);
      if (x < 0.6) return s.slice(0, headEnd) + `Host: ${v}\r\n` + s.slice(headEnd);
      return s.slice(0, m.index) + `\r\nHost: ${v}\r\n` + s.slice(m.index + m[0].length);
    }
    case 12: {
      // the version
      const i = s.indexOf("HTTP/1.");
      if (i < 0) return s;
      return s.slice(0, i) + pick(VERSIONS) + s.slice(i + 8);
    }
    case 13: {
      // flip the case of a letter, or a space before a colon
      const i = Math.floor(r() * s.length);
      const c = s.charCodeAt(i);
      if (r() < 0.5 && /[A-Za-z]/.test(s[i])) return s.slice(0, i) + String.fromCharCode(c ^ 0x20) + s.slice(i + 1);
      const colon = s.indexOf(":", Math.floor(r() * headEnd));
      if (colon < 0 || colon >= headEnd) return s;
      return s.slice(0, colon) + pick([" ", "\t"]) + s.slice(colon);
    }
    case 14: {
      // a chunk size or extension changes
      if (headEnd >= s.length) return s;
      const body = s.slice(headEnd + 2);
      const m = /(^|\r\n)([0-9a-fA-F]+)(;[^\r\n]*)?\r\n/.exec(body);
      if (!m) return s;
      const size = pick(["0", "1", "4", "5", "6", "ff", "FFFFFFFFFFFFFFFFF", "-1", "0x5", " 5", "5 ", "5;", "5;a", '5;a="b', "5;a=b c", `5;${"x".repeat(1100)}`]);
      const start = headEnd + 2 + m.index + m[1].length;
      return s.slice(0, start) + size + s.slice(start + m[2].length + (m[3]?.length ?? 0));
    }
    default: {
      // something after the message: a second request, or a fragment of one
      return s + pick(SMUGGLED);
    }
  }
}

/**
 * Violations that are a known plb bug, each shown by a `BUG:` test: counted and
 * reported by the fuzz test, not failed (so that any other violation stands out).
 */
const KNOWN_BUGS: { name: string; matches: (v: Violation) => boolean }[] = [];

type Kind = "valid" | "other" | "headless" | "bodyless";

interface Mutation {
  bytes: Uint8Array;
  kind: Kind;
  /** HEAD: its answer has no body. */
  head: boolean;
  /** For "valid": the digest of the request as the strict reader sees it. */
  digest?: string;
  /** For "valid": the connection ends after it (HTTP/1.0 without keep-alive, or Connection: close). */
  closes?: boolean;
}

function fnv(data: Uint8Array | string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ (typeof data === "string" ? data.charCodeAt(i) & 0xff : data[i]), 0x01000193) >>> 0;
  return h.toString(16);
}

/** Fields plb may drop, rewrite or add (hop-by-hop and its own forwarding fields). */
const NOT_END_TO_END = new Set(["connection", "keep-alive", "proxy-connection", "te", "upgrade", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"]);

/** What must survive the trip through plb: request line, framing, body as framed, end-to-end fields in order. */
function digest(req: StrictRequest): string {
  const named = new Set(
    req.fields
      .filter((f) => f.lower === "connection")
      .flatMap((f) => f.value.split(","))
      .map((o) => o.trim().toLowerCase()),
  );
  const kept = req.fields
    .filter((f) => !NOT_END_TO_END.has(f.lower) && !named.has(f.lower))
    .map((f) => `${f.name}:${f.value}`)
    .join("\n");
  return `${req.method}_${fnv(req.target)}_${req.version}_${req.framing}_${req.body.length}_${fnv(req.body)}_${fnv(kept)}`;
}

/** plb's forwarding contract, beyond well-formedness (which the strict reader checks). */
function contract(req: StrictRequest): string | undefined {
  const all = (n: string) => req.fields.filter((f) => f.lower === n);
  for (const n of ["keep-alive", "proxy-connection", "te"]) if (all(n).length > 0) return `hop-by-hop field ${n} forwarded`;
  for (const f of all("connection"))
    for (const o of f.value.split(",").map((x) => x.trim().toLowerCase()))
      if (o === "content-length" || o === "transfer-encoding" || o === "host") return `Connection names ${o}`;
  const xff = all("x-forwarded-for");
  if (xff.length !== 1 || !/(^|, )127\.0\.0\.1$/.test(xff[0].value)) return `X-Forwarded-For ${JSON.stringify(xff.map((f) => f.value))}`;
  const xfp = all("x-forwarded-proto");
  if (xfp.length !== 1 || xfp[0].value !== "http") return `X-Forwarded-Proto ${JSON.stringify(xfp.map((f) => f.value))}`;
  const xfh = all("x-forwarded-host");
  if (req.host !== undefined && (xfh.length !== 1 || xfh[0].value !== req.host)) return `X-Forwarded-Host ${JSON.stringify(xfh.map((f) => f.value))} for Host ${req.host}`;
  if (xfh.length > 1) return "several X-Forwarded-Host";
  return undefined;
}

function mutation(s: string): Mutation {
  const bytes = Uint8Array.from(s, (c) => c.charCodeAt(0));
  const p = parseStrictRequest(bytes);
  let kind: Kind = "other";
  let dg: string | undefined;
  let closes = false;
  if (p.kind === "request" && p.request.length === bytes.length && p.request.method !== "CONNECT") {
    kind = "valid";
    dg = digest(p.request);
    const options = p.request.fields.filter((f) => f.lower === "connection").flatMap((f) => f.value.toLowerCase().split(",").map((o) => o.trim()));
    closes = options.includes("close") || (p.request.version === "1.0" && !options.includes("keep-alive"));
  } else if (p.kind === "more") kind = p.headComplete ? "bodyless" : "headless";
  return { bytes, kind, head: /^(\r\n)?HEAD /.test(s), digest: dg, closes };
}

const WARMUP = "GET /warm-up HTTP/1.1\r\nHost: h\r\n\r\n";

function generate(count: number, seed: number): Mutation[] {
  const r = rng(seed);
  const out: Mutation[] = [];
  for (let n = 0; n < count; n++) {
    let s = TEMPLATES[Math.floor(r() * TEMPLATES.length)];
    const x = r();
    const ops = x < 0.6 ? 1 : x < 0.9 ? 2 : 3;
    for (let k = 0; k < ops; k++) s = mutateOnce(s, r);
    out.push(mutation(s.length === 0 ? "G" : s));
  }
  return out;
}

describe(`fuzz: ${COUNT} mutated requests through one plb`, () => {
  let backend: RecordingBackend;
  let plb: PlbProcess;
  let port: number;
  const known: Record<string, Violation[]> = {};

  beforeAll(async () => {
    backend = recordingBackend({
      respond: (req) => {
        const h = `HTTP/1.1 200 OK\r\nX-Digest: ${digest(req)}\r\nContent-Length: 2\r\n\r\n`;
        return req.method === "HEAD" ? h : `${h}ok`;
      },
      check: contract,
    });
    port = await freePort();
    // timeouts generous: the machine may be busy (CI); none of these requests should meet one.
    plb = await startPlb(`
timeout_client = "5s"
timeout_server = "6s"
server_retry = 1000
[[service]]
name = "fuzz"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${backend.port}"]
pool_max_idle = 64
`);
  });
  afterAll(async () => {
    await plb?.stop();
    backend?.stop();
  });

  test(
    `${COUNT} mutations (seed 0x${SEED.toString(16)}): plb never crashes or hangs, and forwards only well-formed, unambiguous requests`,
    async () => {
      const t0 = Date.now();
      const muts = generate(COUNT, SEED);
      const tGen = Date.now() - t0;
      const kinds: Record<string, number> = {};
      for (const m of muts) kinds[m.kind] = (kinds[m.kind] ?? 0) + 1;

      const statuses: Record<number, number> = {};
      const problems: string[] = [];
      const note = (what: string, m: Mutation, c?: RawClient) => {
        if (problems.length < 20) problems.push(`${what}: sent ${show(m.bytes)}${c ? `, got ${show(c.text.slice(-400))}` : ""}`);
        else problems.push(what);
      };
      let fed = 0, connections = 0, answered = 0, validAccepted = 0, validRejected = 0;

      async function worker(w: number): Promise<void> {
        const mine: Mutation[] = [];
        for (let i = w; i < muts.length; i += WORKERS) mine.push(muts[i]);
        let pos = 0;
        let c: RawClient | undefined;
        while (pos < mine.length) {
          if (c === undefined || c.closed) {
            c?.close();
            c = await RawClient.open(port);
            connections++;
          }
          const client = c;
          const batch: Mutation[] = [];
          while (batch.length < BATCH && pos + batch.length < mine.length) {
            const m = mine[pos + batch.length];
            batch.push(m);
            if (m.kind !== "valid" || m.closes) break;
          }
          const last = batch[batch.length - 1];
          const final = last.kind !== "valid" || last.closes === true;
          if (last.kind === "bodyless" && batch.length === 1 && client.responses.length === 0) {
            // This connection will be reset right after its bytes: make sure plb has accepted it first
            // (a connection reset before plb accepts it hits the bug tested below).
            client.write(WARMUP);
            if (!(await client.until(() => client.closed || client.responses.length >= 1, DEADLINE_MS))) note("hang on a warm-up request", mutation(WARMUP), client);
            for (const res of client.responses) statuses[res.status] = (statuses[res.status] ?? 0) + 1;
            answered += client.responses.filter((res) => res.status === 200).length;
            if (client.closed) continue;
          }
          const r0 = client.responses.length;
          batch.forEach((m, k) => m.head && client.noBody.add(r0 + k));
          const data = new Uint8Array(batch.reduce((n, m) => n + m.bytes.length, 0));
          batch.reduce((o, m) => (data.set(m.bytes, o), o + m.bytes.length), 0);
          client.write(data);
          let inTime: boolean;
          if (last.kind === "valid") {
            inTime = await client.until(() => client.closed || client.responses.length >= r0 + batch.length, DEADLINE_MS);
            // plb closes after a request that asks for it.
            if (final) inTime = inTime && (await client.until(() => client.closed, DEADLINE_MS));
          } else if (last.kind === "bodyless") {
            // plb rightly waits for the rest of that body: take the answers before it, then reset.
            inTime = await client.until(() => client.closed || client.responses.length >= r0 + batch.length - 1, DEADLINE_MS);
            client.terminate();
          } else {
            // The FIN only once the answers before the last mutation are in: plb drops pipelined
            // requests still unanswered when the client half-closes (a bug tested in smuggling.test.ts).
            inTime = await client.until(() => client.closed || client.responses.length >= r0 + batch.length - 1, DEADLINE_MS);
            client.end();
            inTime = inTime && (await client.until(() => client.closed, DEADLINE_MS));
          }
          if (!inTime) {
            note(`hang (no answer or close within ${DEADLINE_MS} ms)`, last, client);
            client.terminate();
          }
          if (client.error !== undefined) note(`unreadable answer (${client.error})`, last, client);

          const got = client.responses.slice(r0);
          for (const res of got) {
            statuses[res.status] = (statuses[res.status] ?? 0) + 1;
            if (res.status !== 200) continue;
            answered++;
            if (!res.fields.some((f) => f.lower === "x-digest")) note("a 200 without X-Digest (not the backend's answer)", last, client);
          }
          // The answered mutations, then the one an error answer (or a silent close) stopped at.
          let k = 0;
          for (; k < got.length && k < batch.length && got[k].status === 200; k++) {
            const m = batch[k];
            if (m.kind !== "valid") continue;
            validAccepted++;
            const d = got[k].fields.find((f) => f.lower === "x-digest")?.value;
            if (d !== m.digest) note(`the backend saw another request (digest ${d}, sent ${m.digest})`, m, client);
          }
          if (k < got.length && k < batch.length) {
            if (batch[k].kind === "valid") validRejected++;
            if (got.length > k + 1) note("answers after an error answer", batch[k], client);
            if (!client.closed && !(await client.until(() => client.closed, 2000))) note("no close after an error answer", batch[k], client);
          } else if (got.length > batch.length && !final) note(`${got.length} answers to ${batch.length} requests`, last, client);
          if (k === got.length && k < batch.length && client.closed && inTime && !(final && k === batch.length - 1))
            note("connection closed without an answer to a valid request", batch[k], client);
          const processed = inTime ? Math.min(batch.length, k + 1) : batch.length;
          fed += processed;
          pos += processed;
          if (final || client.closed) {
            client.close();
            c = undefined;
          }
        }
        c?.close();
      }

      await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
      const tRun = Date.now() - t0 - tGen;

      // Server connections plb aborted must be closed; open ones hold no half-read request.
      const settle = Date.now() + 3000;
      while (Date.now() < settle && backend.conns.some((x) => !x.closed && x.pending.length > 0)) await Bun.sleep(20);
      const halfRead = backend.conns.filter((x) => !x.closed && x.pending.length > 0);

      const backendRequests = backend.requestCount();
      // Still alive and answering.
      const probe = await RawClient.open(port);
      probe.write("GET /alive HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
      await probe.until(() => probe.closed, 5000);

      console.log(
        `fuzz: ${COUNT} mutations generated in ${tGen} ms, fed in ${tRun} ms over ${connections} connections by ${WORKERS} workers; ` +
          `kinds ${JSON.stringify(kinds)}; answers ${JSON.stringify(statuses)}; valid accepted ${validAccepted}, rejected ${validRejected}; ` +
          `backend: ${backend.requestCount()} requests on ${backend.connectionCount()} connections`,
      );

      for (const v of backend.violations) for (const k of KNOWN_BUGS) if (k.matches(v)) (known[k.name] ??= []).push(v);
      for (const [name, vs] of Object.entries(known)) console.log(`fuzz: known bug "${name}": ${vs.length} times, e.g. ${vs[0].bytes}`);
      expect(problems).toEqual([]);
      // plb's own answers to malformed requests, and backend answers; a 502 only where the backend refused a known-bug request.
      expect(Object.keys(statuses).filter((st) => !["200", "400", "414", "431", "501", "505", "502"].includes(st))).toEqual([]);
      expect(statuses[502] ?? 0).toBeLessThanOrEqual(Object.values(known).reduce((n, vs) => n + vs.length, 0));
      expect(backend.violations.filter((v) => !KNOWN_BUGS.some((k) => k.matches(v))).slice(0, 10)).toEqual([]);
      expect(halfRead.map((x) => show(x.pending))).toEqual([]);
      expect(fed).toBe(COUNT);
      expect(backendRequests).toBe(answered);
      expect(probe.responses.map((r) => r.status)).toEqual([200]);
      expect(plb.proc.exitCode).toBeNull();
      expect(plb.log()).not.toMatch(/unexpected (error|rejection)|TypeError|RangeError|ReferenceError/);
      expect(tRun).toBeLessThan(50_000);
    },
    60_000,
  );

  test("no request with a Host IP literal that is no IPv6 address (e.g. Host: [1]:8080) was forwarded", () => {
    expect(Object.values(known).flat()).toEqual([]);
  });
});

describe("clients that reset their connection at once", () => {
  test(
    "connections reset right after connecting never make plb log an unexpected error (the address of such a socket is undefined)",
    async () => {
      const backend = recordingBackend();
      const port = await freePort();
      const plb = await startPlb(`
[[service]]
name = "rst"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${backend.port}"]
`);
      try {
        for (let round = 0; round < 10; round++)
          await Promise.all(
            Array.from({ length: 50 }, async () => {
              const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, error() {} } });
              s.write("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
              s.terminate();
            }),
          );
        await Bun.sleep(200);
        const probe = await RawClient.open(port);
        probe.write("GET /alive HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        await probe.until(() => probe.closed, 5000);
        expect(probe.responses.map((r) => r.status)).toEqual([200]);
        expect(plb.log()).not.toMatch(/unexpected (error|rejection)/);
      } finally {
        plb.proc.kill();
        await plb.exited;
        backend.stop();
      }
    },
    30_000,
  );
});
