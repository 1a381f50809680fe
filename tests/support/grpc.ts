/**
 * gRPC peers for the tests (tests/support/grpc_peer.py, Debian's
 * python3-grpcio): servers with generic handlers (Unary, Stream, Bidi,
 * Sleep, the standard health Check) and a client that runs a list of calls
 * and reports each as a JSON line.
 */
import type { Subprocess } from "bun";
import { join } from "node:path";

const PEER = join(import.meta.dir, "grpc_peer.py");
const PYTHON = "/usr/bin/python3";

export interface GrpcServer {
  readonly port: number;
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface GrpcServerOptions {
  /** TLS with this certificate and key. */
  tls?: { cert: string; key: string };
  /** Answers of Unary and Bidi start with "NAME:". */
  name?: string;
  /** Health Check answers NOT_SERVING while this file exists. */
  healthFile?: string;
  /** SETTINGS_MAX_CONCURRENT_STREAMS the server announces. */
  maxStreams?: number;
  /** Stream appends "cancelled Stream" to this file when a call ends before its last message. */
  eventsFile?: string;
}

/** Start a gRPC server on 127.0.0.1:`port`; resolves once it listens. */
export async function grpcServer(port: number, o: GrpcServerOptions = {}): Promise<GrpcServer> {
  const args = [PYTHON, PEER, "server", String(port)];
  if (o.tls) args.push("--tls", o.tls.cert, o.tls.key);
  if (o.name) args.push("--name", o.name);
  if (o.healthFile) args.push("--health-file", o.healthFile);
  if (o.maxStreams) args.push("--max-streams", String(o.maxStreams));
  if (o.eventsFile) args.push("--events-file", o.eventsFile);
  const proc = Bun.spawn(args, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.getReader();
  let text = "";
  const deadline = Date.now() + 20_000;
  while (!text.includes("ready")) {
    if (Date.now() > deadline) throw new Error("grpc server did not start");
    const r = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => ({ done: true, value: undefined }))]);
    if (r.done) throw new Error(`grpc server exited: ${await new Response(proc.stderr).text()}`);
    text += new TextDecoder().decode(r.value);
  }
  reader.releaseLock();
  return {
    port,
    proc,
    async stop(signal = "SIGKILL") {
      proc.kill(signal);
      await proc.exited;
    },
  };
}

export type GrpcCall =
  | { kind: "unary"; method: string; request: string; timeout?: number }
  | { kind: "stream"; method: string; request: string; timeout?: number; report_after?: number; cancel_after?: number }
  | { kind: "client_stream"; method: string; size: number; count: number; timeout?: number }
  | { kind: "bidi"; method: string; requests: string[]; gap?: number; timeout?: number };

export interface GrpcResult {
  ok: boolean;
  code: string;
  details: string | null;
  messages?: string[];
  count?: number;
  last?: string | null;
  seconds: number;
}

export interface GrpcClientOptions {
  /** Trust this CA and speak TLS (the name checked is "localhost"). */
  ca?: string;
}

/** Run `calls` in one channel to `target` ("127.0.0.1:PORT"), one after the other; `ms` bounds the whole run. */
export async function grpcCalls(target: string, calls: GrpcCall[], o: GrpcClientOptions = {}, ms = 60_000): Promise<GrpcResult[]> {
  const c = grpcClient(target, calls, o);
  const timer = setTimeout(() => c.proc.kill("SIGKILL"), ms);
  const out = await new Response(c.proc.stdout).text();
  clearTimeout(timer);
  const code = await c.proc.exited;
  const lines = out.split("\n").filter((l) => l.startsWith("{") && !l.includes('"progress"'));
  if (lines.length !== calls.length) throw new Error(`grpc client (exit ${code}) printed ${lines.length} of ${calls.length} results: ${out}\n${await new Response(c.proc.stderr).text()}`);
  return lines.map((l) => JSON.parse(l) as GrpcResult);
}

/** Start the client on `calls` without waiting (its stdout has a JSON line per call, and {"progress": n} lines). */
export function grpcClient(target: string, calls: GrpcCall[], o: GrpcClientOptions = {}): { proc: Subprocess<"ignore", "pipe", "pipe"> } {
  const spec = JSON.stringify({ target, ca: o.ca, calls });
  return { proc: Bun.spawn([PYTHON, PEER, "client", spec], { stdin: "ignore", stdout: "pipe", stderr: "pipe" }) };
}
