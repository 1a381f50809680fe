/**
 * `accept_proxy = true`: every accepted connection starts with a PROXY v1 or
 * v2 header from a front balancer (HAProxy's send-proxy, a cloud network
 * load balancer, another plb with client_address = "proxy-v…"). This stage
 * owns the socket between the accept and the protocol:
 *
 * - a peer outside `proxy_from` is closed at once, before a byte is read;
 * - the header is read as bytes arrive (split anywhere over reads) by the
 *   pure parser; a malformed one, a FIN before it is complete, or no
 *   complete header within `timeout_proxy_header` closes the connection;
 * - a PROXY command over TCP4/TCP6 makes its source (and destination) the
 *   client's address (client-address.ts); a LOCAL command, UNKNOWN, UNIX
 *   or UDP families keep the socket's own addresses, as HAProxy does (the
 *   front balancer's own health checks send LOCAL);
 * - then the protocol takes the socket over, and the bytes that came after
 *   the header are its first data.
 *
 * While it waits the connection counts against maxconn and is closed by a
 * stop, like any session; nothing is written to it. Refusals are published
 * (events.proxyRefused: metrics count them by reason) and logged: a peer
 * outside proxy_from at debug (anyone can connect), a bad or missing header
 * from a trusted balancer at info (a misconfigured front).
 */
import { events, type ProxyRefusal } from "../events.ts";
import { logEnabled, logger } from "../log.ts";
import type { AddressSet } from "./cidr.ts";
import { carryAddress } from "./client-address.ts";
import { handOver } from "./handlers.ts";
import { parseProxyHeader } from "./proxy-protocol.ts";
import type { Sweepable } from "./sweep.ts";
import type { Sock, SocketEvents } from "./types.ts";

const log = logger("proxy");

/** What an accept_proxy listener requires of its connections. */
export interface ProxyIntake {
  /** Peers allowed to send a PROXY header (proxy_from). */
  readonly from: AddressSet;
  /** Time for the whole header from the accept, ms. */
  readonly timeoutMs: number;
}

/** The service the connection belongs to, as this stage sees it. */
export interface ProxyOwner {
  readonly name: string;
  readonly removedAt: number;
  /** Count the connection against the limits, sweep it (deadline, stop). */
  track(s: Sweepable): void;
  untrack(s: Sweepable): void;
}

export class ProxyHeaderReader implements SocketEvents, Sweepable {
  sweepPrev: Sweepable | null = null;
  sweepNext: Sweepable | null = null;
  /** Header bytes so far (`store` grows geometrically: a header sent a byte at a time is not copied per byte). */
  private held = 0;
  private store: Uint8Array | undefined;
  private readonly due: number;
  private over = false;

  constructor(
    private readonly sock: Sock,
    readonly service: ProxyOwner,
    private readonly intake: ProxyIntake,
    /** The protocol takes the connection over (the carried address recorded already). */
    private readonly takeOver: (sock: Sock) => SocketEvents,
  ) {
    // The exact time, not the coarse clock (up to 50 ms old): the deadline must never come early.
    this.due = Date.now() + intake.timeoutMs;
  }

  onOpen(): void {
    const peer = this.sock.remoteAddress;
    // Reset before plb saw it (HAProxy's connect-only checks close with a RST at once): nobody to refuse.
    if (peer === undefined || peer === "") return void this.sock.end();
    if (!this.intake.from.has(peer)) return this.refuse("source", "not in proxy_from");
    this.service.track(this);
  }

  onData(data: Uint8Array): void {
    if (this.over) return;
    const buf = this.hold(data);
    const r = parseProxyHeader(buf);
    if (r.kind === "more") return;
    if (r.kind === "error") return this.refuse("header", `${r.reason} (byte ${r.pos})`);
    this.over = true;
    this.store = undefined;
    if (r.command === "PROXY" && (r.family === "TCP4" || r.family === "TCP6")) carryAddress(this.sock, r.src!, r.dst!);
    const next = this.takeOver(this.sock);
    // The session counts from its start: leave the limits only now (at maxconn, no pause and resume between).
    this.service.untrack(this);
    handOver(this.sock, next);
    next.onOpen?.();
    if (r.consumed < buf.length) next.onData(buf.subarray(r.consumed));
  }

  /** `data` appended to what is held; the header bytes so far. */
  private hold(data: Uint8Array): Uint8Array {
    if (this.held === 0 && this.store === undefined) {
      this.held = data.length;
      this.store = data;
      return data;
    }
    let store = this.store!;
    const need = this.held + data.length;
    if (need > store.length) {
      const grown = new Uint8Array(Math.max(256, 2 * need));
      grown.set(store.subarray(0, this.held));
      store = this.store = grown;
    }
    store.set(data, this.held);
    this.held = need;
    return store.subarray(0, need);
  }

  onDrain(): void {}

  onEnd(): void {
    if (this.over) return;
    if (this.held > 0) return this.refuse("header", "connection closed before the PROXY header was complete");
    // Connected and closed without a byte: a front balancer's TCP health check. Not a refusal.
    this.finish();
    this.sock.end();
  }

  onClose(): void {
    this.finish();
  }

  sweep(t: number): void {
    if (!this.over && t >= this.due) this.refuse("timeout", `no complete PROXY header within ${this.intake.timeoutMs} ms`);
  }

  /** Stopping: there is no work in hand to finish. */
  drain(): void {
    this.abort();
  }

  abort(): void {
    if (this.over) return;
    this.finish();
    this.sock.terminate();
  }

  retiredSince(): number {
    return this.service.removedAt;
  }

  private finish(): void {
    if (this.over) return;
    this.over = true;
    this.store = undefined;
    this.service.untrack(this);
  }

  private refuse(reason: ProxyRefusal, detail: string): void {
    if (this.over) return;
    this.finish();
    const level = reason === "source" ? "debug" : "info";
    if (logEnabled(level)) {
      const a = this.sock.remoteAddress ?? "";
      log[level](`service "${this.service.name}": closing the connection from ${a.includes(":") ? `[${a}]` : a}:${this.sock.remotePort}: ${detail}`);
    }
    if (events.proxyRefused.active) events.proxyRefused.publish({ service: this.service.name, reason });
    this.sock.end();
  }
}
