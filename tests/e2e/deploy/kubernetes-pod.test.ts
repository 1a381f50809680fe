/**
 * deploy/kubernetes/ run the way the kubelet would run its pod, without a
 * cluster: the compiled plb on the ConfigMap's plb.toml as it is, in a
 * network namespace of its own whose /etc/resolv.conf names a cluster-style
 * DNS server (Debian's dnsmasq in the pod's namespace, as CoreDNS would
 * answer: the headless Service's name gives the address of a backend pod in
 * a second namespace, reached over a veth pair),
 * with the root filesystem read-only and an empty /tmp (the emptyDir), as
 * the pod's user and group with no capability and no_new_privs, the token
 * file readable through the group only (what fsGroup and defaultMode give).
 * The probes' path on the probes' port answers 200, the service answers on
 * its container port, and the stop (after preStop) turns the readiness
 * probe to 503 while a request drains, then plb exits 0, logging no warning.
 * Needs root (namespaces, mounts, setpriv): fails, not skips, without it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { parse as parseYaml } from "yaml";
import { PLB_UID } from "../../../build/rootfs.ts";
import { builtBinary } from "../../support/binary.ts";
import { DNSMASQ } from "../../support/dnsmasq.ts";
import { NamespacedProcs, waitFor } from "../../support/netns.ts";
import { ROOT } from "../../support/plb.ts";

const DIR = join(ROOT, "deploy", "kubernetes");
const PEERS = join(import.meta.dir, "..", "..", "support", "ka_peers.py");
const TAG = Math.random().toString(16).slice(2, 6);
const NS = `plbpod-${TAG}`;
/** The backend pod's namespace, behind the headless Service's name. */
const NS_BACKEND = `plbweb-${TAG}`;
const POD_IP = "10.213.0.1";
const BACKEND_IP = "10.213.0.2";
/** The cluster DNS server the pod's resolv.conf names (dnsmasq, in the pod's namespace). */
const CLUSTER_DNS = "127.0.0.53";
// Outside /tmp: the pod's /tmp is an empty tmpfs over it.
const dir = mkdtempSync("/var/tmp/plb-pod-");
const spawned = new NamespacedProcs();
/** The backend pod's address and port, as DNS gives it (set in beforeAll). */
let SERVER = "";
/** The cluster DNS server and the headless Service's name it answers (set in beforeAll). */
let clusterDns: Subprocess;
/** The pod's server (a ka_peers.py backend: prints "slow" when GET /slow arrives). */
let server: Subprocess;
let DNS_NAME = "";

// The manifests, as far as this test reads them.
type Obj = Record<string, any>;
const deployment = parseYaml(readFileSync(join(DIR, "deployment.yaml"), "utf8")) as Obj;
const configMap = parseYaml(readFileSync(join(DIR, "configmap.yaml"), "utf8")) as Obj;
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const port = (name: string): number => container.ports.find((p: Obj) => p.name === name).containerPort;

const spawnIn = (cmd: string[], ns = NS) => spawned.spawnIn(ns, cmd);
const logOf = (p: Subprocess) => spawned.logOf(p);

