/**
 * One access log file: lines are buffered and written together, at most
 * every FLUSH_MS (or once 64 KiB wait), one asynchronous write in flight, so
 * traffic never waits for a disk. `flushNow` (at stop) writes what is left
 * synchronously. A failed write (full disk, file gone) is logged once until
 * a write succeeds again, and the lines it held are counted as dropped:
 * never an exception into a session. SIGUSR1 reopens the file by name (also
 * after the chroot: log-file.ts keeps its directory open).
 */
import { write, writeSync } from "node:fs";
import { LogFile } from "../log-file.ts";
import { logger } from "../log.ts";

const log = logger("access-log");
const FLUSH_MS = 1000;
const BUFFER = 64 << 10;
const MAX_PENDING = 8 << 20;

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

  /** `path` "-": standard error. Opens the file now (before any chroot); throws like fs.openSync. */
  constructor(readonly path: string) {
    this.file = path === "-" ? undefined : new LogFile(path);
  }

  private get fd(): number {
    return this.file?.fd ?? 2;
  }

  add(line: string): void {
    // At most 3 bytes per UTF-16 unit: flush first when it might not fit.
    if (this.used + line.length * 3 > this.buf.length) {
      this.flush();
      if (line.length * 3 > this.buf.length - this.used) return this.addBig(line);
    }
    this.used += this.buf.write(line, this.used);
    this.count++;
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, FLUSH_MS);
      this.timer.unref?.();
    }
  }

  /** A line larger than what is free (a huge request target): its own buffer, in order with the others. */
  private addBig(line: string): void {
    // A disk this slow (a write in flight and 8 MiB waiting) loses lines rather than memory.
    if (this.pendingBytes > MAX_PENDING) {
      this.dropped++;
      return;
    }
    // What the buffer holds came first: it goes ahead of the big line.
    if (this.used > 0) {
      this.pendingBig.push(Buffer.from(this.buf.subarray(0, this.used)));
      this.pendingBytes += this.used;
      this.used = 0;
    }
    const b = Buffer.from(line);
    this.pendingBig.push(b);
    this.pendingBytes += b.length;
    this.flush();
  }
  private pendingBytes = 0;
  /** Older than what `buf` holds: written first. */
  private pendingBig: Buffer[] = [];

  /** What waits, as one buffer (the writer gets a fresh one to fill). */
  private take(): Buffer | undefined {
    if (this.used === 0 && this.pendingBig.length === 0) return undefined;
    const out = this.pendingBig.length === 0 ? this.buf.subarray(0, this.used) : Buffer.concat([...this.pendingBig, this.buf.subarray(0, this.used)]);
    this.buf = Buffer.allocUnsafe(BUFFER);
    this.used = 0;
    this.count = 0;
    this.pendingBig = [];
    this.pendingBytes = 0;
    return out;
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

  /** Write what waits, without blocking (one write at a time). */
  flush(): void {
    if (this.writing) return;
    const lines = this.count;
    const buf = this.take();
    if (!buf) return;
    this.writing = true;
    write(this.fd, buf, 0, buf.length, null, (err, n) => {
      this.writing = false;
      if (err) this.failed(err, lines);
      else if (n < buf.length) this.failed(new Error(`short write (${n} of ${buf.length} bytes)`), lines);
      else this.succeeded();
      if (this.used > 0 || this.pendingBig.length > 0) this.flush();
    });
  }

  /** At stop: write what is left now. */
  flushNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const lines = this.count;
    const buf = this.take();
    if (!buf) return;
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
    } catch (err) {
      log.warn(`cannot reopen access log ${this.path}: ${(err as Error).message}; still writing to the file opened before`);
    }
  }

  close(): void {
    this.flushNow();
    this.file?.close();
  }
}
