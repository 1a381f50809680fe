/**
 * Traffic counters and histograms per service and per server, kept by
 * listening to the lifecycle events (events.ts): sessions, bytes, connect
 * failures by cause, retries, requests without a server, http responses by
 * class, and histograms of connect time, time to first response byte and
 * total time. Server state, weights, open sessions, transitions and the
 * last check are not copied here: they are read from servers/state when
 * rendered (checks run in the master only).
 */
import { events } from "../events.ts";
import { Histogram } from "./histogram.ts";

/** Connect failure causes, as the metrics name them. */
export const FAILURE_CAUSES = ["refused", "timeout", "unreachable", "reset", "bad_greeting", "http_5xx", "tls"] as const;
export type FailureCause = (typeof FAILURE_CAUSES)[number];

export const CODE_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"] as const;

/** Why an accept_proxy listener closed a connection (events.ProxyRefusal). */
export const PROXY_REFUSALS = ["source", "header", "timeout"] as const;
/** The HTTP versions requests are counted by (`plb_http_requests_total{protocol}`); anything else (a malformed head) is not a request of one. */
export const HTTP_VERSIONS = ["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"] as const;

export interface Traffic {
  sessions: number;
  bytesIn: number;
  bytesOut: number;
  readonly connect: Histogram;
  readonly response: Histogram;
  readonly total: Histogram;
}

export interface ServiceTraffic extends Traffic {
  retries: number;
  noServer: number;
  readonly responses: Record<(typeof CODE_CLASSES)[number], number>;
  /** Requests by HTTP version (http). */
  readonly requests: Record<(typeof HTTP_VERSIONS)[number], number>;
  /** Connections an accept_proxy listener closed, by reason. */
  readonly proxyRefused: Record<(typeof PROXY_REFUSALS)[number], number>;
}

export interface ServerTraffic extends Traffic {
  readonly failures: Record<FailureCause, number>;
}

/** A collector's numbers as plain data (a worker's, sent to its master). */
export interface CollectorSnapshot {
  readonly services: readonly [string, unknown][];
  readonly servers: readonly [string, unknown][];
}

type Plain = Record<string, unknown>;

/** Add `from`'s numbers (numbers, histograms, records of numbers) into `to`. */
function addInto(to: Plain, from: Plain): void {
  for (const [k, v] of Object.entries(from)) {
    const cur = to[k];
    if (typeof v === "number" && typeof cur === "number") to[k] = cur + v;
    else if (cur instanceof Histogram) cur.add(v as Histogram);
    else if (cur && typeof cur === "object" && v && typeof v === "object") addInto(cur as Plain, v as Plain);
  }
}

const plain = (t: object): unknown =>
  Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v instanceof Histogram ? { counts: [...v.counts], sum: v.sum, count: v.count } : v]));

const traffic = (): Traffic => ({ sessions: 0, bytesIn: 0, bytesOut: 0, connect: new Histogram(), response: new Histogram(), total: new Histogram() });

/** A server served one session (tcp, smtp) or request (http). */
function served(t: Traffic, bytesIn: number, bytesOut: number, ms: number): void {
  t.sessions++;
  t.bytesIn += bytesIn;
  t.bytesOut += bytesOut;
  t.total.observe(ms / 1000);
}

export class Collector {
  private readonly services = new Map<string, ServiceTraffic>();
  private readonly servers = new Map<string, ServerTraffic>();
  private offs: (() => void)[] = [];

  service(name: string): ServiceTraffic {
    let t = this.services.get(name);
    if (!t) this.services.set(name, (t = { ...traffic(), retries: 0, noServer: 0, responses: { "1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, other: 0 }, requests: { "HTTP/1.0": 0, "HTTP/1.1": 0, "HTTP/2.0": 0 }, proxyRefused: { source: 0, header: 0, timeout: 0 } }));
    return t;
  }

  /** A server's traffic, by its backend and key. */
  server(backend: string, key: string): ServerTraffic {
    const id = `${backend}\n${key}`;
    let t = this.servers.get(id);
    if (!t) {
      const failures = Object.fromEntries(FAILURE_CAUSES.map((c) => [c, 0])) as Record<FailureCause, number>;
      this.servers.set(id, (t = { ...traffic(), failures }));
    }
    return t;
  }

  snapshot(): CollectorSnapshot {
    return { services: [...this.services].map(([k, t]) => [k, plain(t)]), servers: [...this.servers].map(([k, t]) => [k, plain(t)]) };
  }

  /** Add a worker's numbers. */
  merge(snap: CollectorSnapshot): void {
    for (const [name, t] of snap.services) addInto(this.service(name) as unknown as Plain, t as Plain);
    for (const [id, t] of snap.servers) {
      const [backend, key] = id.split("\n");
      addInto(this.server(backend, key) as unknown as Plain, t as Plain);
    }
  }

  /** Listen to the events from now on. */
  start(): void {
    if (this.offs.length > 0) return;
    this.offs = [
      events.sessionEnd.subscribe((e) => {
        const svc = this.service(e.service);
        svc.sessions++;
        svc.bytesIn += e.bytesIn;
        svc.bytesOut += e.bytesOut;
        if (e.cause === "no_server" && e.protocol !== "http") svc.noServer++;
        if (e.protocol === "http") return; // its requests are counted one by one
        if (e.tried > 1) svc.retries += e.tried - 1;
        svc.total.observe(e.durationMs / 1000);
        if (e.server !== undefined && e.backend !== undefined) served(this.server(e.backend, e.server), e.bytesIn, e.bytesOut, e.durationMs);
      }),
      events.connect.subscribe((e) => {
        const srv = this.server(e.backend, e.server);
        if (e.outcome === "connected") {
          srv.connect.observe(e.ms / 1000);
          this.service(e.service).connect.observe(e.ms / 1000);
        } else srv.failures[e.outcome === "bad-greeting" ? "bad_greeting" : e.outcome]++;
      }),
      events.request.subscribe((e) => {
        const svc = this.service(e.service);
        const cls = e.status >= 100 && e.status < 600 ? CODE_CLASSES[Math.floor(e.status / 100) - 1] : "other";
        svc.responses[cls]++;
        const v = e.version as (typeof HTTP_VERSIONS)[number];
        if (svc.requests[v] !== undefined) svc.requests[v]++;
        svc.retries += e.retries;
        if (e.cause === "no_server") svc.noServer++;
        if (e.ttfbMs >= 0) svc.response.observe(e.ttfbMs / 1000);
        svc.total.observe(e.totalMs / 1000);
        if (e.server === undefined || e.backend === undefined) return;
        const srv = this.server(e.backend, e.server);
        served(srv, e.bytesIn, e.bytesOut, e.totalMs);
        if (e.status >= 500 && e.cause === "done") srv.failures.http_5xx++;
        if (e.ttfbMs >= 0) srv.response.observe(e.ttfbMs / 1000);
      }),
      events.proxyRefused.subscribe((e) => {
        this.service(e.service).proxyRefused[e.reason]++;
      }),
    ];
  }

  stop(): void {
    for (const off of this.offs) off();
    this.offs = [];
  }
}
