/** src/http/h2/streams.ts: the RFC 9113 §5.1 table (server side, no push) and the bounded memory of closed streams. */
import { describe, expect, test } from "bun:test";
import { CLOSED_MEMORY, CLOSED_MEMORY_MS, ClosedHow, ClosedStreams, localOpen, remoteOpen, StreamEvent as E, StreamState as S, transition } from "../src/http/h2/streams.ts";

describe("transitions", () => {
  const allowed: [S, E, S][] = [
    [S.Idle, E.RecvHeaders, S.Open],
    [S.Idle, E.RecvHeadersEnd, S.HalfClosedRemote],
    [S.Idle, E.Reset, S.Closed],
    [S.Open, E.RecvEnd, S.HalfClosedRemote],
    [S.Open, E.SendEnd, S.HalfClosedLocal],
    [S.Open, E.Reset, S.Closed],
    [S.HalfClosedLocal, E.RecvEnd, S.Closed],
    [S.HalfClosedLocal, E.Reset, S.Closed],
    [S.HalfClosedRemote, E.SendEnd, S.Closed],
    [S.HalfClosedRemote, E.Reset, S.Closed],
  ];
  test("every allowed transition, and nothing else", () => {
    for (const st of [S.Idle, S.Open, S.HalfClosedLocal, S.HalfClosedRemote, S.Closed])
      for (const ev of [E.RecvHeaders, E.RecvHeadersEnd, E.RecvEnd, E.SendEnd, E.Reset]) {
        const want = allowed.find(([a, b]) => a === st && b === ev)?.[2];
        expect([st, ev, transition(st, ev)]).toEqual([st, ev, want]);
      }
  });
  test("who may still send", () => {
    expect([S.Idle, S.Open, S.HalfClosedLocal, S.HalfClosedRemote, S.Closed].map((s) => [remoteOpen(s), localOpen(s)])).toEqual([
      [false, false], [true, true], [true, false], [false, true], [false, false],
    ]);
  });
});

describe("closed streams", () => {
  test("how a stream closed is remembered for CLOSED_MEMORY_MS", () => {
    const c = new ClosedStreams();
    c.record(1, ClosedHow.ResetBySelf, 1000);
    c.record(3, ClosedHow.Ended, 1000);
    c.record(5, ClosedHow.ResetByPeer, 1000);
    expect([c.recent(1, 1000), c.recent(3, 1000 + CLOSED_MEMORY_MS), c.recent(5, 2000), c.recent(7, 1000)]).toEqual([ClosedHow.ResetBySelf, ClosedHow.Ended, ClosedHow.ResetByPeer, undefined]);
    expect(c.recent(1, 1001 + CLOSED_MEMORY_MS)).toBeUndefined();
  });
  test("only the last CLOSED_MEMORY streams are kept, whatever the client does", () => {
    const c = new ClosedStreams();
    for (let id = 1; id < 2 * 10 * CLOSED_MEMORY; id += 2) c.record(id, ClosedHow.ResetBySelf, 5);
    expect(c.size).toBe(CLOSED_MEMORY);
    const last = 2 * 10 * CLOSED_MEMORY - 1;
    expect(c.recent(last, 5)).toBe(ClosedHow.ResetBySelf);
    expect(c.recent(last - 2 * (CLOSED_MEMORY - 1), 5)).toBe(ClosedHow.ResetBySelf);
    expect(c.recent(last - 2 * CLOSED_MEMORY, 5)).toBeUndefined();
  });
  test("a stream recorded twice keeps its latest close", () => {
    const c = new ClosedStreams();
    c.record(9, ClosedHow.ResetByPeer, 1);
    c.record(9, ClosedHow.Ended, 2);
    expect(c.recent(9, 2)).toBe(ClosedHow.Ended);
    for (let id = 11; id < 11 + 2 * (CLOSED_MEMORY - 1); id += 2) c.record(id, ClosedHow.Ended, 3);
    expect(c.recent(9, 3)).toBe(ClosedHow.Ended);
  });
});
