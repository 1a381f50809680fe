import { expect, test } from "bun:test";
import { PlbError, exitCodeFor, type PlbErrorCode } from "../src/errors.ts";

test("a PlbError is an Error carrying its code, message, name and cause", () => {
  const cause = new Error("EADDRINUSE");
  const err = new PlbError("LISTEN_FAILED", "cannot listen on 127.0.0.1:80: address already in use", { cause });
  expect(err).toBeInstanceOf(Error);
  expect(err).toBeInstanceOf(PlbError);
  expect(err.code).toBe("LISTEN_FAILED");
  expect(err.message).toBe("cannot listen on 127.0.0.1:80: address already in use");
  expect(err.name).toBe("PlbError");
  expect(err.cause).toBe(cause);
  expect(String(err)).toBe("PlbError: cannot listen on 127.0.0.1:80: address already in use");
});

test("a PlbError made without options has no cause", () => {
  const err = new PlbError("NO_SERVER", "no server");
  expect(err.cause).toBeUndefined();
  expect("cause" in err).toBe(false);
});

test("configuration errors exit with status 1", () => {
  for (const code of ["CONFIG_SYNTAX", "CONFIG_INVALID", "CONFIG_READ"] as const) {
    expect(exitCodeFor(new PlbError(code, "bad"))).toBe(1);
  }
});

test("every other PlbError code exits with status 2", () => {
  const runtime: PlbErrorCode[] = [
    "LISTEN_FAILED",
    "PRIVILEGES",
    "PIDFILE",
    "DAEMON",
    "NO_SERVER",
    "CONNECT_TIMEOUT",
    "CONNECT_REFUSED",
    "UNREACHABLE",
    "RESOLVE",
    "FFI",
  ];
  for (const code of runtime) expect([code, exitCodeFor(new PlbError(code, "x"))]).toEqual([code, 2]);
});

test("errors that are not PlbErrors exit with status 2, even with a CONFIG-like code", () => {
  const lookalike = Object.assign(new Error("bad config"), { code: "CONFIG_SYNTAX" });
  expect(exitCodeFor(lookalike)).toBe(2);
  expect(exitCodeFor({ code: "CONFIG_INVALID" })).toBe(2);
  expect(exitCodeFor(new TypeError("x"))).toBe(2);
  expect(exitCodeFor("CONFIG_SYNTAX")).toBe(2);
  expect(exitCodeFor(undefined)).toBe(2);
  expect(exitCodeFor(null)).toBe(2);
});
