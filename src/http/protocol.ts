/** The http protocol module: HTTP/1 sessions or HTTP/2 connections per client connection; checks by GET (health, health_path) or a connect. */
import type { Protocol } from "../protocol.ts";
import type { ServiceConfig } from "../config/types.ts";
import type { Sock } from "../net/types.ts";
import { tcpCheck } from "../tcp/probe.ts";
import { DEFAULT_EXPECT } from "../config/health.ts";
import { httpCheck } from "./probe.ts";
import { grpcCheck } from "./h2/grpc-check.ts";
import { setupHttp, setupHttpBackend } from "./runtime.ts";
import { HttpSession } from "./session.ts";
import { H2Connection } from "./h2/connection.ts";

/** ALPN: h2 first (the server's order wins), unless the service turns HTTP/2 off. */
const WITH_H2 = ["h2", "http/1.1"];
const H1_ONLY = ["http/1.1"];

function speaksH2(client: Sock, cfg: ServiceConfig): boolean {
  return cfg.tls === undefined ? cfg.http.h2c === "only" : (client as { alpnProtocol?: unknown }).alpnProtocol === "h2";
}

export const http: Protocol = {
  name: "http",
  alpn: (cfg) => (cfg.http.http2 ? WITH_H2 : H1_ONLY),
  setup: setupHttp,
  backendSetup: setupHttpBackend,
  // A TLS client that chose h2 by ALPN, or any client of a plain h2c = "only" listener, gets an HTTP/2
  // connection; every other one starts as HTTP/1 (with h2c = true, a prior-knowledge client switches at its preface).
  accept: (client, service) => (speaksH2(client, service.cfg) ? new H2Connection(client, service) : new HttpSession(client, service)),
  probe: ({ cfg, tls }) => {
    const base = { connectMs: cfg.timeout_connect, clientAddress: cfg.client_address, tls };
    if (cfg.health?.grpc) return grpcCheck({ tls, service: cfg.health.grpc.service, connectMs: cfg.timeout_connect, timeoutMs: cfg.health.timeout });
    if (cfg.health?.http) return httpCheck({ ...base, ...cfg.health.http, timeoutMs: cfg.health.timeout });
    if (cfg.http.health_path === undefined) return tcpCheck({ ...base, timeoutMs: cfg.timeout_connect });
    return httpCheck({ ...base, path: cfg.http.health_path, host: undefined, expect: DEFAULT_EXPECT, timeoutMs: cfg.timeout_connect + cfg.timeout_server });
  },
};
