/**
 * What `GET /metrics` and `GET /status.json` show: the servers' state as
 * servers/state keeps it, the traffic the collector counted, and the
 * process. One snapshot per request; nothing here runs on the hot path.
 */
import { readdirSync } from "node:fs";
import type { DnsEntryStatus } from "../discovery.ts";
import type { Backend } from "../backend.ts";
import type { Service } from "../service.ts";
import { CHECK_FAILURE_REASONS, type Server } from "../servers/server.ts";
import { VERSION } from "../version.ts";
import { CODE_CLASSES, type Collector, FAILURE_CAUSES, HTTP_VERSIONS, PROXY_REFUSALS, type ServerTraffic, type ServiceTraffic } from "./collector.ts";
import { Exposition } from "./exposition.ts";
import { acmeMetrics, acmeStatus } from "./acme.ts";

export type ServerStateName = "up" | "down" | "drain" | "maint";
const STATES: readonly ServerStateName[] = ["up", "down", "drain", "maint"];

export function stateName(s: Server): ServerStateName {
  if (s.admin !== "ready") return s.admin;
  return s.up ? "up" : "down";
}

/** Event-loop lag: how late a 500 ms timer fires, last measured. */
class LoopLag {
  seconds = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  start(): void {
    let expected = performance.now() + 500;
    this.timer = setInterval(() => {
      const t = performance.now();
      this.seconds = Math.max(0, t - expected) / 1000;
      expected = t + 500;
    }, 500);
    this.timer.unref?.();
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

function openFds(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length - 1; // minus the one reading it
  } catch {
    return undefined; // no /proc (inside a chroot, or not Linux)
  }
}

/**
 * Renders state and traffic. `collect` gives the traffic counted so far:
 * this process's collector, or (the master of workers) the sum of every
 * worker's.
 */
export class Metrics {
  private readonly lag = new LoopLag();

  constructor(
    readonly collect: () => Promise<Collector>,
    /** The services in force (also read by /healthz). */
    readonly services: () => readonly Service[],
    /** The backends in force. */
    readonly backends: () => readonly Backend[],
    /** A backend's DNS entries and their last answers (where this process asks DNS). */
    readonly dns: (backend: Backend) => readonly DnsEntryStatus[] = () => [],
  ) {}

  start(): void {
    this.lag.start();
  }

  stop(): void {
    this.lag.stop();
  }

  /** The Prometheus text (or OpenMetrics) of now. */
  async prometheus(openMetrics: boolean): Promise<string> {
    const collector = await this.collect();
    const x = new Exposition(openMetrics);
    for (const svc of this.services()) {
      const l = { service: svc.name };
      const t: ServiceTraffic = collector.service(svc.name);
      x.gauge("plb_service_sessions_current", "Client sessions open now.", l, svc.active);
      x.counter("plb_service_sessions_total", "Client sessions (connections) accepted.", l, t.sessions);
      x.counter("plb_service_bytes_in_total", "Bytes received from clients.", l, t.bytesIn);
      x.counter("plb_service_bytes_out_total", "Bytes sent to clients.", l, t.bytesOut);
      x.counter("plb_service_retries_total", "Connections or requests sent again to another server.", l, t.retries);
      x.counter("plb_service_no_server_total", "Sessions and requests refused for lack of a server (503, 421, closed).", l, t.noServer);
      x.gauge("plb_service_servers_up", "Servers taking new connections in the backends it sends to (its own, its routes').", l, svc.backends.reduce((n, b) => n + b.pool.upCount, 0));
      if (svc.cfg.accept_proxy) {
        for (const r of PROXY_REFUSALS) x.counter("plb_service_proxy_refused_total", "Connections closed before a valid PROXY header (accept_proxy), by reason: source (not in proxy_from), header, timeout.", { ...l, reason: r }, t.proxyRefused[r]);
      }
      if (svc.cfg.protocol === "http") {
        for (const c of CODE_CLASSES) x.counter("plb_http_responses_total", "HTTP responses by status class.", { ...l, code_class: c }, t.responses[c]);
        for (const v of HTTP_VERSIONS) x.counter("plb_http_requests_total", "HTTP requests by protocol version (an HTTP/2 stream is one request).", { ...l, protocol: v }, t.requests[v]);
      }
      x.histogram("plb_service_connect_time_seconds", "Time to connect to a server.", l, t.connect);
      x.histogram("plb_service_response_time_seconds", "Time from a request to its first response byte (http).", l, t.response);
      x.histogram("plb_service_total_time_seconds", "Whole request (http) or session (tcp, smtp) time.", l, t.total);
    }
    for (const b of this.backends()) {
      const l = { backend: b.name };
      x.gauge("plb_backend_servers_up", "Servers taking new connections.", l, b.pool.upCount);
      for (const d of this.dns(b)) {
        const dl = { ...l, entry: d.entry };
        x.gauge("plb_dns_entry_ok", "1 while the DNS entry's last answer was good (a failed one keeps its last servers).", dl, d.ok ? 1 : 0);
        x.gauge("plb_dns_entry_servers", "Servers the DNS entry's last good answer gave.", dl, d.servers);
        x.counter("plb_dns_entry_failures_total", "Failed or empty answers (timeout, SERVFAIL, NXDOMAIN, no records).", dl, d.failuresTotal);
      }
      for (const s of b.pool.servers) {
        const sl = { backend: b.name, server: s.key };
        const st: ServerTraffic = collector.server(b.name, s.key);
        const now = stateName(s);
        for (const state of STATES) x.gauge("plb_server_state", "Server state: 1 for the current one (up, down, drain, maint).", { ...sl, state }, state === now ? 1 : 0);
        x.gauge("plb_server_weight", "Server weight: the configuration's, or the operator's (admin API).", sl, s.userWeight);
        x.gauge("plb_server_effective_weight", "Weight the balancer uses now: the server weight, or a share of it during a slow start.", sl, s.weight);
        x.gauge("plb_server_slowstart", "1 while the server is in slow start (its effective weight ramps up to its weight).", sl, s.ramping ? 1 : 0);
        x.gauge("plb_server_sessions_current", "Sessions relayed to the server now.", sl, s.active);
        x.counter("plb_server_sessions_total", "Sessions (tcp, smtp) and requests (http) sent to the server.", sl, st.sessions);
        x.counter("plb_server_bytes_in_total", "Bytes from clients through this server's sessions.", sl, st.bytesIn);
        x.counter("plb_server_bytes_out_total", "Bytes to clients through this server's sessions.", sl, st.bytesOut);
        for (const cause of FAILURE_CAUSES) x.counter("plb_server_connect_failures_total", "Failed connections and answers by cause.", { ...sl, cause }, st.failures[cause]);
        for (const reason of CHECK_FAILURE_REASONS) {
          x.counter("plb_server_check_failures_total", "Failed health checks by reason: refused, timeout, unreachable, reset, protocol (not the protocol's answer), status (an unexpected status or reply code), body (the expected text missing), tls (the TLS handshake failed: a certificate that does not verify).", { ...sl, reason }, s.checkFailuresBy[reason]);
        }
        x.counter("plb_server_transitions_total", "Changes between taking and not taking new connections.", sl, s.counters.transitions);
        x.gauge("plb_server_check_duration_seconds", "Duration of the last health check.", sl, (s.lastCheck?.ms ?? 0) / 1000);
        x.histogram("plb_server_connect_time_seconds", "Time to connect to the server.", sl, st.connect);
        x.histogram("plb_server_response_time_seconds", "Time from a request to its first response byte (http).", sl, st.response);
        x.histogram("plb_server_total_time_seconds", "Whole request (http) or session (tcp, smtp) time.", sl, st.total);
      }
    }
    acmeMetrics(x);
    x.gauge("plb_process_uptime_seconds", "Seconds since plb started.", {}, process.uptime());
    x.gauge("plb_process_resident_memory_bytes", "Resident memory.", {}, process.memoryUsage.rss());
    const fds = openFds();
    if (fds !== undefined) x.gauge("plb_process_open_fds", "Open file descriptors.", {}, fds);
    x.gauge("plb_process_event_loop_lag_seconds", "How late a 500 ms timer last fired.", {}, this.lag.seconds);
    x.gauge("plb_build_info", "plb's version (always 1).", { version: VERSION }, 1);
    return x.render();
  }

