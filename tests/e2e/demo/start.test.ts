/**
 * `npm start` (demo/run.ts) as a newcomer meets it: plb on plb.toml.example
 * with demo servers behind it, balancing http, delivering smtp, echoing tcp,
 * failing over when a demo server is stopped and bringing it back. (It uses
 * the example's fixed ports: 8080, 8081, 2525, 9001-9003, 9011-9012,
 * 10025-10026.)
 */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { BUN, ROOT } from "../../support/plb.ts";
import { RawClient } from "../../support/raw-client.ts";

const proc = Bun.spawn([BUN, join(ROOT, "demo", "run.ts")], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
let out = "";
for (const stream of [proc.stdout, proc.stderr]) {
  void (async () => {
    const dec = new TextDecoder();
    for await (const chunk of stream) out += dec.decode(chunk, { stream: true });
  })();
}
afterAll(async () => {
  proc.kill("SIGINT");
  await proc.exited;
});

async function until(re: RegExp, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!re.test(out) && Date.now() < end) await Bun.sleep(20);
  return re.test(out);
}

async function get(): Promise<string> {
  const c = await RawClient.open(8081);
  c.write("GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n");
  await c.until(() => c.responses.length > 0 || c.closed, 3000);
  return c.responses[0]?.body ?? "";
}

test("npm start: http answers alternate between web-1 and web-2; smtp delivers; tcp echoes; a stopped server is failed over, marked down and back up", async () => {
  expect(await until(/ready \(pid/, 15_000)).toBe(true);
  const names = [];
  for (let i = 0; i < 4; i++) names.push((await get()).match(/web-\d/)?.[0]);
  expect(names.sort()).toEqual(["web-1", "web-1", "web-2", "web-2"]);

  const py = Bun.spawnSync(["python3", "-c", "import smtplib; print(smtplib.SMTP('127.0.0.1', 2525).sendmail('me@example.org', ['you@example.org'], 'Subject: hi\\r\\n\\r\\nhello'))"], { stdout: "pipe", stderr: "pipe" });
  expect(py.stdout.toString().trim()).toBe("{}");
  expect(await until(/mail-\d accepted a message/, 10_000)).toBe(true);

  const t = await RawClient.open(8080);
  t.write("ping\n");
  expect(await t.until(() => t.text.endsWith("ping\n"), 3000)).toBe(true);
  expect(t.text).toMatch(/^tcp-\d \(127\.0\.0\.1:900\d\) echoes what you send\n/);
  t.close();

  proc.stdin.write("stop web-1\nstatus\n"); // the status line comes once the stop is done
  proc.stdin.flush();
  expect(await until(/web-1 \(stopped\)/, 10_000)).toBe(true);
  for (let i = 0; i < 8; i++) expect(await get()).toMatch(/^Hello from web-2/); // about every other one fails over
  expect(await until(/server 127\.0\.0\.1:9011 of "web" is down after 3 consecutive failures: connection refused/, 10_000)).toBe(true);
  proc.stdin.write("start web-1\n");
  proc.stdin.flush();
  expect(await until(/server 127\.0\.0\.1:9011 of "web" is up again/, 12_000)).toBe(true);
  const back = [await get(), await get()].map((b) => b.match(/web-\d/)?.[0]).sort();
  expect(back).toEqual(["web-1", "web-2"]);
}, 40_000);
