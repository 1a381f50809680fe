/**
 * The live status page in a real browser: Debian's chromium, headless,
 * driven by puppeteer-core. Rows and states in the DOM, a server killed
 * turns red within seconds, a click on "drain" changes its state; laptop and
 * phone screenshots are kept in tests/artifacts/.
 */
import { afterEach, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { launchChromium } from "../../support/chromium.ts";
import { httpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";

const ARTIFACTS = join(import.meta.dir, "..", "..", "artifacts");
const TOKEN = "page-token-0123456789";
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

test("the status page lists services and servers, turns a killed server red within seconds, and drains one on a click", async () => {
  const a = await httpBackend("a");
  cleanup.push(() => a.close());
  const [statsPort, webPort, bPort] = await freePorts(3);
  const b = createServer((_q, r) => r.end("b")).listen(bPort, "127.0.0.1");
  await new Promise((r) => b.once("listening", r));
  const plb = await startPlb(`
server_retry = 1
timeout_cleanup = "30s"
[stats]
listen = "127.0.0.1:${statsPort}"
token = "${TOKEN}"
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${webPort}"]
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${bPort}"]
`);
  cleanup.push(() => plb.stop());
  const browser = await launchChromium();
  cleanup.push(() => browser.close());
  const page = await browser.newPage();
  await page.setViewport({ width: 1366, height: 768 });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`http://127.0.0.1:${statsPort}/`);
  const row = (port: number) => `section[data-service="web"] tr[data-server="127.0.0.1:${port}"]`;
  await page.waitForSelector(`${row(a.port)}[data-state="up"]`, { timeout: 15_000 });
  await page.waitForSelector(`${row(bPort)}[data-state="up"]`, { timeout: 15_000 });
  expect(await page.$eval("section[data-service=web] h2", (h) => h.textContent)).toContain(`127.0.0.1:${webPort}`);

  // b dies; the next request that meets it takes it down (server_retry 1), the page shows red.
  b.closeAllConnections();
  await new Promise((r) => b.close(r));
  for (let i = 0; i < 4; i++) await (await fetch(`http://127.0.0.1:${webPort}/`, { keepalive: false })).text();
  const t0 = Date.now();
  await page.waitForSelector(`${row(bPort)}[data-state="down"]`, { timeout: 15_000 });
  expect(Date.now() - t0).toBeLessThan(10_000); // the page refreshes itself every 2 s
  // (functions evaluated in the page: its globals, which this file's types do not know)
  const colour = await page.$eval(`${row(bPort)} .state`, (el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor);
  expect(colour).toBe("rgb(207, 34, 46)"); // red
  expect(await page.$eval(`${row(bPort)} .why`, (el) => el.textContent)).toMatch(/down: after 1 failure/);

  // With the token typed in, buttons appear; "drain" on a changes its state.
  expect(await page.$(`${row(a.port)} button[data-action="drain"]`)).toBeNull();
  await page.type("#token", TOKEN);
  await page.waitForSelector(`${row(a.port)} button[data-action="drain"]`, { timeout: 15_000 });
  await page.click(`${row(a.port)} button[data-action="drain"]`);
  await page.waitForSelector(`${row(a.port)}[data-state="drain"]`, { timeout: 15_000 });
  expect(plb.log()).toMatch(new RegExp(`admin: drain server 127\\.0\\.0\\.1:${a.port} of "web" by 127\\.0\\.0\\.1`));

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, "status-page-laptop.png"), fullPage: true });
  // A phone: readable without scrolling sideways.
  await page.setViewport({ width: 390, height: 844, isMobile: true });
  await Bun.sleep(100);
  await page.screenshot({ path: join(ARTIFACTS, "status-page-phone.png"), fullPage: true });
  expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
  // …and every server's state, failures and buttons are on screen (no table wider than the phone).
  expect(await page.evaluate('[...document.querySelectorAll("section")].every((s) => s.scrollWidth <= s.clientWidth + 1)')).toBe(true);
  expect(errors).toEqual([]);
}, 60_000);
