/**
 * STARTTLS at plb (RFC 3207): after the server's greeting has been relayed,
 * plb reads the client's commands itself until the client has either
 * started TLS with plb or gone on without it, then relays bytes as they are.
 *
 * - EHLO, HELO, NOOP, RSET, HELP, VRFY, EXPN are forwarded to the server one
 *   at a time and its one reply relayed; the EHLO reply without the server's
 *   own STARTTLS and, while the client side is plain, with plb's.
 * - STARTTLS is answered by plb: 220, then the client side is upgraded with
 *   the service's certificate. Whatever the client sent after the STARTTLS
 *   line before the 220 is discarded, never relayed (CVE-2011-0411; Postfix
 *   purges its input buffer after the 220 the same way). After TLS the
 *   client's own EHLO goes to the server, which forgets the state of the
 *   earlier one (RFC 3207 §4.2; RFC 5321 §4.1.4: EHLO resets the session).
 *   STARTTLS with parameters gets 501, a second one 503.
 * - `require_tls`: anything but EHLO, HELO, NOOP, RSET, QUIT and STARTTLS
 *   gets 530 before TLS (RFC 3207 §4).
 * - Any other command (MAIL, AUTH, QUIT, …) ends plb's part: that line and
 *   everything after it is relayed, as every byte afterwards.
 *
 * The server side stays as the relay made it (plain, or TLS to servers),
 * and the server learned the client's address by XCLIENT or PROXY before its
 * greeting. A server that closes meanwhile closes the client; a client that
 * goes away, a failed TLS handshake or a timeout closes the server
 * connection with QUIT.
 */
import { appendBytes } from "../net/bytes.ts";
import { clientIp } from "../net/client-address.ts";
import { now } from "../net/clock.ts";
import { DISCARD, handOver } from "../net/handlers.ts";
import { flush, LOST, NO_QUEUE, QUEUED, type QueuedWriter, send, SENT } from "../net/outbox.ts";
import type { Sock, SocketEvents } from "../net/types.ts";
import type { Conversation, ConversationOwner, ConversationStart, Converse } from "../relay/conversation.ts";
import { startServerTls, type ServerTls, type TlsSocketEvents } from "../tls/upgrade.ts";
import type { EndCause } from "../events.ts";
import { logEnabled, logger } from "../log.ts";
import { decide, LINE_TOO_LONG, READY_FOR_TLS, rewriteEhlo, takeLine } from "./commands.ts";
import { ReplyReader } from "./reply.ts";

const log = logger("smtp");

const encoder = new TextEncoder();
const QUIT = encoder.encode("QUIT\r\n");
const EMPTY = new Uint8Array(0);
const BAD_REPLY = encoder.encode("421 4.3.0 Error: the server sent an invalid reply, closing\r\n");
/** Unhandled client bytes past which the client is not read until plb caught up. */
const INPUT_LIMIT = 64 << 10;

/** What a service with `starttls` gives its sessions. */
export interface StarttlsSettings {
  /** The certificate plb presents after STARTTLS. */
  readonly tls: ServerTls;
  /** require_tls: 530 to MAIL (and all but EHLO, HELO, NOOP, RSET, QUIT) before STARTTLS. */
  readonly requireTls: boolean;
}

export function starttlsConversation(settings: StarttlsSettings): Converse {
  return (client, server, owner, start) => new StarttlsGate(client, server, owner, settings, start);
}

const enum Phase {
  /** Reading commands on the plain connection. */
  Plain,
  /** 220 sent, the TLS handshake runs. */
  Handshake,
  /** Reading commands inside TLS. */
  Secure,
  /** Handed to the relay, or closed. */
  Done,
}

const enum Waiting {
  Nothing,
  Reply,
  EhloReply,
}

/** The server socket's events, for the gate. */
class ServerEvents implements SocketEvents {
  constructor(private readonly gate: StarttlsGate) {}
  onData(buf: Uint8Array): void {
    this.gate.fromServer(buf);
  }
  onDrain(): void {
    this.gate.drained(this.gate.serverOut);
  }
  onEnd(): void {
    this.gate.serverGone(undefined);
  }
  onClose(err?: Error): void {
    this.gate.serverGone(err);
  }
}

