import { expect, test } from "bun:test";
import { healthz, type HealthService } from "../src/stats/health.ts";

const svc = (name: string, servers: { up: boolean; weight: number }[]): HealthService => ({ name, pools: [{ servers }] });
const base = { stopping: false, requireServers: false, private: false };

test("200 ok while serving, whatever the servers, unless healthz_requires_servers", () => {
  const services = [svc("web", [{ up: false, weight: 1 }]), svc("mail", [])];
  expect(healthz({ ...base, services })).toEqual({ status: 200, body: "ok\n" });
});

test("503 stopping once a stop began, before any other rule", () => {
  expect(healthz({ ...base, stopping: true, services: [svc("web", [{ up: true, weight: 1 }])] })).toEqual({ status: 503, body: "stopping\n" });
  expect(healthz({ ...base, stopping: true, requireServers: true, services: [svc("web", [])] })).toEqual({ status: 503, body: "stopping\n" });
});

test("healthz_requires_servers: 503 naming each service with no server up and weight above 0; a backup counts", () => {
  const services = [
    svc("web", [{ up: false, weight: 1 }, { up: true, weight: 0 }]),
    svc("api", [{ up: false, weight: 1 }, { up: true, weight: 2 }]),
    svc("mail", []),
  ];
  expect(healthz({ ...base, requireServers: true, services })).toEqual({ status: 503, body: 'no server up: "web", "mail"\n' });
  expect(healthz({ ...base, requireServers: true, private: true, services })).toEqual({ status: 503, body: "no server up: 2 service(s)\n" });
  expect(healthz({ ...base, requireServers: true, services: services.slice(1, 2) })).toEqual({ status: 200, body: "ok\n" });
});
