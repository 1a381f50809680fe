/**
 * One access log file: lines are encoded straight into a buffer (formats.ts,
 * line.ts: no string per line) and written together, at most every
 * FLUSH_MS (or once 64 KiB wait). `flushNow` (at stop) writes what is left.
 *
 * How a batch is written: to a regular file with one write(2) from the
 * event loop (64 KiB into the page cache take ~20 µs here), as nginx does;
 * Bun's asynchronous fs.write costs its thread pool several times that in
 * CPU per call (bench/repro/bun-async-write-cost.ts), which under a CPU
 * quota was a 5-8 % lower request rate. A write slower than SLOW_MS (a
 * stalled disk) switches the file to asynchronous writes (one in flight,
 * off the event loop) for SLOW_HOLD_MS, with a warning, so traffic does not
 * wait for that disk. Standard error and anything not a regular file (a
 * pipe whose reader may stop) is always written asynchronously. A failed write (full disk, file gone) is logged once until
 * a write succeeds again, and the lines it held are counted as dropped:
 * never an exception into a session. SIGUSR1 reopens the file by name (also
 * after the chroot: log-file.ts keeps its directory open).
 */
import { fstatSync, write, writeSync } from "node:fs";
import { LogFile } from "../log-file.ts";
import { logger } from "../log.ts";
import type { Format } from "./formats.ts";
import { LineEncoder } from "./line.ts";

const log = logger("access-log");
const FLUSH_MS = 1000;
const BUFFER = 64 << 10;
const MAX_PENDING = 8 << 20;
/** A synchronous write slower than this (ms; above a CPU quota's throttling stalls): asynchronous writes for SLOW_HOLD_MS. */
const SLOW_MS = 100;
const SLOW_HOLD_MS = 60_000;

export class AccessLogWriter {
  private readonly file: LogFile | undefined;
  /** Lines are encoded straight into this buffer (no join, no copy per flush). */
  private buf = Buffer.allocUnsafe(BUFFER);
  private used = 0;
  private count = 0;
  private writing = false;
  private failing = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Lines lost to failed writes. */
  dropped = 0;

  /** `path` "-": standard error. Opens the file now (before any chroot); throws like fs.openSync. `slowMs`: tests. */
  constructor(
    readonly path: string,
    private readonly slowMs = SLOW_MS,
  ) {
    this.file = path === "-" ? undefined : new LogFile(path);
    this.direct = this.regular();
  }

  /** Whether the next batch goes out asynchronously (not a regular file, or its disk was slow lately). */
  get offLoop(): boolean {
    return !this.direct || (this.asyncUntil !== 0 && Date.now() < this.asyncUntil);
  }

  /** Batches go out with one write(2) from the event loop (a regular file, not slow lately). */
  private direct: boolean;
  /** Date.now() until which writes stay asynchronous (a slow write was seen). */
  private asyncUntil = 0;

  private regular(): boolean {
    if (!this.file) return false;
    try {
      return fstatSync(this.file.fd).isFile();
    } catch {
      return false;
    }
  }

  private get fd(): number {
    return this.file?.fd ?? 2;
  }