class StarttlsGate implements TlsSocketEvents, Conversation {
  private phase = Phase.Plain;
  private waiting = Waiting.Nothing;
  /** Client bytes not handled yet. */
  private input: Uint8Array = EMPTY;
  private readonly replies = new ReplyReader();
  private clientFin = false;
  private paused = false;
  /** A relay decided while a write was still queued: relay once both queues are empty. */
  private relayPending = false;
  readonly clientOut: QueuedWriter;
  readonly serverOut: QueuedWriter;
  clientLast = now();
  serverLast = now();
  bytesFromClient = 0;
  bytesFromServer = 0;

  constructor(
    private client: Sock,
    private readonly server: Sock,
    private readonly owner: ConversationOwner,
    private readonly settings: StarttlsSettings,
    start: ConversationStart,
  ) {
    this.clientOut = { socket: client, queue: NO_QUEUE, last: this.clientLast };
    this.serverOut = { socket: server, queue: NO_QUEUE, last: this.serverLast };
    handOver(client, this);
    handOver(server, new ServerEvents(this));
    if (start.toClient) this.write(this.clientOut, start.toClient);
    for (const b of start.early) this.onData(b);
    if (start.clientFin) this.onEnd();
  }

  // Client events (plain socket, then the TLS one).
  onData(buf: Uint8Array): void {
    if (this.phase === Phase.Done) return;
    this.clientLast = now();
    this.bytesFromClient += buf.length;
    this.input = appendBytes(this.input, buf);
    if (this.input.length > INPUT_LIMIT && !this.paused) {
      this.paused = true;
      this.client.pause();
    }
    this.pump();
  }

  onDrain(): void {
    this.drained(this.clientOut);
  }

  onEnd(): void {
    this.clientFin = true;
    if (this.phase === Phase.Done) return;
    this.close("client_closed");
  }

  onClose(err?: Error): void {
    if (this.phase === Phase.Done) return;
    this.close(err ? "client_reset" : "client_closed");
  }

  onHandshake(ok: boolean, error: Error | undefined): void {
    if (this.phase !== Phase.Handshake) return;
    if (!ok) {
      if (logEnabled("info")) log.info(`STARTTLS from ${clientIp(this.client)}: TLS handshake failed (${error?.message ?? "unknown"}), closing`);
      this.close("client_closed");
      return;
    }
    this.phase = Phase.Secure;
    this.clientLast = now();
    this.serverReplies(); // anything the server said meanwhile
    this.pump();
  }

  // Server events.
  fromServer(buf: Uint8Array): void {
    if (this.phase === Phase.Done) return;
    this.serverLast = now();
    this.bytesFromServer += buf.length;
    this.replies.push(buf);
    if (this.phase !== Phase.Handshake) this.serverReplies();
  }

  serverGone(err: Error | undefined): void {
    if (this.phase === Phase.Done) return;
    if (logEnabled("debug")) log.debug(`server closed while plb spoke for ${clientIp(this.client)}${err ? ` (${err.message})` : ""}`);
    this.close(err ? "server_reset" : "server_closed", false);
  }

  /** A queue drained: go on where a full queue stopped. */
  drained(w: QueuedWriter): void {
    if (this.phase === Phase.Done) return;
    const r = flush(w);
    if (r === LOST) return this.close(w === this.clientOut ? "client_reset" : "server_reset");
    if (r === SENT && this.relayPending) this.relayNow();
  }

  abort(): void {
    if (this.phase === Phase.Done) return;
    this.close("timeout");
  }

