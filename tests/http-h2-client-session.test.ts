/**
 * src/http/h2/client-session.ts: the client side of plb's connections to h2
 * servers, against plb's own server session (session.ts) wired back to
 * back, and against raw frames for what a well-behaved server never sends.
 */
import { describe, expect, test } from "bun:test";
import { CLIENT_STREAM_WINDOW, type H2ClientHandler, H2ClientSession } from "../src/http/h2/client-session.ts";
import { FrameType } from "../src/http/h2/frames.ts";
import { createDecoder, createEncoder } from "../src/http/h2/hpack/index.ts";
import { H2Session } from "../src/http/h2/session.ts";
import { SettingId } from "../src/http/h2/settings.ts";
import { H2Error, type H2Handler, type HeaderList } from "../src/http/h2/types.ts";
import { concat, data, framesOf, goawayOf, LIMITS, raw, resets, rst, settings, settingsAck, u32, windowUpdate } from "./support/h2-wire.ts";

type Ev = [string, ...unknown[]];

/** A client session whose events are recorded and whose output is kept. */
function client(): { s: H2ClientSession; ev: Ev[]; out: Uint8Array[] } {
  const ev: Ev[] = [];
  const out: Uint8Array[] = [];
  const h: H2ClientHandler = {
    write: (b) => void out.push(b),
    onHeaders: (id, f, end) => void ev.push(["headers", id, f, end]),
    onStreamData: (id, d, end) => void ev.push(["data", id, new TextDecoder().decode(d), end]),
    onStreamReset: (id, code) => void ev.push(["reset", id, code]),
    onRefused: (id) => void ev.push(["refused", id]),
    onWindow: (id) => void ev.push(["window", id]),
    onSettings: () => void ev.push(["settings"]),
    onGoaway: (last, code) => void ev.push(["goaway", last, code]),
    onConnectionError: (code, reason) => void ev.push(["error", code, reason]),
  };
  return { s: new H2ClientSession(h, createDecoder(), createEncoder()), ev, out };
}

/** plb's client session and server session connected back to back (synchronously, in order). */
function pair() {
  const c = client();
  const sev: Ev[] = [];
  const toServer: Uint8Array[] = [];
  let server!: H2Session;
  const sh: H2Handler = {
    write: (b) => c.s.feed(b, 0),
    onRequest: (id, f, end) => void sev.push(["request", id, f, end]),
    onStreamData: (id, d, end) => {
      sev.push(["data", id, new TextDecoder().decode(d), end]);
      server.consumed(id, d.length);
    },
    onTrailers: (id, f) => void sev.push(["trailers", id, f]),
    onStreamReset: (id, code) => void sev.push(["reset", id, code]),
    onWindow: () => {},
    onGoaway: () => {},
    onConnectionError: (code, reason) => void sev.push(["error", code, reason]),
  };
  server = new H2Session(sh, { ...LIMITS, maxConcurrentStreams: 2 }, createDecoder(), createEncoder());
  const flush = () => {
    while (c.out.length > 0) toServer.push(...c.out.splice(0));
    for (const b of toServer.splice(0)) server.feed(b, 0);
  };
  c.s.start();
  server.start(0);
  flush();
  return { ...c, server, sev, flush };
}

const REQ: HeaderList = [":method", "POST", ":scheme", "http", ":path", "/svc/Call", ":authority", "app:50051", "content-type", "application/grpc", "te", "trailers"];

describe("against plb's server session", () => {
  test("preface and SETTINGS both ways; a request with DATA, then a response head, DATA and trailers", () => {
    const p = pair();
    expect(p.ev).toContainEqual(["settings"]);
    expect(p.s.maxStreams).toBe(2);
    const id = p.s.request(REQ, false);
    expect(id).toBe(1);
    expect(p.s.sendData(id, new TextEncoder().encode("hello"), true)).toBe(5);
    p.flush();
    expect(p.sev).toEqual([["request", 1, REQ, false], ["data", 1, "hello", true]]);
    p.server.respond(1, [":status", "200", "content-type", "application/grpc"], false);
    p.server.sendData(1, new TextEncoder().encode("world"), false);
    p.server.sendTrailers(1, ["grpc-status", "0", "grpc-message", "ok"]);
    expect(p.ev.filter((e) => e[0] !== "settings" && e[0] !== "window")).toEqual([
      ["headers", 1, [":status", "200", "content-type", "application/grpc"], false],
      ["data", 1, "world", false],
      ["headers", 1, ["grpc-status", "0", "grpc-message", "ok"], true],
    ]);
    expect(p.s.activeStreams).toBe(0);
  });

  test("the server's SETTINGS_MAX_CONCURRENT_STREAMS bounds what can be opened; a finished stream frees a place; ids go up by 2", () => {
    const p = pair();
    expect(p.s.request(REQ, true)).toBe(1);
    expect(p.s.request(REQ, true)).toBe(3);
    expect(p.s.canOpen).toBe(false);
    expect(p.s.request(REQ, true)).toBe(0);
    p.flush();
    p.server.respond(1, [":status", "204"], true);
    expect(p.s.canOpen).toBe(true);
    expect(p.s.request(REQ, true)).toBe(5);
  });

  test("flow control: sendData stops at the server's window and goes on after its WINDOW_UPDATE", () => {
    const p = pair();
    const id = p.s.request(REQ, false);
    const big = new Uint8Array(70_000).fill(0x61);
    const n = p.s.sendData(id, big, true);
    expect(n).toBe(65535);
    expect(p.s.sendWindow(id)).toBe(0);
    p.flush(); // the server consumes: its WINDOW_UPDATEs come back
    expect(p.ev.some((e) => e[0] === "window" && e[1] === id)).toBe(true);
    expect(p.s.sendData(id, big.subarray(n), true)).toBe(70_000 - 65535);
    p.flush();
    expect(p.sev.filter((e) => e[0] === "data").reduce((a, e) => a + (e[2] as string).length, 0)).toBe(70_000);
  });
});