  /** The line `format` makes of `e`, encoded straight into the buffer. */
  line<T>(format: Format<T>, e: T): void {
    const max = format.bound(e);
    if (this.used + max > this.buf.length && !this.makeRoom(max)) {
      this.dropped++;
      return;
    }
    if (max > this.buf.length) {
      // A line larger than the buffer (a huge request target): a buffer of its own, in order with the others.
      const big = Buffer.allocUnsafe(max);
      const out = new LineEncoder(big);
      format.encode(out, e);
      this.pendingBig.push(big.subarray(0, out.pos));
      this.pendingBytes += out.pos;
      this.pendingLines++;
      this.flush();
      return;
    }
    const out = this.out;
    out.buf = this.buf;
    out.pos = this.used;
    format.encode(out, e);
    this.used = out.pos;
    this.count++;
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, FLUSH_MS);
      this.timer.unref?.();
    }
  }

  /**
   * Room for `max` more bytes: write what waits; if a write is still in
   * flight, what the buffer holds queues behind it and a fresh buffer takes
   * the next lines. False (the line is lost) when a disk this slow already
   * has 8 MiB waiting: lines are lost rather than memory.
   */
  private makeRoom(max: number): boolean {
    this.flush();
    if (this.used + max <= this.buf.length) return true;
    if (this.pendingBytes > MAX_PENDING) return false;
    if (this.used > 0) {
      this.pendingBig.push(this.buf.subarray(0, this.used));
      this.pendingBytes += this.used;
      this.pendingLines += this.count;
      this.buf = Buffer.allocUnsafe(BUFFER);
      this.used = 0;
      this.count = 0;
    }
    return true;
  }
  private readonly out = new LineEncoder(this.buf);
  private pendingBytes = 0;
  private pendingLines = 0;
  /** Older than what `buf` holds: written first. */
  private pendingBig: Buffer[] = [];

  /** What waits, as one buffer, and its line count (the writer gets a fresh buffer to fill). */
  private take(): [Buffer, number] | undefined {
    if (this.used === 0 && this.pendingBig.length === 0) return undefined;
    const out = this.pendingBig.length === 0 ? this.buf.subarray(0, this.used) : Buffer.concat([...this.pendingBig, this.buf.subarray(0, this.used)]);
    const lines = this.count + this.pendingLines;
    this.buf = Buffer.allocUnsafe(BUFFER);
    this.used = 0;
    this.count = 0;
    this.pendingBig = [];
    this.pendingBytes = 0;
    this.pendingLines = 0;
    return [out, lines];
  }

  private failed(err: unknown, lines: number): void {
    this.dropped += lines;
    if (this.failing) return;
    this.failing = true;
    log.error(`cannot write access log ${this.path}: ${(err as Error).message}; lines are dropped (and counted) until a write succeeds`);
  }

  private succeeded(): void {
    if (!this.failing) return;
    this.failing = false;
    log.warn(`access log ${this.path} is written again (${this.dropped} line(s) dropped so far)`);
  }

  /** Write what waits: at once to a regular file, else (or while its disk is slow) one asynchronous write at a time. */
  flush(): void {
    if (this.writing) return;
    const taken = this.take();
    if (!taken) return;
    const [buf, lines] = taken;
    if (!this.offLoop) return this.writeNow(buf, lines);
    this.writing = true;
    write(this.fd, buf, 0, buf.length, null, (err, n) => {
      this.writing = false;
      if (err) this.failed(err, lines);
      else if (n < buf.length) this.failed(new Error(`short write (${n} of ${buf.length} bytes)`), lines);
      else this.succeeded();
      if (this.used > 0 || this.pendingBig.length > 0) this.flush();
    });
  }

  /** One synchronous write of `buf`; a slow one sends the next writes off the event loop for a while. */
  private writeNow(buf: Buffer, lines: number): void {
    this.asyncUntil = 0;
    const t0 = performance.now();
    try {
      let n = 0;
      while (n < buf.length) n += writeSync(this.fd, buf, n, buf.length - n);
      this.succeeded();
    } catch (err) {
      this.failed(err, lines);
    }
    const took = performance.now() - t0;
    if (took > this.slowMs) {
      this.asyncUntil = Date.now() + SLOW_HOLD_MS;
      log.warn(`access log ${this.path}: a write took ${Math.round(took)} ms; writing off the event loop for the next ${SLOW_HOLD_MS / 1000} s`);
    }
  }

  /** At stop: write what is left now. */
  flushNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const taken = this.take();
    if (!taken) return;
    const [buf, lines] = taken;
    try {
      writeSync(this.fd, buf);
    } catch (err) {
      this.failed(err, lines);
    }
  }

  /** logrotate moved the file: open it again by name (a failure keeps the old one, with a warning). */
  reopen(): void {
    try {
      this.file?.reopen();
      this.direct = this.regular();
    } catch (err) {
      log.warn(`cannot reopen access log ${this.path}: ${(err as Error).message}; still writing to the file opened before`);
    }
  }

  close(): void {
    this.flushNow();
    this.file?.close();
  }
}
