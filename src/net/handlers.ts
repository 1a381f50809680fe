/**
 * The single handler table given to Bun for every relayed socket: each event
 * is forwarded to the `SocketEvents` object in `socket.data`. One table keeps
 * Bun's per-socket setup cheap and the dispatch monomorphic.
 */
import type { SocketHandler } from "bun";
import type { Sock, SocketEvents } from "./types.ts";

export const relayHandlers: SocketHandler<SocketEvents> = {
  data(s, buf) {
    s.data.onData(buf);
  },
  drain(s) {
    s.data.onDrain();
  },
  end(s) {
    s.data.onEnd();
  },
  close(s, err) {
    s.data.onClose(err);
  },
  error(s, err) {
    // Called for exceptions thrown in handlers and for socket errors; the
    // socket is closed afterwards either way.
    s.data.onClose(err);
    (s as Sock).terminate();
  },
};

/** Receives the events of a socket nobody listens to any more (or yet): all dropped. */
export const DISCARD: SocketEvents = { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };

/**
 * From now on `to` receives `sock`'s events. The one way a socket changes
 * owner (accept, connect, pipe, handshake, probe, fail-over), so ownership
 * changes are explicit and can be found.
 */
export function handOver(sock: Sock, to: SocketEvents): void {
  sock.data = to;
}
