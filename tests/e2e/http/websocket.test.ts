import { expect, test } from "bun:test";
import { freePort } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";

test("a WebSocket upgrade becomes a tunnel: Bun's client and server echo text and binary through plb", async () => {
  const seenHeaders: Record<string, string | null> = {};
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      seenHeaders.upgrade = req.headers.get("upgrade");
      seenHeaders.xff = req.headers.get("x-forwarded-for");
      if (srv.upgrade(req)) return undefined;
      return new Response("not a websocket", { status: 400 });
    },
    websocket: {
      message(ws, msg) {
        ws.send(typeof msg === "string" ? `echo:${msg}` : msg);
      },
    },
  });
  const port = await freePort();
  const plb = await startPlb(`
[[service]]
name = "ws"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${server.port}"]
`);
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    const got: (string | ArrayBuffer)[] = [];
    ws.binaryType = "arraybuffer";
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("websocket error"));
    });
    const done = new Promise<void>((resolve) => {
      ws.onmessage = (e) => {
        got.push(e.data);
        if (got.length === 3) resolve();
      };
    });
    ws.send("hello");
    const big = new Uint8Array(300_000).map((_, i) => i & 0xff);
    ws.send(big);
    ws.send("bye");
    await done;
    expect(got[0]).toBe("echo:hello");
    expect(new Uint8Array(got[1] as ArrayBuffer)).toEqual(big);
    expect(got[2]).toBe("echo:bye");
    expect(seenHeaders.upgrade?.toLowerCase()).toBe("websocket");
    expect(seenHeaders.xff).toBe("127.0.0.1");
    const closed = new Promise<number>((r) => (ws.onclose = (e) => r(e.code)));
    ws.close(1000);
    expect(await closed).toBe(1000);
    // a plain request on the same service still works afterwards
    const res = await fetch(`http://127.0.0.1:${port}/plain`);
    expect(res.status).toBe(400);
    expect(await res.text()).toBe("not a websocket");
  } finally {
    await plb.stop();
    server.stop(true);
  }
});