  /** Relay the server's complete replies to the client. */
  private serverReplies(): void {
    for (let r = this.replies.next(); r.kind !== "more" && this.phase !== Phase.Done; r = this.replies.next()) {
      if (r.kind === "error") {
        if (logEnabled("info")) log.info(`server sent an invalid reply while plb spoke for ${clientIp(this.client)} (${r.reason}), closing`);
        this.write(this.clientOut, BAD_REPLY);
        return this.close("server_closed");
      }
      const ehlo = this.waiting === Waiting.EhloReply;
      // A reply nobody waits for (a 421 before closing) is relayed as it is.
      this.waiting = Waiting.Nothing;
      this.write(this.clientOut, ehlo ? rewriteEhlo(r.raw, this.phase === Phase.Plain) : r.raw);
      this.pump();
    }
  }

  /** Handle the client's commands until one needs the server's reply. */
  private pump(): void {
    while ((this.phase === Phase.Plain || this.phase === Phase.Secure) && this.waiting === Waiting.Nothing && !this.relayPending) {
      const input = this.input;
      const t = takeLine(input);
      if (t.kind === "more") break;
      if (t.kind === "too-long") {
        this.write(this.clientOut, encoder.encode(`${LINE_TOO_LONG}\r\n`));
        return this.close("client_closed");
      }
      const d = decide(t.line, { tls: this.phase === Phase.Secure, requireTls: this.settings.requireTls });
      if (d.kind === "relay") {
        this.relayPending = true;
        if (this.clientOut.queue.length === 0 && this.serverOut.queue.length === 0) this.relayNow();
        return;
      }
      this.input = t.end === input.length ? EMPTY : input.subarray(t.end);
      if (d.kind === "reply") {
        this.write(this.clientOut, encoder.encode(`${d.reply}\r\n`));
      } else if (d.kind === "forward") {
        this.waiting = d.ehlo ? Waiting.EhloReply : Waiting.Reply;
        this.write(this.serverOut, input.subarray(0, t.end));
      } else {
        this.startTls();
      }
    }
    if (this.paused && this.input.length <= INPUT_LIMIT && this.phase !== Phase.Done) {
      this.paused = false;
      this.client.resume();
    }
  }

  private startTls(): void {
    const discarded = this.input.length;
    this.input = EMPTY;
    if (discarded > 0 && logEnabled("info")) {
      log.info(`STARTTLS from ${clientIp(this.client)}: discarded ${discarded} bytes sent after the command (RFC 3207: nothing may follow STARTTLS before the TLS handshake)`);
    }
    if (!this.write(this.clientOut, encoder.encode(`${READY_FOR_TLS}\r\n`))) return;
    if (this.clientOut.queue.length > 0) {
      // The 220 must be out before TLS starts; 31 bytes on a fresh socket: not seen.
      return this.close("client_closed");
    }
    this.phase = Phase.Handshake;
    try {
      this.client = startServerTls(this.client, this.settings.tls, this);
    } catch (err) {
      // The certificate was checked at load: not expected, but one client's failure must stay its own.
      if (logEnabled("error")) log.error(`STARTTLS from ${clientIp(this.client)}: could not start TLS (${(err as Error).message}), closing`);
      return this.close("client_closed");
    }
    this.clientOut.socket = this.client;
  }

  private relayNow(): void {
    this.relayPending = false;
    this.phase = Phase.Done;
    if (this.paused) this.client.resume();
    const toServer = this.input.length > 0 ? this.input : undefined;
    const toClient = this.replies.buffered > 0 ? this.replies.take() : undefined;
    this.input = EMPTY;
    this.owner.relay(this.client, this.server, toServer, toClient, this.clientFin);
  }

  /** Write (after anything queued); false when the socket is gone (the gate closed). */
  private write(w: QueuedWriter, buf: Uint8Array): boolean {
    const r = send(w, buf);
    if (w === this.clientOut) this.clientLast = now();
    else this.serverLast = now();
    if (r === LOST) {
      this.close(w === this.clientOut ? "client_reset" : "server_reset");
      return false;
    }
    return r === SENT || r === QUEUED;
  }

  /** Close both sides: the server politely (QUIT) unless it is gone already. */
  private close(cause: EndCause, quit = true): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    handOver(this.server, DISCARD);
    if (quit) this.server.write(QUIT);
    this.server.end();
    handOver(this.client, DISCARD);
    this.client.end();
    this.owner.conversationEnded(cause);
  }
}
