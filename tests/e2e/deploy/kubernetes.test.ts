/**
 * deploy/kubernetes/: every object checked against the Kubernetes API
 * schema (kubernetes-models' validators, generated from the Kubernetes
 * OpenAPI definitions), and against plb: the ports and probe paths exist
 * in the ConfigMap's plb.toml, the stop timings fit, the pod runs as the
 * image's user on a read-only root, and every key of plb.toml is one plb
 * knows; the whole file, its `dns` server entries included, passes plb's
 * own checks. No cluster runs here.
 */
import { describe, expect, test } from "bun:test";
import { parse as parseToml } from "@iarna/toml";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ConfigMap, Service } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { PLB_UID } from "../../../build/rootfs.ts";
import { keysFor, parseConfig, parseDuration, parseListen } from "../../../src/config/index.ts";
import { STATS_KEYS } from "../../../src/config/stats.ts";
import { ROOT } from "../../support/plb.ts";

const DIR = join(ROOT, "deploy", "kubernetes");
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
};

// The manifests' shape, as far as this test reads them.
type Obj = Record<string, any>;

const files = readdirSync(DIR).filter((f) => f.endsWith(".yaml")).sort();
const docs: { file: string; obj: Obj }[] = files.flatMap((file) =>
  parseAllDocuments(readFileSync(join(DIR, file), "utf8")).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join("; ")}`);
    return { file, obj: d.toJS() as Obj };
  }),
);
const objects = docs.map((d) => d.obj).filter((o) => o.kind !== "Kustomization");
const one = (kind: string, name?: string): Obj => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  return found[0];
};

const deployment = one("Deployment", "plb");
const pod = deployment.spec.template.spec;
const container = pod.containers.find((c: Obj) => c.name === "plb");
const configMap = one("ConfigMap", "plb-config");
const tomlText: string = configMap.data["plb.toml"];
const toml = parseToml(tomlText) as Obj;
const containerPort = (name: string): number => {
  const p = container.ports.find((x: Obj) => x.name === name);
  if (!p) throw new Error(`no container port named ${name}`);
  return p.containerPort;
};
/** A probe's port, by name or number, as a container port number. */
const portOf = (port: string | number): number => (typeof port === "number" ? port : containerPort(port));

describe("Kubernetes API schema", () => {
  test("each file holds only objects whose apiVersion and kind are known here, and a kustomization lists every file", () => {
    for (const o of objects) expect(Object.keys(MODELS), `${o.apiVersion}/${o.kind}`).toContain(`${o.apiVersion}/${o.kind}`);
    const kustomization = docs.find((d) => d.obj.kind === "Kustomization")!.obj;
    expect(kustomization.apiVersion).toBe("kustomize.config.k8s.io/v1beta1");
    expect([...kustomization.resources].sort()).toEqual(files.filter((f) => f !== "kustomization.yaml"));
  });

  for (const { file, obj } of docs) {
    if (obj.kind === "Kustomization") continue;
    test(`${file}: ${obj.kind} ${obj.metadata?.name} is valid`, () => {
      const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
      expect(() => new Model(obj as never).validate()).not.toThrow();
    });
  }

  test("the validator does catch mistakes: a port given as text, a required field missing", () => {
    const bad = structuredClone(deployment);
    bad.spec.template.spec.containers[0].ports[0].containerPort = "8080";
    expect(() => new Deployment(bad as never).validate()).toThrow();
    const worse = structuredClone(deployment);
    delete worse.spec.template.spec.containers[0].name;
    expect(() => new Deployment(worse as never).validate()).toThrow();
  });
});

describe("the manifests against plb", () => {
  test("the Service, the PodDisruptionBudget and the Deployment's selector all select the pod's labels", () => {
    const labels = deployment.spec.template.metadata.labels;
    const selects = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
    expect(selects(deployment.spec.selector.matchLabels)).toBe(true);
    expect(selects(one("Service", "plb").spec.selector)).toBe(true);
    const pdb = one("PodDisruptionBudget");
    expect(selects(pdb.spec.selector.matchLabels)).toBe(true);
    expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
  });

  test("every port name matches: container ports are plb.toml's listen ports, the Service targets a container port", () => {
    const web = toml.service.map((s: Obj) => s.listen.map((l: string) => parseListen(l)));
    const listenPorts = web.flat().map((a: { port: number }) => a.port);
    const stats = parseListen(toml.stats.listen);
    if (typeof stats === "string") throw new Error(stats);
    expect(containerPort("stats")).toBe(stats.port);
    expect(containerPort("http")).toBe(listenPorts[0]);
    // Every listen port is a container port, and the reverse.
    expect(container.ports.map((p: Obj) => p.containerPort).sort()).toEqual([...listenPorts, stats.port].sort());
    for (const p of one("Service", "plb").spec.ports) expect(listenPorts).toContain(portOf(p.targetPort));
    // Probes from the kubelet come from outside the pod: every listener is on all addresses.
    for (const l of [toml.stats.listen, ...toml.service.flatMap((s: Obj) => s.listen)]) expect(l).toMatch(/^(0\.0\.0\.0|\*|\[::\]):\d+$/);
    // The scrape annotations name the stats port and /metrics.
    const ann = deployment.spec.template.metadata.annotations;
    expect(Number(ann["prometheus.io/port"])).toBe(stats.port);
    expect(ann["prometheus.io/path"]).toBe("/metrics");
  });

  test("readiness and liveness probe /healthz on the stats port; liveness does not fail for lack of servers", () => {
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect(probe.httpGet.path).toBe("/healthz");
      expect(portOf(probe.httpGet.port)).toBe(containerPort("stats"));
    }
    // healthz_requires_servers would make the kubelet restart plb whenever the backends are down.
    expect(toml.stats.healthz_requires_servers ?? false).toBe(false);
  });

  test("preStop sleep + shutdown_delay + timeout_shutdown stay under terminationGracePeriodSeconds", () => {
    const sleep = container.lifecycle.preStop.sleep.seconds;
    const ms = (v: unknown) => {
      const d = parseDuration(v);
      if (typeof d === "string") throw new Error(d);
      return d;
    };
    const stop = ms(toml.shutdown_delay ?? 0) + ms(toml.timeout_shutdown ?? "10s");
    expect(sleep).toBeGreaterThan(0);
    expect(sleep * 1000 + stop).toBeLessThan(pod.terminationGracePeriodSeconds * 1000);
  });

  test("non-root as the image's plb user, read-only root filesystem, no privilege escalation, no capabilities", () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBe(PLB_UID);
    expect(pod.securityContext.runAsGroup).toBe(PLB_UID);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(container.securityContext.capabilities.drop).toEqual(["ALL"]);
    // Running as plb from the start: nothing in plb.toml may need root (or write to the read-only root).
    for (const k of ["user", "group", "chroot_dir", "pidfile", "logfile"]) expect(toml[k], k).toBeUndefined();
    for (const p of container.ports) expect(p.containerPort).toBeGreaterThanOrEqual(1024);
  });

  test("the image's entry point reads the ConfigMap's plb.toml; token_file is the mounted Secret, readable by the pod's group", () => {
    expect(container.command).toBeUndefined(); // the image's ENTRYPOINT, /plb
    const at = container.args.indexOf("--config");
    const configPath: string = container.args[at + 1];
    const mountOf = (volume: string) => container.volumeMounts.find((m: Obj) => m.name === volume);
    const configVolume = pod.volumes.find((v: Obj) => v.configMap?.name === "plb-config");
    expect(configPath).toBe(`${mountOf(configVolume.name).mountPath}/plb.toml`);
    const tokenFile: string = toml.stats.token_file;
    const secretVolume = pod.volumes.find((v: Obj) => v.secret !== undefined);
    const tokenMount = mountOf(secretVolume.name);
    expect(tokenFile.startsWith(`${tokenMount.mountPath}/`)).toBe(true);
    // Files of a Secret volume are root's: the pod's fsGroup makes them the plb group's.
    expect(pod.securityContext.fsGroup).toBe(PLB_UID);
    expect(secretVolume.secret.defaultMode & 0o040).toBe(0o040);
    for (const m of container.volumeMounts) if (m.name !== "tmp") expect(m.readOnly).toBe(true);
  });

  test("every key of the ConfigMap's plb.toml is one plb knows; the dns entries name the headless Service and its port", () => {
    const global = new Set([...keysFor("global"), "stats", "service"]);
    for (const k of Object.keys(toml)) expect(global.has(k), `global key ${k}`).toBe(true);
    for (const k of Object.keys(toml.stats)) expect(STATS_KEYS, `[stats] ${k}`).toContain(k);
    const serverKeys = [...keysFor("server")];
    const dns: string[] = [];
    for (const svc of toml.service) {
      // A service with its own servers takes the backend keys too.
      for (const k of Object.keys(svc)) expect([...keysFor("service"), ...keysFor("backend")], `[[service]] ${k}`).toContain(k);
      for (const s of svc.servers) {
        if (typeof s === "string") continue;
        for (const k of Object.keys(s)) expect(serverKeys, `server entry key ${k}`).toContain(k);
        if (s.dns !== undefined) dns.push(s.dns);
      }
    }
    expect(dns.length).toBeGreaterThan(0);
    for (const entry of dns) {
      const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)$/.exec(entry);
      expect(m, entry).not.toBeNull();
      const backends = one("Service", m![1]);
      expect(backends.spec.clusterIP).toBe("None"); // headless: the name gives the pods' addresses
      expect(backends.spec.ports.map((p: Obj) => p.port)).toContain(Number(m![3]));
    }
  });

  test("the ConfigMap's plb.toml, dns entries and all, passes plb's own checks", () => {
    const config = parseConfig(tomlText, "configmap.yaml:plb.toml");
    expect(config.stats?.token_file).toBe(toml.stats.token_file);
    expect(config.services.map((s) => s.name)).toEqual(toml.service.map((s: Obj) => s.name));
    // Every service's servers come from the headless Service's name, asked when plb runs.
    for (const svc of config.backends) expect(svc.discover.map((d) => `${d.name}:${d.port}`)).toEqual(toml.service.find((t: Obj) => t.name === svc.name).servers.map((e: Obj) => e.dns));
  });
});
