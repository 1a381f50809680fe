/**
 * Headless Chromium for the browser tests, kept to loopback: no component
 * updates or background requests, and every host name resolves to nothing
 * unless `names` maps it (so no DNS query, and no connection, leaves the
 * machine: Chromium otherwise asks for update and account hosts at start).
 */
import puppeteer, { type Browser } from "puppeteer-core";

export async function launchChromium(opts: { names?: readonly string[]; args?: readonly string[] } = {}): Promise<Browser> {
  const maps = [...(opts.names ?? []).map((n) => `MAP ${n} 127.0.0.1`), "MAP * ~NOTFOUND", "EXCLUDE 127.0.0.1"];
  return puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-component-update", "--disable-background-networking", `--host-resolver-rules=${maps.join(", ")}`, ...(opts.args ?? [])],
  });
}
