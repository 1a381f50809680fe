/**
 * The standard gRPC health check (grpc.health.v1.Health/Check) of an h2
 * backend (`health = { grpc = true, service = "…" }`): one HTTP/2
 * connection per check (h2c, or TLS with ALPN h2 through net/connect.ts),
 * POST /grpc.health.v1.Health/Check with content-type application/grpc and
 * one message (the 5-octet gRPC frame header, then the protobuf
 * HealthCheckRequest{service = 1}); the server is up when grpc-status is 0
 * and the HealthCheckResponse says SERVING (field 1 = 1).
 */
import { connect } from "../../net/connect.ts";
import { handOver } from "../../net/handlers.ts";
import type { Sock, SocketEvents } from "../../net/types.ts";
import type { Probe, ProbeResult } from "../../scheduler.ts";
import type { Server } from "../../servers/server.ts";
import type { ServerTls } from "../../tls/client.ts";
import { appendBytes } from "../../net/bytes.ts";
import { type H2ClientHandler, H2ClientSession } from "./client-session.ts";
import { createDecoder, createEncoder } from "./hpack/index.ts";
import type { H2Error, HeaderList } from "./types.ts";
import { errorName } from "./upstream-stream.ts";

export interface GrpcCheckOptions {
  readonly tls?: ServerTls;
  /** HealthCheckRequest.service ("" = the whole server). */
  readonly service: string;
  readonly connectMs: number;
  /** The whole check, connect included. */
  readonly timeoutMs: number;
}

const PATH = "/grpc.health.v1.Health/Check";
/** HealthCheckResponse.ServingStatus names (grpc/health/v1/health.proto). */
const STATUS = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/** The request message: the gRPC frame header (not compressed, length) and HealthCheckRequest{service}. */
export function healthRequest(service: string): Uint8Array {
  const name = new TextEncoder().encode(service);
  const body: number[] = [];
  if (name.length > 0) {
    body.push(0x0a); // field 1, length-delimited
    for (let n = name.length; ; n >>>= 7) {
      if (n < 0x80) {
        body.push(n);
        break;
      }
      body.push((n & 0x7f) | 0x80);
    }
  }
  const out = new Uint8Array(5 + body.length + name.length);
  const len = body.length + name.length;
  out[1] = (len >>> 24) & 0xff;
  out[2] = (len >>> 16) & 0xff;
  out[3] = (len >>> 8) & 0xff;
  out[4] = len & 0xff;
  out.set(body, 5);
  out.set(name, 5 + body.length);
  return out;
}

/** The ServingStatus of a response message (gRPC frame included): a number, or an error text. */
export function servingStatus(msg: Uint8Array): number | string {
  if (msg.length < 5) return "no response message";
  if (msg[0] !== 0) return "a compressed response message";
  const len = msg[1] * 0x1000000 + ((msg[2] << 16) | (msg[3] << 8) | msg[4]);
  if (msg.length !== 5 + len) return `a response message of ${msg.length - 5} octets, framed as ${len}`;
  let status = 0; // absent field: UNKNOWN (proto3 default)
  for (let i = 5; i < msg.length;) {
    const key = msg[i++];
    const field = key >>> 3, wire = key & 7;
    if (wire === 0) {
      let v = 0;
      for (let shift = 0; i < msg.length; shift += 7) {
        const b = msg[i++];
        v += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) break;
      }
      if (field === 1) status = v;
    } else if (wire === 2) {
      const l = msg[i++];
      i += l;
    } else return `an unreadable response message (wire type ${wire})`;
  }
  return status;
}

