/**
 * src/http/h2/session.ts against h2spec's cases (summerwind/h2spec, its
 * "http2" and "generic" groups, by section: each test names the case it
 * stands for), so that the integrated server passes h2spec. A connection
 * error is a GOAWAY with the code, `onConnectionError` and a closed
 * session; a stream error a RST_STREAM on that stream and nothing else.
 * Flow control, the carrier's submits and the choices h2spec leaves open
 * are in http-h2-session.test.ts, flood defenses in http-h2-floods.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { FrameType } from "../src/http/h2/frames.ts";
import { H2Error } from "../src/http/h2/types.ts";
import {
  alive, bytes, connError, continuation, data, GET, goawayOf, Harness, headers, literalBlock, ping, pingAcks, POST, PREFACE, priority, raw, resets, rst, setting, settings, settingsAck, settingsAcks, streamError, u32, windowUpdate,
} from "./support/h2-wire.ts";

describe("start and preface (h2spec 3.5)", () => {
  test("start writes our SETTINGS, and a connection WINDOW_UPDATE for a larger window; the ack clears settingsAckPendingSince", () => {
    const h = new Harness({ connectionWindowSize: 1 << 20, headerTableSize: 8192 });
    h.session.start(500);
    const fs = h.take();
    expect(fs[0]).toMatchObject({ type: FrameType.SETTINGS, ack: false });
    expect(fs[1]).toMatchObject({ type: FrameType.WINDOW_UPDATE, streamId: 0, increment: (1 << 20) - 65535 });
    expect(h.session.settingsAckPendingSince).toBe(500);
    h.feed(PREFACE, settings(), settingsAck());
    expect(h.session.settingsAckPendingSince).toBeUndefined();
    expect(h.decoder.maxTableSizes).toEqual([8192]);
    expect(settingsAcks(h.take())).toBe(1);
  });

  test("no WINDOW_UPDATE when the connection window is the default", () => {
    const h = new Harness();
    h.session.start(0);
    expect(h.take().map((f) => f.type)).toEqual([FrameType.SETTINGS]);
  });

  test("Sends client connection preface (one octet at a time, then a request)", () => {
    const h = new Harness();
    h.session.start(0);
    h.take();
    h.feedBytewise(PREFACE, settings(), headers(1, GET, true));
    expect(h.events).toEqual([{ e: "request", id: 1, fields: GET, end: true }]);
  });

  test("Sends invalid connection preface: GOAWAY PROTOCOL_ERROR", () => {
    const h = new Harness();
    h.session.start(0);
    h.take();
    h.feed(bytes("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"));
    connError(h, H2Error.PROTOCOL_ERROR);
  });

  test("an HTTP/1.1 request instead of the preface: the same connection error at its first octet", () => {
    const h = new Harness();
    h.feed(bytes("GET / HTTP/1.1\r\n"));
    connError(h, H2Error.PROTOCOL_ERROR);
    expect(h.events.at(-1)).toMatchObject({ reason: expect.stringContaining("octet 0") });
  });

  test("the first frame after the preface must be SETTINGS", () => {
    const h = new Harness();
    h.feed(PREFACE, ping());
    connError(h, H2Error.PROTOCOL_ERROR);
    const g = new Harness();
    g.feed(PREFACE, settingsAck());
    connError(g, H2Error.PROTOCOL_ERROR);
  });

  test("nothing is read or written after a connection error", () => {
    const h = new Harness().open();
    h.feed(raw(FrameType.PING, 0, 1, new Uint8Array(8)));
    connError(h, H2Error.PROTOCOL_ERROR);
    h.feed(ping(), headers(1, GET, true));
    h.session.goaway(H2Error.NO_ERROR);
    expect(h.take()).toEqual([]);
    expect(h.events.filter((e) => e.e === "request")).toEqual([]);
  });
});

describe("frame format and size (h2spec 4)", () => {
  test("4.1 unknown type, undefined flag, reserved bit: ignored", () => {
    const h = new Harness().open();
    h.feed(raw(0x20, 0, 0, [1, 2, 3]), raw(FrameType.PING, 0x16, 0, [1, 1, 1, 1, 1, 1, 1, 1]), raw(FrameType.PING, 0, 0x80000000, [2, 2, 2, 2, 2, 2, 2, 2]));
    expect(pingAcks(h.take())).toBe(2);
    expect(h.session.closed).toBe(false);
  });

  test("4.2 a DATA frame of 2^14 octets is read", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false), data(1, new Uint8Array(16384), true));
    expect(h.events.map((e) => e.e)).toEqual(["request", "data"]);
  });

  test("4.2 DATA over SETTINGS_MAX_FRAME_SIZE: FRAME_SIZE_ERROR", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false), data(1, new Uint8Array(16385), true));
    connError(h, H2Error.FRAME_SIZE_ERROR);
  });

  test("4.2 HEADERS over SETTINGS_MAX_FRAME_SIZE: connection FRAME_SIZE_ERROR", () => {
    const h = new Harness().open();
    h.feed(headers(1, [...GET, "x-big", "a".repeat(16400)], true));
    connError(h, H2Error.FRAME_SIZE_ERROR);
  });

  test("4.3 invalid header block fragment: COMPRESSION_ERROR", () => {
    const h = new Harness().open();
    h.feed(raw(FrameType.HEADERS, 5, 1, [0x00, 0x85, 1]));
    connError(h, H2Error.COMPRESSION_ERROR);
  });

  test("4.3 PRIORITY while sending the header blocks: PROTOCOL_ERROR", () => {
    const h = new Harness().open();
    h.feed(raw(FrameType.HEADERS, 1, 1, literalBlock(GET)), priority(1, 0));
    connError(h, H2Error.PROTOCOL_ERROR);
  });

  test("4.3 HEADERS to another stream while sending the header blocks: PROTOCOL_ERROR", () => {
    const h = new Harness().open();
    h.feed(raw(FrameType.HEADERS, 1, 1, literalBlock(GET)), headers(3, GET, true));
    connError(h, H2Error.PROTOCOL_ERROR);
  });
});

describe("stream states (h2spec 5.1)", () => {
  for (const [name, frame] of [
    ["DATA", data(1, "x", true)],
    ["RST_STREAM", rst(1, H2Error.CANCEL)],
    ["WINDOW_UPDATE", windowUpdate(1, 100)],
    ["CONTINUATION", continuation(1, GET, true)],
  ] as const)
    test(`idle: Sends a ${name} frame: PROTOCOL_ERROR`, () => {
      const h = new Harness().open();
      h.feed(frame);
      connError(h, H2Error.PROTOCOL_ERROR);
    });

  test("half closed (remote): Sends a DATA frame: stream STREAM_CLOSED, and the carrier is told", () => {
    const h = new Harness().open();
    h.feed(headers(1, GET, true), data(1, "test", true));
    streamError(h, 1, H2Error.STREAM_CLOSED);
    expect(h.events.at(-1)).toEqual({ e: "reset", id: 1, code: H2Error.STREAM_CLOSED });
    alive(h);
  });

  test("half closed (remote): Sends a HEADERS frame: stream STREAM_CLOSED", () => {
    const h = new Harness().open();
    h.feed(headers(1, GET, true), headers(1, GET, true));
    streamError(h, 1, H2Error.STREAM_CLOSED);
    expect(h.decoder.blocks).toBe(2);
  });

  test("half closed (remote): Sends a CONTINUATION frame: PROTOCOL_ERROR", () => {
    const h = new Harness().open();
    h.feed(headers(1, GET, true), continuation(1, GET, true));
    connError(h, H2Error.PROTOCOL_ERROR);
  });

  test("closed: DATA after sending RST_STREAM: stream STREAM_CLOSED", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false), rst(1, H2Error.CANCEL));
    expect(h.events.at(-1)).toEqual({ e: "reset", id: 1, code: H2Error.CANCEL });
    h.feed(data(1, "test", true));
    streamError(h, 1, H2Error.STREAM_CLOSED);
  });

  test("closed: HEADERS after sending RST_STREAM: STREAM_CLOSED", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false), rst(1, H2Error.CANCEL), headers(1, GET, true));
    connError(h, H2Error.STREAM_CLOSED);
  });

  test("closed: CONTINUATION after sending RST_STREAM: PROTOCOL_ERROR", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false), rst(1, H2Error.CANCEL), continuation(1, ["x-a", "b"], true));
    connError(h, H2Error.PROTOCOL_ERROR);
  });

  function ended(): Harness {
    const h = new Harness().open();
    h.feed(headers(1, GET, true));
    h.session.respond(1, [":status", "200"], true);
    expect(h.session.activeStreams).toBe(0);
    h.take();
    return h;
  }
  test("closed: Sends a DATA frame: stream STREAM_CLOSED", () => {
    const h = ended();
    h.feed(data(1, "test", true));
    streamError(h, 1, H2Error.STREAM_CLOSED);
  });
  test("closed: Sends a HEADERS frame: connection STREAM_CLOSED", () => {
    const h = ended();
    h.feed(headers(1, GET, true));
    connError(h, H2Error.STREAM_CLOSED);
  });
  test("closed: Sends a CONTINUATION frame: PROTOCOL_ERROR", () => {
    const h = ended();
    h.feed(continuation(1, GET, true));
    connError(h, H2Error.PROTOCOL_ERROR);
  });

  test("5.1.1 even-numbered stream identifier: PROTOCOL_ERROR", () => {
    const h = new Harness().open();
    h.feed(headers(2, GET, true));
    connError(h, H2Error.PROTOCOL_ERROR);
  });

  test("5.1.1 even (server) streams are idle forever: DATA, WINDOW_UPDATE, RST_STREAM there are PROTOCOL_ERRORs, a stream error there a connection error", () => {
    for (const frame of [data(2, "x", true), windowUpdate(2, 1), rst(2, H2Error.CANCEL)]) {
      const h = new Harness().open();
      h.feed(headers(3, GET, true), frame);
      connError(h, H2Error.PROTOCOL_ERROR);
    }
    const h = new Harness().open();
    h.feed(headers(3, GET, true), priority(2, 2));
    const fs = h.take();
    expect(goawayOf(fs)?.[1]).toBe(H2Error.PROTOCOL_ERROR);
    expect(resets(fs)).toEqual([]);
  });

  test("5.1.1 stream identifier smaller than previous: PROTOCOL_ERROR", () => {
    const h = new Harness().open();
    h.feed(headers(5, GET, true), headers(3, GET, true));
    connError(h, H2Error.PROTOCOL_ERROR);
  });

  test("5.1.2 over the advertised concurrent stream limit: REFUSED_STREAM, the block still decoded", () => {
    const h = new Harness({ maxConcurrentStreams: 2 }).open();
    h.feed(settingsAck(), headers(1, GET, true), headers(3, GET, true), headers(5, GET, true));
    streamError(h, 5, H2Error.REFUSED_STREAM);
    expect(h.events.filter((e) => e.e === "request").map((e) => e.e === "request" && e.id)).toEqual([1, 3]);
    expect(h.decoder.blocks).toBe(3);
    h.session.respond(1, [":status", "204"], true);
    h.feed(headers(7, GET, true));
    expect(h.events.at(-1)).toMatchObject({ e: "request", id: 7 });
  });
});

describe("priority, errors, extensions (h2spec 5.3 - 5.5)", () => {
  test("5.3.1 HEADERS that depends on itself: stream PROTOCOL_ERROR", () => {
    const h = new Harness().open();
    h.feed(raw(FrameType.HEADERS, 0x25, 1, [...u32(1), 15, ...literalBlock(GET)]));
    streamError(h, 1, H2Error.PROTOCOL_ERROR);
    expect(h.events).toEqual([]);
  });

  test("5.3.1 PRIORITY that depends on itself: stream PROTOCOL_ERROR", () => {
    const h = new Harness().open();
    h.feed(priority(1, 1));
    streamError(h, 1, H2Error.PROTOCOL_ERROR);
  });

  test("5.4.1 an invalid PING: GOAWAY PROTOCOL_ERROR with the last processed stream", () => {
    const h = new Harness().open();
    h.feed(headers(3, GET, true), raw(FrameType.PING, 0, 3, new Uint8Array(8)));
    const fs = h.take();
    expect(goawayOf(fs)).toEqual([3, H2Error.PROTOCOL_ERROR]);
  });

  test("5.5 unknown extension frame: ignored; inside a header block: PROTOCOL_ERROR", () => {
    const h = new Harness().open();
    h.feed(raw(0xff, 0, 0, [1, 2]));
    alive(h);
    h.feed(raw(FrameType.HEADERS, 1, 1, literalBlock(GET)), raw(0xff, 0, 0, [1, 2]));
    connError(h, H2Error.PROTOCOL_ERROR);
  });
});

describe("frame definitions (h2spec 6)", () => {
  const conn: [string, () => Uint8Array[], H2Error][] = [
    ["6.1 DATA with stream 0", () => [data(0, "x", true)], H2Error.PROTOCOL_ERROR],
    ["6.1 DATA with invalid pad length", () => [headers(1, POST(), false), raw(FrameType.DATA, 0x9, 1, [6, 1, 2, 3, 4, 5])], H2Error.PROTOCOL_ERROR],
    ["6.2 HEADERS without END_HEADERS, then PRIORITY", () => [raw(FrameType.HEADERS, 1, 1, literalBlock(GET)), priority(1, 0)], H2Error.PROTOCOL_ERROR],
    ["6.2 HEADERS to another stream while sending a HEADERS", () => [raw(FrameType.HEADERS, 1, 1, literalBlock(GET)), headers(3, GET, true)], H2Error.PROTOCOL_ERROR],
    ["6.2 HEADERS with stream 0", () => [headers(0, GET, true)], H2Error.PROTOCOL_ERROR],
    ["6.2 HEADERS with invalid pad length", () => [raw(FrameType.HEADERS, 0xd, 1, [200, ...literalBlock(GET)])], H2Error.PROTOCOL_ERROR],
    ["6.3 PRIORITY with stream 0", () => [priority(0, 1)], H2Error.PROTOCOL_ERROR],
    ["6.4 RST_STREAM with stream 0", () => [rst(0, H2Error.CANCEL)], H2Error.PROTOCOL_ERROR],
    ["6.4 RST_STREAM on an idle stream", () => [rst(1, H2Error.CANCEL)], H2Error.PROTOCOL_ERROR],
    ["6.4 RST_STREAM of 3 octets", () => [headers(1, GET, true), raw(FrameType.RST_STREAM, 0, 1, [0, 0, 8])], H2Error.FRAME_SIZE_ERROR],
    ["6.5 SETTINGS ACK with a payload", () => [raw(FrameType.SETTINGS, 1, 0, setting(1, 0))], H2Error.FRAME_SIZE_ERROR],
    ["6.5 SETTINGS with a stream id", () => [raw(FrameType.SETTINGS, 0, 1, setting(1, 0))], H2Error.PROTOCOL_ERROR],
    ["6.5 SETTINGS of 3 octets", () => [raw(FrameType.SETTINGS, 0, 0, [0, 3, 0])], H2Error.FRAME_SIZE_ERROR],
    ["6.5.2 SETTINGS_ENABLE_PUSH 2", () => [settings([2, 2])], H2Error.PROTOCOL_ERROR],
    ["6.5.2 SETTINGS_INITIAL_WINDOW_SIZE 2^31", () => [settings([4, 2 ** 31])], H2Error.FLOW_CONTROL_ERROR],
    ["6.5.2 SETTINGS_MAX_FRAME_SIZE 16383", () => [settings([5, 16383])], H2Error.PROTOCOL_ERROR],
    ["6.5.2 SETTINGS_MAX_FRAME_SIZE 2^24", () => [settings([5, 2 ** 24])], H2Error.PROTOCOL_ERROR],
    ["6.7 PING with a stream id", () => [raw(FrameType.PING, 0, 1, new Uint8Array(8))], H2Error.PROTOCOL_ERROR],
    ["6.7 PING of 6 octets", () => [raw(FrameType.PING, 0, 0, new Uint8Array(6))], H2Error.FRAME_SIZE_ERROR],
    ["6.8 GOAWAY with a stream id", () => [raw(FrameType.GOAWAY, 0, 1, new Uint8Array(8))], H2Error.PROTOCOL_ERROR],
    ["6.9 WINDOW_UPDATE of 0 on the connection", () => [windowUpdate(0, 0)], H2Error.PROTOCOL_ERROR],
    ["6.9 WINDOW_UPDATE of 3 octets", () => [raw(FrameType.WINDOW_UPDATE, 0, 0, [0, 0, 1])], H2Error.FRAME_SIZE_ERROR],
    ["6.9.1 WINDOW_UPDATEs raising the connection window over 2^31-1", () => [windowUpdate(0, 2 ** 31 - 1)], H2Error.FLOW_CONTROL_ERROR],
    ["6.9.2 SETTINGS_INITIAL_WINDOW_SIZE over the maximum", () => [settings([4, 2 ** 31])], H2Error.FLOW_CONTROL_ERROR],
    ["6.10 CONTINUATION followed by another frame", () => [raw(FrameType.HEADERS, 1, 1, literalBlock(GET.slice(0, 4))), continuation(1, GET.slice(4), false), data(1, "x", true)], H2Error.PROTOCOL_ERROR],
    ["6.10 CONTINUATION with stream 0", () => [raw(FrameType.HEADERS, 1, 1, literalBlock(GET.slice(0, 4))), continuation(0, GET.slice(4), true)], H2Error.PROTOCOL_ERROR],
    ["6.10 CONTINUATION after HEADERS with END_HEADERS", () => [headers(1, GET, true), continuation(1, ["x-a", "b"], true)], H2Error.PROTOCOL_ERROR],
    ["6.10 CONTINUATION after CONTINUATION with END_HEADERS", () => [raw(FrameType.HEADERS, 1, 1, literalBlock(GET.slice(0, 4))), continuation(1, GET.slice(4), true), continuation(1, ["x-a", "b"], true)], H2Error.PROTOCOL_ERROR],
    ["6.10 CONTINUATION after DATA", () => [headers(1, POST(), false), data(1, "x", false), continuation(1, ["x-a", "b"], true)], H2Error.PROTOCOL_ERROR],
    ["8.2 PUSH_PROMISE from the client", () => [raw(FrameType.PUSH_PROMISE, 4, 1, [0, 0, 0, 2, ...literalBlock(GET)])], H2Error.PROTOCOL_ERROR],
  ];
  for (const [name, frames, code] of conn)
    test(`${name}: connection error ${code}`, () => {
      const h = new Harness().open();
      h.feed(...frames());
      connError(h, code);
    });

  test("6.3 PRIORITY of 4 octets: stream FRAME_SIZE_ERROR", () => {
    const h = new Harness().open();
    h.feed(headers(1, GET, true), raw(FrameType.PRIORITY, 0, 1, [0x80, 0, 0, 1]));
    streamError(h, 1, H2Error.FRAME_SIZE_ERROR);
    alive(h);
  });

  test("6.5.2 an unknown SETTINGS id is ignored", () => {
    const h = new Harness().open();
    h.feed(settings([0xff, 1]));
    expect(settingsAcks(h.take())).toBe(1);
    alive(h);
  });

  test("6.5.3 SETTINGS without ACK: acknowledged; multiple INITIAL_WINDOW_SIZE: the last applies", () => {
    const h = new Harness().open();
    h.feed(headers(1, GET, true));
    h.feed(settings([4, 100], [4, 1]));
    expect(settingsAcks(h.take())).toBe(1);
    expect(h.session.sendWindow(1)).toBe(1);
  });

  test("6.7 PING: ack with the same payload; a PING with ACK: no answer", () => {
    const h = new Harness().open();
    h.feed(ping([1, 2, 3, 4, 5, 6, 7, 8], true));
    expect(h.take()).toEqual([]);
    h.feed(ping([9, 9, 9, 9, 9, 9, 9, 1]));
    const [f] = h.take();
    expect(f.type === FrameType.PING && [f.ack, [...f.opaque]]).toEqual([true, [9, 9, 9, 9, 9, 9, 9, 1]]);
  });

  test("6.9 WINDOW_UPDATE of 0 on a stream: stream PROTOCOL_ERROR", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false), windowUpdate(1, 0));
    streamError(h, 1, H2Error.PROTOCOL_ERROR);
  });

  test("6.9.1 WINDOW_UPDATEs raising a stream window over 2^31-1: stream FLOW_CONTROL_ERROR", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false), windowUpdate(1, 2 ** 31 - 1));
    streamError(h, 1, H2Error.FLOW_CONTROL_ERROR);
  });

  test("6.9.1 initial window 1: sendData sends one octet at a time", () => {
    const h = new Harness().open(settings([4, 1]));
    h.feed(headers(1, GET, true));
    h.session.respond(1, [":status", "200"], false);
    expect(h.session.sendData(1, bytes("hello"), true)).toBe(1);
    const fs = h.take();
    expect(fs.map((f) => f.type)).toEqual([FrameType.HEADERS, FrameType.DATA]);
    expect(fs[1]).toMatchObject({ flowLength: 1, endStream: false });
    expect(h.session.sendData(1, bytes("ello"), true)).toBe(0);
    h.feed(windowUpdate(1, 4));
    expect(h.events.at(-1)).toEqual({ e: "window", id: 1 });
    expect(h.session.sendData(1, bytes("ello"), true)).toBe(4);
    expect(h.take()[0]).toMatchObject({ type: FrameType.DATA, flowLength: 4, endStream: true });
    expect(h.session.activeStreams).toBe(0);
  });

  test("6.9.2 SETTINGS_INITIAL_WINDOW_SIZE changed after HEADERS, and to a negative window", () => {
    const h = new Harness().open();
    h.feed(headers(1, GET, true));
    h.session.respond(1, [":status", "200"], false);
    expect(h.session.sendData(1, new Uint8Array(1000), false)).toBe(1000);
    h.feed(settings([4, 10]));
    expect(h.session.sendWindow(1)).toBe(0); // 10 - 1000 < 0
    h.feed(settings([4, 2000]));
    expect(h.session.sendWindow(1)).toBe(1000);
    expect(h.events.at(-1)).toEqual({ e: "window", id: 1 });
    expect(h.session.closed).toBe(false);
  });

  test("6.9.2 SETTINGS_INITIAL_WINDOW_SIZE pushing a stream window over 2^31-1: FLOW_CONTROL_ERROR", () => {
    const h = new Harness().open();
    h.feed(headers(1, GET, true), windowUpdate(1, 2 ** 31 - 1 - 65535));
    h.feed(settings([4, 65536]));
    connError(h, H2Error.FLOW_CONTROL_ERROR);
  });

  test("6.10 multiple CONTINUATION frames: one request", () => {
    const h = new Harness().open();
    h.feed(raw(FrameType.HEADERS, 1, 1, literalBlock(GET.slice(0, 2))), continuation(1, GET.slice(2, 4), false), continuation(1, GET.slice(4), true));
    expect(h.events).toEqual([{ e: "request", id: 1, fields: GET, end: true }]);
  });

  test("7 GOAWAY and RST_STREAM with unknown error codes: no special behaviour", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false), rst(1, 0xff), raw(FrameType.GOAWAY, 0, 0, [...u32(0), ...u32(0xff)]));
    expect(h.events.slice(1)).toEqual([{ e: "reset", id: 1, code: 0xff as H2Error }, { e: "goaway", last: 0, code: 0xff as H2Error }]);
    alive(h);
  });
});

describe("HTTP message exchanges (h2spec 8)", () => {
  const malformed: [string, string[]][] = [
    ["unknown pseudo-header", [...GET, ":foo", "bar"].slice(0)],
    ["pseudo-header for responses", [":status", "200", ...GET]],
    ["pseudo-header after a regular field", [":method", "GET", ":scheme", "https", "x-a", "b", ":path", "/"]],
    ["connection-specific field", [...GET, "connection", "keep-alive"]],
    ["te other than trailers", [...GET, "te", "trailers, deflate"]],
    ["empty :path", [":method", "GET", ":scheme", "https", ":path", "", ":authority", "a"]],
    ["no :method", GET.slice(2)],
    ["no :scheme", [":method", "GET", ":path", "/", ":authority", "a"]],
    ["no :path", [":method", "GET", ":scheme", "https", ":authority", "a"]],
    ["duplicated :method", [":method", "GET", ...GET]],
    ["duplicated :scheme", [":scheme", "https", ...GET]],
    ["duplicated :path", [":path", "/", ...GET]],
    ["uppercase field name", [...GET, "X-Test", "ok"]],
  ];
  for (const [name, fields] of malformed)
    test(`8.1.2 ${name}: stream PROTOCOL_ERROR, never reaches the carrier`, () => {
      const h = new Harness().open();
      h.feed(headers(1, fields, true));
      streamError(h, 1, H2Error.PROTOCOL_ERROR);
      expect(h.events).toEqual([]);
      h.feed(headers(3, GET, true));
      expect(h.events).toEqual([{ e: "request", id: 3, fields: GET, end: true }]);
    });

  test("8.1.2.1 pseudo-header in trailers: stream PROTOCOL_ERROR", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false), data(1, "x", false), headers(1, [":method", "GET"], true));
    streamError(h, 1, H2Error.PROTOCOL_ERROR);
    expect(h.events.at(-1)).toEqual({ e: "reset", id: 1, code: H2Error.PROTOCOL_ERROR });
  });

  test("8.1 a second HEADERS without END_STREAM: stream PROTOCOL_ERROR", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(), false), headers(1, ["x-t", "1"], false));
    streamError(h, 1, H2Error.PROTOCOL_ERROR);
  });

  test("8.1.2.6 content-length unlike the DATA length (one frame, several frames, none): stream PROTOCOL_ERROR", () => {
    for (const frames of [[data(1, "tes", true)], [data(1, "te", false), data(1, "s", true)], [data(1, "testing", false)]]) {
      const h = new Harness().open();
      h.feed(headers(1, POST(["content-length", "4"]), false), ...frames);
      streamError(h, 1, H2Error.PROTOCOL_ERROR);
    }
    const h = new Harness().open();
    h.feed(headers(1, POST(["content-length", "4"]), true));
    streamError(h, 1, H2Error.PROTOCOL_ERROR);
    const t = new Harness().open();
    t.feed(headers(1, POST(["content-length", "4"]), false), data(1, "te", false), headers(1, ["x-t", "1"], true));
    streamError(t, 1, H2Error.PROTOCOL_ERROR);
  });

  test("generic 4: a POST with trailers", () => {
    const h = new Harness().open();
    h.feed(headers(1, POST(["content-length", "4"]), false), data(1, "te", false), raw(FrameType.DATA, 0x8, 1, [2, ...bytes("st"), 0, 0]), headers(1, ["x-sum", "9"], true));
    expect(h.events).toEqual([
      { e: "request", id: 1, fields: POST(["content-length", "4"]), end: false },
      { e: "data", id: 1, data: "te", end: false },
      { e: "data", id: 1, data: "st", end: false },
      { e: "trailers", id: 1, fields: ["x-sum", "9"] },
    ]);
    h.session.respond(1, [":status", "200"], false);
    h.session.sendTrailers(1, ["grpc-status", "0"]);
    expect(h.take().map((f) => f.type === FrameType.HEADERS && f.endStream)).toEqual([false, true]);
    expect(h.session.activeStreams).toBe(0);
  });
});

describe("generic cases (h2spec generic)", () => {
  test("PRIORITY on idle, half-closed (remote) and closed streams; HEADERS with priority; a lower id after a PRIORITY on a higher one", () => {
    const h = new Harness().open();
    h.feed(priority(9, 0), priority(7, 0, 255), raw(FrameType.HEADERS, 0x25, 1, [...u32(0x80000003), 255, ...literalBlock(GET)]), priority(1, 0));
    h.session.respond(1, [":status", "200"], true);
    h.feed(priority(1, 3), headers(3, GET, true));
    expect(h.events.map((e) => e.e === "request" && e.id)).toEqual([1, 3]);
    expect(resets(h.take())).toEqual([]);
  });

  test("WINDOW_UPDATE and RST_STREAM on a half-closed (remote) stream; RST_STREAM ends it for the carrier", () => {
    const h = new Harness().open();
    h.feed(headers(1, GET, true), windowUpdate(1, 10), windowUpdate(0, 10));
    expect(h.events.slice(1)).toEqual([{ e: "window", id: 1 }, { e: "window", id: 0 }]);
    h.feed(rst(1, H2Error.CANCEL));
    expect(h.events.at(-1)).toEqual({ e: "reset", id: 1, code: H2Error.CANCEL });
    expect(h.session.activeStreams).toBe(0);
    h.session.respond(1, [":status", "200"], true);
    expect(h.session.sendData(1, bytes("x"), true)).toBe(0);
    expect(h.take()).toEqual([]);
  });

  test("HEADERS with padding, and with padding and priority: requests", () => {
    const h = new Harness().open();
    h.feed(raw(FrameType.HEADERS, 0x0d, 1, [4, ...literalBlock(GET), 0, 0, 0, 0]), raw(FrameType.HEADERS, 0x2d, 3, [2, ...u32(1), 99, ...literalBlock(GET), 0, 0]));
    expect(h.events).toEqual([{ e: "request", id: 1, fields: GET, end: true }, { e: "request", id: 3, fields: GET, end: true }]);
  });

  test("GOAWAY from the client reaches the carrier", () => {
    const h = new Harness().open();
    h.feed(raw(FrameType.GOAWAY, 0, 0, [...u32(0), ...u32(0), ...bytes("h2spec")]));
    expect(h.events).toEqual([{ e: "goaway", last: 0, code: H2Error.NO_ERROR }]);
  });
});