/** curl inside the pod's namespace: status and body. */
async function curl(path: string, portNumber: number): Promise<{ status: number; body: string }> {
  const p = Bun.spawn(["ip", "netns", "exec", NS, "curl", "-s", "-m", "10", "-w", "\n%{http_code}", `http://127.0.0.1:${portNumber}${path}`], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const at = out.lastIndexOf("\n");
  return { status: Number(out.slice(at + 1)), body: out.slice(0, at) };
}

let plb: Subprocess;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("kubernetes-pod.test.ts needs root: it runs plb in a network and mount namespace of its own, as the pod's user");
  chmodSync(dir, 0o755);
  const binary = join(dir, "plb");
  copyFileSync(builtBinary(), binary);
  chmodSync(binary, 0o755);
  // The Secret's file: root's, group-readable, the group being the pod's (fsGroup).
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, "0123456789abcdef0123456789abcdef\n");
  chownSync(tokenFile, 0, pod.securityContext.fsGroup);
  chmodSync(tokenFile, pod.volumes.find((v: Obj) => v.secret).secret.defaultMode);
  const toml = (configMap.data["plb.toml"] as string).replace(/token_file = "[^"]*"/, `token_file = "${tokenFile}"`);
  const [, dnsName, serverPort] = /\{\s*dns\s*=\s*"([^"]*):(\d+)"\s*\}/.exec(toml)!;
  SERVER = `${BACKEND_IP}:${serverPort}`;
  DNS_NAME = dnsName;
  const config = join(dir, "plb.toml");
  writeFileSync(config, toml);
  chmodSync(config, 0o644);

  // Two namespaces, the pod's and a backend pod's, joined by a veth pair.
  const veth = `vp${TAG}`;
  for (const cmd of [
    ["ip", "netns", "add", NS],
    ["ip", "netns", "add", NS_BACKEND],
    ["ip", "-n", NS, "link", "set", "lo", "up"],
    ["ip", "-n", NS_BACKEND, "link", "set", "lo", "up"],
    ["ip", "-n", NS, "link", "add", veth, "type", "veth", "peer", "name", `vb${TAG}`, "netns", NS_BACKEND],
    ["ip", "-n", NS, "addr", "add", `${POD_IP}/30`, "dev", veth],
    ["ip", "-n", NS_BACKEND, "addr", "add", `${BACKEND_IP}/30`, "dev", `vb${TAG}`],
    ["ip", "-n", NS, "link", "set", veth, "up"],
    ["ip", "-n", NS_BACKEND, "link", "set", `vb${TAG}`, "up"],
  ]) {
    const r = Bun.spawnSync(cmd, { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`cannot set up the namespaces (${cmd.join(" ")}): ${r.stderr}`);
  }
  server = spawnIn(["/usr/bin/python3", PEERS, "backend", "web-pod", BACKEND_IP, serverPort, "2"], NS_BACKEND);
  await waitFor(() => logOf(server).includes("ready"), "the server", 10_000, () => logOf(server));
  // The cluster's DNS: the headless Service's name is its pods' addresses.
  const dns = (clusterDns = spawnIn([DNSMASQ, "--keep-in-foreground", "--log-facility=-", "--log-queries", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--user=root", "--group=root", "--pid-file=", "--port=53", `--listen-address=${CLUSTER_DNS}`, "--bind-interfaces", "--local=/cluster.local/", "--local-ttl=5", `--host-record=${dnsName},${BACKEND_IP}`]));
  await waitFor(() => /started, version/.test(logOf(dns)), "dnsmasq", 10_000, () => logOf(dns));
  // What the kubelet writes into a pod (ClusterFirst).
  const resolvConf = join(dir, "resolv.conf");
  writeFileSync(resolvConf, `nameserver ${CLUSTER_DNS}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`);
  chmodSync(resolvConf, 0o644);

  const sc = container.securityContext;
  expect(sc.readOnlyRootFilesystem).toBe(true);
  const emptyDirs = container.volumeMounts.filter((m: Obj) => pod.volumes.find((v: Obj) => v.name === m.name).emptyDir).map((m: Obj) => m.mountPath);
  expect(emptyDirs).toEqual(["/tmp"]);
  const mounts = [`mount --bind ${resolvConf} /etc/resolv.conf`, "mount -o bind,remount,ro /", ...emptyDirs.map((p: string) => `mount -t tmpfs -o size=16m tmpfs ${p}`)].join(" && ");
  const ids = `--reuid=${pod.securityContext.runAsUser} --regid=${pod.securityContext.runAsGroup} --groups=${pod.securityContext.fsGroup}`;
  const script = `${mounts} && exec setpriv ${ids} --no-new-privs --inh-caps=-all --bounding-set=-all "$@"`;
  plb = spawnIn(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", binary, ...container.args.map((a: string) => (a.endsWith("/plb.toml") ? config : a)), "--logfile", "-"]);
  await waitFor(() => /ready \(pid/.test(logOf(plb)) || plb.exitCode !== null, "plb ready", 20_000, () => logOf(plb));
  if (plb.exitCode !== null) throw new Error(`plb exited with ${plb.exitCode}:\n${logOf(plb)}`);
}, 180_000);

afterAll(async () => {
  await spawned.stopAll();
  Bun.spawnSync(["ip", "netns", "del", NS]);
  Bun.spawnSync(["ip", "netns", "del", NS_BACKEND]);
  rmSync(dir, { recursive: true, force: true });
});

test("as the pod runs it (non-root, no capability, read-only root): the probes' /healthz answers 200, the service answers, the stop turns readiness to 503 while a request drains", async () => {
  const status = readFileSync(`/proc/${plb.pid}/status`, "utf8");
  expect(status).toMatch(new RegExp(`^Uid:\\s+${PLB_UID}\\s+${PLB_UID}\\s+${PLB_UID}\\s+${PLB_UID}$`, "m"));
  expect(status).toMatch(/^CapEff:\s+0+$/m);
  expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
  // Its root is read-only, its /tmp an empty tmpfs (mount point and options: fields 5 and 6 of mountinfo).
  const mounts = readFileSync(`/proc/${plb.pid}/mountinfo`, "utf8").split("\n").map((l) => l.split(" "));
  expect(mounts.find((f) => f[4] === "/")?.[5]).toMatch(/^ro\b/);
  expect(mounts.find((f) => f[4] === "/tmp")?.join(" ")).toMatch(/ - tmpfs /);

  const readiness = container.readinessProbe.httpGet;
  const liveness = container.livenessProbe.httpGet;
  expect(await curl(readiness.path, port(readiness.port))).toEqual({ status: 200, body: "ok\n" });
  expect((await curl(liveness.path, port(liveness.port))).status).toBe(200);
  expect(await curl("/", port("http"))).toEqual({ status: 200, body: "web-pod" });
  // The server came from the cluster's DNS, asked through the pod's resolv.conf.
  expect(logOf(clusterDns)).toContain(`query[A] ${DNS_NAME} from 127.0.0.1`);
  // /metrics for the scrape annotations, without a token.
  const ann = deployment.spec.template.metadata.annotations;
  expect((await curl(ann["prometheus.io/path"], Number(ann["prometheus.io/port"]))).body).toContain(`plb_server_state{backend="web",server="${SERVER}",state="up"} 1\n`);

  // After preStop the kubelet sends SIGTERM; a request in flight finishes, readiness says 503 meanwhile.
  const slow = curl("/slow", port("http"));
  await waitFor(() => logOf(server).includes("slow"), "the slow request at the server", 10_000, () => logOf(server));
  const t0 = Date.now();
  plb.kill("SIGTERM");
  await waitFor(() => /SIGTERM: stopping/.test(logOf(plb)), "the stop", 5000, () => logOf(plb));
  expect(await curl(readiness.path, port(readiness.port))).toEqual({ status: 503, body: "stopping\n" });
  expect(await slow).toEqual({ status: 200, body: "web-pod" });
  expect(await plb.exited).toBe(0);
  expect(Date.now() - t0).toBeLessThan((pod.terminationGracePeriodSeconds - container.lifecycle.preStop.sleep.seconds) * 1000);
  // Nothing in the file needed root or a writable disk: not one warning or error.
  expect(logOf(plb)).not.toMatch(/\[(warn|error)\]/i);
}, 60_000);