class GrpcCheck implements SocketEvents, H2ClientHandler {
  private readonly session: H2ClientSession;
  private status = 0;
  private grpcStatus: string | undefined;
  private grpcMessage = "";
  private body: Uint8Array | undefined;
  private done = false;
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly sock: Sock,
    private readonly authority: string,
    private readonly opts: GrpcCheckOptions,
    private readonly tls: boolean,
    remainingMs: number,
    private readonly resolve: (r: ProbeResult) => void,
  ) {
    this.session = new H2ClientSession(this, createDecoder(), createEncoder());
    handOver(sock, this);
    this.timer = setTimeout(() => this.finish({ outcome: "timeout", detail: `${PATH}: no answer within ${opts.timeoutMs} ms` }), remainingMs);
  }

  start(): void {
    this.session.start();
    const id = this.session.request([":method", "POST", ":scheme", this.tls ? "https" : "http", ":authority", this.authority, ":path", PATH, "content-type", "application/grpc", "te", "trailers", "user-agent", "plb-health-check"], false);
    this.session.sendData(id, healthRequest(this.opts.service), true);
  }

  private finish(r: ProbeResult): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.sock.end();
    this.resolve(r);
  }

  private fail(what: string, reason: ProbeResult["reason"] = "protocol"): void {
    this.finish({ outcome: "reset", detail: `${PATH}: ${what}`, code: this.status || undefined, reason });
  }

  // socket
  onData(buf: Uint8Array): void {
    if (!this.done) this.session.feed(buf, 0);
  }
  onDrain(): void {}
  onEnd(): void {
    this.fail("the server closed the connection before answering", "reset");
  }
  onClose(): void {
    this.onEnd();
  }

  // session
  write(bytes: Uint8Array): void {
    if (!this.done) this.sock.write(bytes);
  }
  onHeaders(_id: number, fields: HeaderList, endStream: boolean): void {
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === ":status") this.status = Number(fields[i + 1]);
      else if (fields[i] === "grpc-status") this.grpcStatus = fields[i + 1];
      else if (fields[i] === "grpc-message") this.grpcMessage = percentDecoded(fields[i + 1]);
    }
    if (endStream) this.verdict();
  }
  onStreamData(id: number, data: Uint8Array, endStream: boolean): void {
    this.body = appendBytes(this.body, data);
    this.session.consumed(id, data.length);
    if ((this.body?.length ?? 0) > 4096) return this.fail("a response message over 4 KiB");
    if (endStream) this.verdict();
  }
  onStreamReset(_id: number, code: H2Error): void {
    this.fail(`the server reset the stream (${errorName(code)})`, "reset");
  }
  onRefused(): void {
    this.fail("the server refused the stream (GOAWAY)", "reset");
  }
  onWindow(): void {}
  onSettings(): void {}
  onGoaway(): void {}
  onConnectionError(code: H2Error, reason: string): void {
    this.fail(`HTTP/2 connection error ${errorName(code)}: ${reason}`);
  }

  private verdict(): void {
    if (this.status !== 200) return this.fail(`HTTP status ${this.status}`, "status");
    if (this.grpcStatus === undefined) return this.fail("no grpc-status");
    if (this.grpcStatus !== "0") return this.fail(`grpc-status ${this.grpcStatus}${this.grpcMessage ? ` (${this.grpcMessage})` : ""}`, "status");
    const s = servingStatus(this.body ?? new Uint8Array(0));
    if (typeof s === "string") return this.fail(s);
    const name = STATUS[s] ?? String(s);
    const said = `${PATH}${this.opts.service ? ` ${JSON.stringify(this.opts.service)}` : ""} → ${name}`;
    if (s === 1) this.finish({ outcome: "connected", detail: said, code: 200 });
    else this.finish({ outcome: "reset", detail: said, code: 200, reason: "body" });
  }
}

/** grpc-message is percent-encoded (a malformed one is shown as it came). */
function percentDecoded(s: string): string {
  try {
    return decodeURIComponent(s).slice(0, 200);
  } catch {
    return s.slice(0, 200);
  }
}

/** The gRPC health check of a backend's servers. */
export function grpcCheck(opts: GrpcCheckOptions): Probe {
  return (server: Server) =>
    new Promise<ProbeResult>((resolve) => {
      const t0 = performance.now();
      const remaining = () => Math.max(1, opts.timeoutMs - (performance.now() - t0));
      const authority = server.host.includes(":") ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
      connect(server.address!, server.port, Math.min(opts.connectMs, remaining()), {
        connected: (sock) => new GrpcCheck(sock, authority, opts, opts.tls !== undefined, remaining(), resolve).start(),
        failed: (outcome, detail) => resolve({ outcome, detail }),
      }, opts.tls, server.tlsName, opts.tls !== undefined);
    });
}
