/**
 * The shipped artifact (dist/plb, bun build --compile) on the happy paths
 * users meet first: an http service (curl), an smtp service (Python's
 * smtplib) and --daemonize. The other e2e suites run `bun src/cli.ts`.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { builtBinary } from "../../support/binary.ts";
import { fakeSmtp } from "../../support/fake-smtp.ts";
import { httpBackend } from "../../support/http-backends.ts";
import { startPlb, tempDir, writeConfig, type PlbProcess } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";

let binary = "";
const cleanups: (() => unknown)[] = [];
beforeAll(() => void (binary = builtBinary()), 60_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Run a client; async, so the servers in this process keep answering. */
async function client(cmd: string[]): Promise<{ out: string; err: string }> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err };
}

async function plb(toml: string): Promise<PlbProcess> {
  const p = await startPlb(toml, [], { binary });
  cleanups.push(() => p.stop());
  return p;
}

test("dist/plb balances http: curl gets answers from both servers, with X-Forwarded-For", async () => {
  const a = await httpBackend("A");
  const b = await httpBackend("B");
  cleanups.push(() => a.close(), () => b.close());
  const [port] = await freePorts(1);
  await plb(`[[service]]\nname = "web"\nprotocol = "http"\nlisten = ["127.0.0.1:${port}"]\nservers = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]\n`);
  const bodies: string[] = [];
  for (let i = 0; i < 4; i++) {
    bodies.push((await client(["curl", "-s", "-m", "5", `http://127.0.0.1:${port}/x`])).out);
  }
  expect(bodies.sort()).toEqual(["A", "A", "B", "B"]);
  expect(a.seen[0].headers["x-forwarded-for"]).toBe("127.0.0.1");
});

test("dist/plb relays smtp after the greeting: smtplib delivers a message", async () => {
  const mx = fakeSmtp("mx-bin", "ok");
  cleanups.push(() => mx.stop());
  const [port] = await freePorts(1);
  await plb(`[[service]]\nname = "mail"\nprotocol = "smtp"\nlisten = ["127.0.0.1:${port}"]\nservers = ["127.0.0.1:${mx.port}"]\n`);
  const py = `import smtplib; s = smtplib.SMTP("127.0.0.1", ${port}, timeout=5); print(s.sendmail("a@example.org", ["b@example.org"], "Subject: bin\\r\\n\\r\\nfrom the binary")); s.quit()`;
  const r = await client(["python3", "-c", py]);
  expect(r.err).toBe("");
  expect(r.out.trim()).toBe("{}");
  expect(mx.messages.some((m) => m.includes("from the binary"))).toBe(true);
});

test("dist/plb --daemonize returns once serving, in its own session; SIGTERM stops it", async () => {
  const a = await httpBackend("D");
  cleanups.push(() => a.close());
  const [port] = await freePorts(1);
  const dir = tempDir();
  const pidfile = join(dir, "plb.pid");
  const config = writeConfig(`[[service]]\nname = "d"\nprotocol = "http"\nlisten = ["127.0.0.1:${port}"]\nservers = ["127.0.0.1:${a.port}"]\n`);
  const p = Bun.spawn([binary, "--daemonize", "--config", config, "--pidfile", pidfile, "--logfile", join(dir, "plb.log")], { stdout: "pipe", stderr: "pipe" });
  expect(await p.exited).toBe(0);
  const pid = Number(readFileSync(pidfile, "utf8"));
  cleanups.push(() => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  });
  expect(await new Response(p.stdout).text()).toContain(`running in the background (pid ${pid})`);
  expect((await client(["curl", "-s", "-m", "5", `http://127.0.0.1:${port}/`])).out).toBe("D");
  expect(Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[3])).toBe(pid); // session leader
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 500; i++) { // up to 10 s for the exit
    try {
      process.kill(pid, 0);
      await Bun.sleep(20);
    } catch {
      break;
    }
  }
  expect(() => process.kill(pid, 0)).toThrow();
  expect(readFileSync(join(dir, "plb.log"), "utf8")).toMatch(/SIGTERM: stopping[\s\S]*stopped/);
});