  /** The same state and counters as JSON (README: "GET /status.json"). */
  async status(): Promise<object> {
    const collector = await this.collect();
    const acme = acmeStatus();
    return {
      ...(acme ? { acme } : {}),
      version: VERSION,
      uptime_seconds: process.uptime(),
      services: this.services().map((svc) => {
        const t = collector.service(svc.name);
        return {
          name: svc.name,
          protocol: svc.cfg.protocol,
          backend: svc.backend?.name ?? null,
          ...(svc.cfg.routes.length > 0 ? { routes: svc.cfg.routes.length, route_backends: svc.backends.map((b) => b.name) } : {}),
          listen: svc.cfg.listen.map((l) => l.text),
          sessions_current: svc.active,
          sessions_total: t.sessions,
          bytes_in: t.bytesIn,
          bytes_out: t.bytesOut,
          retries: t.retries,
          no_server: t.noServer,
          ...(svc.cfg.protocol === "http" ? { responses: { ...t.responses }, requests: { ...t.requests } } : {}),
          ...(svc.cfg.accept_proxy ? { proxy_refused: { ...t.proxyRefused } } : {}),
        };
      }),
      backends: this.backends().map((b) => {
        return {
          name: b.name,
          protocol: b.cfg.protocol,
          balance: b.cfg.balance,
          declared: b.cfg.declared,
          servers_up: b.pool.upCount,
          ...(b.cfg.discover.length > 0
            ? {
                dns: this.dns(b).map((d) => ({
                  entry: d.entry,
                  condition: d.condition,
                  servers: d.servers,
                  failures_in_a_row: d.failuresInARow,
                  failures_total: d.failuresTotal,
                  last_ok: d.lastOk === 0 ? null : new Date(d.lastOk).toISOString(),
                })),
              }
            : {}),
          servers: b.pool.servers.map((s) => {
            const st = collector.server(b.name, s.key);
            return {
              name: s.key,
              address: s.address ?? null,
              state: stateName(s),
              healthy: s.healthy,
              admin: s.admin,
              weight: s.userWeight,
              effective_weight: s.weight,
              slowstart: s.ramping,
              backup: s.backup,
              cause: s.cause || null,
              sessions_current: s.active,
              sessions_total: st.sessions,
              bytes_in: st.bytesIn,
              bytes_out: st.bytesOut,
              failures: { ...st.failures },
              check_failures: s.counters.checkFailures,
              last_check: s.lastCheck
                ? {
                    at: new Date(s.lastCheck.at).toISOString(),
                    ok: s.lastCheck.ok,
                    detail: s.lastCheck.detail,
                    code: s.lastCheck.code ?? null,
                    reason: s.lastCheck.reason ?? null,
                    duration_seconds: s.lastCheck.ms / 1000,
                  }
                : null,
              transitions: s.counters.transitions,
              last_transition: s.lastTransition
                ? { at: new Date(s.lastTransition.at).toISOString(), state: s.lastTransition.up ? "up" : stateName(s), cause: s.lastTransition.cause }
                : null,
            };
          }),
        };
      }),
    };
  }
}