describe("raw server frames", () => {
  /** A started client that has the server's (empty) SETTINGS and one open stream. */
  function opened() {
    const c = client();
    c.s.start();
    c.s.feed(settings(), 0);
    const id = c.s.request(REQ, false);
    c.out.length = 0;
    c.ev.length = 0;
    return { ...c, id };
  }
  const frames = (out: Uint8Array[]) => framesOf(concat(...out.splice(0)));

  test("start writes the preface, SETTINGS (no push, our window) and the connection WINDOW_UPDATE", () => {
    const c = client();
    c.s.start();
    const all = concat(...c.out);
    expect(new TextDecoder().decode(all.subarray(0, 24))).toBe("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    const fs = framesOf(all.subarray(24));
    expect(fs[0].type).toBe(FrameType.SETTINGS);
    const p = fs[0].type === FrameType.SETTINGS ? fs[0].payload : new Uint8Array();
    expect([...p.subarray(0, 6)]).toEqual([0, SettingId.ENABLE_PUSH, 0, 0, 0, 0]);
    expect([...p.subarray(6, 12)]).toEqual([0, SettingId.INITIAL_WINDOW_SIZE, ...u32(CLIENT_STREAM_WINDOW)]);
    expect(fs[1]).toMatchObject({ type: FrameType.WINDOW_UPDATE, streamId: 0 });
  });

  test("a frame before the server's SETTINGS is a connection error", () => {
    const c = client();
    c.s.start();
    c.s.feed(raw(FrameType.PING, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]), 0);
    expect(c.ev.at(-1)?.[0]).toBe("error");
    expect(c.s.closed).toBe(true);
  });

  test("SETTINGS are acknowledged; PUSH_PROMISE is a connection error PROTOCOL_ERROR", () => {
    const o = opened();
    o.s.feed(settings([SettingId.MAX_CONCURRENT_STREAMS, 10]), 0);
    expect(frames(o.out).some((f) => f.type === FrameType.SETTINGS && f.ack)).toBe(true);
    o.s.feed(raw(FrameType.PUSH_PROMISE, 4, 1, [0, 0, 0, 2]), 0);
    expect(goawayOf(frames(o.out))?.[1]).toBe(H2Error.PROTOCOL_ERROR);
    expect(o.ev.at(-1)?.slice(0, 2)).toEqual(["error", H2Error.PROTOCOL_ERROR]);
  });

  test("RST_STREAM from the server is told; DATA after it is ignored (and given back to the connection)", () => {
    const o = opened();
    o.s.feed(rst(o.id, H2Error.INTERNAL_ERROR), 0);
    expect(o.ev).toEqual([["reset", o.id, H2Error.INTERNAL_ERROR]]);
    o.s.feed(data(o.id, "late", false), 0);
    expect(o.ev).toHaveLength(1);
    expect(o.s.closed).toBe(false);
  });

  test("DATA on a stream never opened is a connection error; over the stream window a stream error FLOW_CONTROL_ERROR", () => {
    const o = opened();
    o.s.feed(data(o.id, "x".repeat(16384), false), 0);
    o.s.feed(concat(data(o.id, "x".repeat(16384), false), data(o.id, "x".repeat(16384), false), data(o.id, "x".repeat(16384), false), data(o.id, "x".repeat(16384), false)), 0);
    // 5 × 16384 > 65535: the window before our SETTINGS were acknowledged
    expect(resets(frames(o.out))).toEqual([[o.id, H2Error.FLOW_CONTROL_ERROR]]);
    expect(o.ev.at(-1)).toEqual(["reset", o.id, H2Error.FLOW_CONTROL_ERROR]);
    o.s.feed(data(9, "x", false), 0);
    expect(o.ev.at(-1)?.slice(0, 2)).toEqual(["error", H2Error.PROTOCOL_ERROR]);
  });

  test("GOAWAY: streams above its last id are refused (to retry elsewhere), lower ones go on; no new stream opens", () => {
    const c = client();
    c.s.start();
    c.s.feed(settings(), 0);
    const a = c.s.request(REQ, true);
    const b = c.s.request(REQ, true);
    c.s.feed(raw(FrameType.GOAWAY, 0, 0, [...u32(a), ...u32(H2Error.NO_ERROR)]), 0);
    expect(c.ev.filter((e) => e[0] === "refused" || e[0] === "goaway")).toEqual([["refused", b], ["goaway", a, H2Error.NO_ERROR]]);
    expect(c.s.canOpen).toBe(false);
    expect(c.s.request(REQ, true)).toBe(0);
    expect(c.s.activeStreams).toBe(1);
  });

  test("WINDOW_UPDATE opens a stream's send window; byte by byte input parses the same", () => {
    const o = opened();
    const big = new Uint8Array(70_000);
    expect(o.s.sendData(o.id, big, false)).toBe(65535);
    const wu = concat(windowUpdate(0, 10_000), windowUpdate(o.id, 10_000));
    for (let i = 0; i < wu.length; i++) o.s.feed(wu.subarray(i, i + 1), 0);
    expect(o.ev).toEqual([["window", 0], ["window", o.id]]);
    expect(o.s.sendWindow(o.id)).toBe(10_000);
    o.s.feed(settingsAck(), 0);
  });
});
