/**
 * Lifecycle events, in the spirit of undici's diagnostics_channel: sessions
 * publish what happens (a session starts and ends, a server connect, an
 * http request done) on named channels; metrics, stats and access logs
 * subscribe. Session code knows no subscriber.
 *
 * Nothing is built for nobody: a publisher checks `channel.active` (a plain
 * field) before it makes an event object or reads a clock, so with nothing
 * subscribed an event costs one property load and a branch.
 *
 * An event object is the subscriber's only during the call: copy what you
 * keep (request events, one per http request, reuse one object).
 */
import type { ProtocolName } from "./protocol-names.ts";
import type { Outcome } from "./servers/server.ts";

export class Channel<T> {
  /** Someone listens: build and publish the event. */
  active = false;
  private subscribers: ((event: T) => void)[] = [];

  constructor(readonly name: string) {}

  /** Told of every event from now on; returns the unsubscribe. */
  subscribe(fn: (event: T) => void): () => void {
    this.subscribers = [...this.subscribers, fn];
    this.active = true;
    return () => {
      this.subscribers = this.subscribers.filter((f) => f !== fn);
      this.active = this.subscribers.length > 0;
    };
  }

  publish(event: T): void {
    for (const fn of this.subscribers) {
      try {
        fn(event);
      } catch {
        // an observer must never break a session
      }
    }
  }
}

/** Why a session or request ended. */
export type EndCause =
  /** The client closed first (or after a complete exchange). */
  | "client_closed"
  /** The server closed first. */
  | "server_closed"
  | "server_reset"
  | "client_reset"
  /** An idle or phase timeout (timeout_client, timeout_server, timeout_http_request, …). */
  | "timeout"
  /** No server could take it (503, 421, or closed). */
  | "no_server"
  /** Closed by a stop or a reload's timeout_shutdown. */
  | "shutdown"
  /** plb refused it (a malformed request, a body too large, …). */
  | "refused"
  | "done";

export type SessionProtocol = ProtocolName;

/** A client connection was accepted by a service. */
export interface SessionStartEvent {
  readonly service: string;
  readonly protocol: SessionProtocol;
  readonly client: string;
}

/** A tcp or smtp session (or an http client connection) ended. */
export interface SessionEndEvent {
  readonly service: string;
  readonly protocol: SessionProtocol;
  readonly client: string;
  /** 0 when nobody listened when the client was accepted (reading it costs a syscall). */
  readonly clientPort: number;
  /** The backend of `server` (undefined when none was chosen). */
  readonly backend: string | undefined;
  /** The server it was relayed to ("host:port" as configured), if any. */
  readonly server: string | undefined;
  /** Epoch ms. */
  readonly start: number;
  readonly durationMs: number;
  /** Bytes from the client, and to it. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly cause: EndCause;
  /** Servers tried (fail-over). */
  readonly tried: number;
  /**
   * How the last server handshake went (smtp: the greeting check): "ok", or
   * the failure's outcome ("bad-greeting", "timeout", "reset"); undefined
   * when the protocol has none or no server connected.
   */
  readonly handshake: "ok" | Exclude<Outcome, "connected"> | undefined;
  /** The failure's words ("greeting 554 5.3.2 busy"), "" when none. */
  readonly handshakeDetail: string;
}

/** One connect attempt to a server (a probe is not one). */
export interface ConnectEvent {
  readonly service: string;
  /** The server's backend. */
  readonly backend: string;
  readonly server: string;
  readonly outcome: Outcome;
  readonly ms: number;
}

/** One http request, answered (by a server or by plb) or given up. */
export interface RequestEvent {
  readonly service: string;
  readonly client: string;
  /** 0 when nobody listened when the client was accepted (reading it costs a syscall). */
  readonly clientPort: number;
  /** The backend that took the request (undefined when none did). */
  readonly backend: string | undefined;
  readonly server: string | undefined;
  /** Its X-Request-Id (the client's, or the one plb made) with request_id = true; "" otherwise. */
  readonly requestId: string;
  readonly method: string;
  readonly target: string;
  readonly version: string;
  /** 0 when nothing was answered. */
  readonly status: number;
  /** Epoch ms of the head's arrival. */
  readonly start: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Of bytesOut, the response body (nginx's $body_bytes_sent). */
  readonly bodyBytesOut: number;
  /** The request's Host, Referer and User-Agent fields ("" when absent). */
  readonly host: string;
  readonly referer: string;
  readonly userAgent: string;
  /** ms; -1 when there was none (a pooled connection, or no server). */
  readonly connectMs: number;
  /** ms from the request head to the first response byte; -1 when none came. */
  readonly ttfbMs: number;
  readonly totalMs: number;
  readonly retries: number;
  readonly cause: EndCause;
}

/** Why an accept_proxy listener closed a connection before its protocol saw it. */
export type ProxyRefusal =
  /** The peer is not in proxy_from. */
  | "source"
  /** A malformed PROXY header, or a FIN in the middle of one. */
  | "header"
  /** No complete header within timeout_proxy_header. */
  | "timeout";

/** A connection closed by an accept_proxy listener (nothing was relayed). */
export interface ProxyRefusedEvent {
  readonly service: string;
  readonly reason: ProxyRefusal;
}

/** One check of a server by the scheduler (a start check, a probe of a down server, an active check). */
export interface ProbeEvent {
  /** The server's backend. */
  readonly backend: string;
  readonly server: string;
  readonly outcome: Outcome;
  readonly ms: number;
}

export const events = {
  probe: new Channel<ProbeEvent>("probe"),
  sessionStart: new Channel<SessionStartEvent>("session:start"),
  sessionEnd: new Channel<SessionEndEvent>("session:end"),
  connect: new Channel<ConnectEvent>("connect"),
  request: new Channel<RequestEvent>("http:request"),
  proxyRefused: new Channel<ProxyRefusedEvent>("proxy:refused"),
};
