/**
 * What a protocol module gives the core: a handler for each accepted client
 * and a probe for down servers. The core (service, scheduler, state,
 * balancers) imports no protocol; protocols are looked up by config name.
 */
import type { Sock, SocketEvents } from "./net/types.ts";
import type { Probe } from "./scheduler.ts";
import type { Service } from "./service.ts";

/** Listen settings a protocol asks for (TLS termination). */
export interface ListenOptions {
  /** PEM text of the certificate chain and key. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

export interface Protocol {
  readonly name: string;
  /**
   * Prepare a service before it listens (read files: this runs before any
   * chroot). Throws PlbError for a setting that cannot work.
   */
  init?(service: Service): ListenOptions | void;
  /** Take over an accepted (paused) client socket. */
  accept(client: Sock, service: Service): SocketEvents;
  /** Build the probe the scheduler runs on this service's down servers. */
  probe(service: Service): Probe;
}
