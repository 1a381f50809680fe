import { expect, test } from "bun:test";
import { startNginx } from "../../support/nginx.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";

test('client_address = "proxy-v2" on an http service: a real nginx (listen … proxy_protocol) sees the client\'s address', async () => {
  const [np, port] = await freePorts(2);
  const nginx = await startNginx(
    `server {
    listen 127.0.0.1:${np} proxy_protocol;
    location / { return 200 "client=$proxy_protocol_addr port=$proxy_protocol_port\\n"; }
  }`,
    np,
  );
  const plb = await startPlb(`
[[service]]
name = "pp-http"
protocol = "http"
client_address = "proxy-v2"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${np}"]
`);
  try {
    const curl = Bun.spawn(["curl", "-s", "--interface", "127.0.0.2", `http://127.0.0.1:${port}/a`, `http://127.0.0.1:${port}/b`], { stdout: "pipe" });
    const out = await new Response(curl.stdout).text();
    const lines = out.trim().split("\n");
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^client=127\.0\.0\.2 port=\d+$/);
  } finally {
    await plb.stop();
    await nginx.stop();
  }
});
