/** The http protocol module: sessions per client connection; checks by GET (health, health_path) or a connect. */
import type { Protocol } from "../protocol.ts";
import { tcpCheck } from "../tcp/probe.ts";
import { DEFAULT_EXPECT } from "../config/health.ts";
import { httpCheck } from "./probe.ts";
import { setupHttp, setupHttpBackend } from "./runtime.ts";
import { HttpSession } from "./session.ts";

export const http: Protocol = {
  name: "http",
  // h2 joins when plb speaks HTTP/2.
  alpn: ["http/1.1"],
  setup: setupHttp,
  backendSetup: setupHttpBackend,
  accept: (client, service) => new HttpSession(client, service),
  probe: ({ cfg, tls }) => {
    const base = { connectMs: cfg.timeout_connect, clientAddress: cfg.client_address, tls };
    if (cfg.health?.http) return httpCheck({ ...base, ...cfg.health.http, timeoutMs: cfg.health.timeout });
    if (cfg.http.health_path === undefined) return tcpCheck({ ...base, timeoutMs: cfg.timeout_connect });
    return httpCheck({ ...base, path: cfg.http.health_path, host: undefined, expect: DEFAULT_EXPECT, timeoutMs: cfg.timeout_connect + cfg.timeout_server });
  },
};
