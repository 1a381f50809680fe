/** The validated, immutable configuration. Durations are milliseconds. */
import type { RouteConfig } from "../routes/types.ts";

export type LogLevelName = "error" | "warn" | "info" | "debug";

export interface ListenAddress {
  /** IP literal to bind: "127.0.0.1", "::1", "::" (for "*" and "[::]": dual-stack). */
  readonly host: string;
  readonly port: number;
  /** As written in the file, for messages. */
  readonly text: string;
}

export interface ServerConfig {
  /** As written ("10.0.0.2:80", "[::1]:80", "db.example:5432"). */
  readonly address: string;
  /** Host name or IP literal without brackets. */
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly backup: boolean;
  /** Servers from DNS: the name they were found under (`dns`: the entry's name; `srv`: the record's target), the name TLS to servers checks. */
  readonly dnsName?: string;
}

/**
 * A `servers` entry whose servers come from DNS, re-resolved at the
 * answer's TTL: `{ dns = "name:port" }` (every A/AAAA address is a server)
 * or `{ srv = "_service._proto.name" }` (SRV targets, ports, weights;
 * the lowest priority are primaries, the others backups).
 */
export interface DnsSource {
  readonly kind: "dns" | "srv";
  /** The entry's identity within its service: "dns web.internal:8080", "srv _http._tcp.web". */
  readonly key: string;
  /** The name asked for, as written (no port). */
  readonly name: string;
  /** dns: the port of every server; srv: 0 (each record gives its own). */
  readonly port: number;
  /** dns: every server's weight; srv: unused (the records give them). */
  readonly weight: number;
  /** Every server of this entry is a backup (srv: on top of the priorities). */
  readonly backup: boolean;
  /** Configured servers written before it: its servers come after those, before the next ones. */
  readonly at: number;
}

/** Service keys whose default is the global key of the same name. */
export interface ServiceDefaults {
  readonly timeout_client: number;
  /** Most client connections open at once; 0: derived from the open-file limit (global) or none of its own (service). */
  readonly maxconn: number;
}

/** Backend keys whose default is the global key of the same name. */
export interface BackendDefaults {
  readonly server_retry: number;
  readonly timeout_connect: number;
  readonly timeout_server: number;
  readonly timeout_cleanup: number;
  /** Slow start: how long a server back in service takes to ramp to its full weight, ms; 0: off. */
  readonly slowstart: number;
}

/** The keys a service or backend may take from the global section. */
export interface Timeouts extends ServiceDefaults, BackendDefaults {}

/** A certificate chain and its key (PEM files, as written). */
export interface CertKeyFiles {
  readonly cert: string;
  readonly key: string;
}

/**
 * The listener's TLS (`tls = { … }`; the smtp `starttls` key takes the same
 * value): which certificates, which protocol versions and suites, and
 * whether clients must show a certificate. Checked by config/values.ts
 * ("tls" kind); files are read by src/tls/ when the service is prepared.
 */
export interface ListenTlsConfig {
  /** Where the certificates come from: pairs in file order (`cert`/`key` is one pair), or every pair in a directory. */
  readonly source:
    | { readonly kind: "pairs"; readonly pairs: readonly CertKeyFiles[]; readonly form: "cert" | "certs" }
    | { readonly kind: "dir"; readonly dir: string }
    /** Only ACME certificates (tls = { acme = … }): no default certificate. */
    | { readonly kind: "acme" };
  /**
   * Names whose certificates come from the [acme] CA (these win over the
   * files for their names). `true` only while checking (acme = true): the
   * service check resolves it to the routes' exact hosts.
   */
  readonly acme?: readonly string[] | true;
  /** Refuse the handshake of a client whose SNI name no certificate serves (or that sends none). */
  readonly strict_sni: boolean;
  /** "1.2": Mozilla intermediate (TLS 1.2 ECDHE+AEAD and TLS 1.3); "1.3": modern (TLS 1.3 only). */
  readonly min_version: "1.2" | "1.3";
  /** OpenSSL cipher list for TLS 1.2 (undefined: the intermediate profile's). */
  readonly ciphers: string | undefined;
  /** PEM file of the CAs client certificates must chain to (undefined: none asked for). */
  readonly client_ca: string | undefined;
  /** With client_ca: "required" refuses a client without a valid certificate in the handshake; "optional" lets it in and tells (http fields, route condition). */
  readonly client_verify: "required" | "optional" | undefined;
}

/** Settings of protocol = "http" services (defaults elsewhere). */
export interface HttpSettings {
  readonly forwarded_for: "append" | "replace" | "off";
  readonly forwarded: boolean;
  /** Bytes; 0: no limit. */
  readonly max_body: number;
  readonly max_request_line: number;
  readonly max_header_size: number;
  readonly max_headers: number;
  /** Whole request head, ms (from its first byte; after a response, from its end). */
  readonly timeout_http_request: number;
  /** Bytes per second a request body must average after the grace; 0: no minimum. */
  readonly min_body_rate: number;
  /** Status → file whose content replaces plb's own body for that status. */
  readonly error_pages: Readonly<Record<number, string>> | undefined;
  /** Add X-Request-Id to requests without one. */
  readonly request_id: boolean;
  /** TLS listeners offer h2 by ALPN. */
  readonly http2: boolean;
  /** Plain listeners take prior-knowledge h2c beside HTTP/1 (true), or h2c alone ("only"). */
  readonly h2c: boolean | "only";
  readonly h2_max_concurrent_streams: number;
  readonly h2_initial_window_size: number;
  readonly h2_max_frame_size: number;
}

/** Settings of backends that http services use. */
export interface HttpBackendSettings {
  readonly pool_max_idle: number;
  readonly timeout_pool_idle: number;
  readonly fail_on_5xx: boolean;
  /** What plb speaks to the servers: HTTP/1.1, or HTTP/2 (ALPN h2 with server_tls, else h2c with prior knowledge). */
  readonly server_protocol: "http/1.1" | "h2";
  /** With h2: most connections per server. */
  readonly h2_max_connections: number;
  /** Header name whose value `balance = "header"` hashes (required by it; a valid field name). */
  readonly hash_header: string | undefined;
  /** Probe with GET <path> (2xx/3xx = up) instead of a bare connect. */
  readonly health_path: string | undefined;
}

/**
 * TLS from plb to a backend's servers (`server_tls`): verified against `ca`
 * (or the system's roots) unless `verify` is false; SNI `server_name`, or
 * the server's host name (none for an IP literal); a client certificate
 * when `cert` and `key` are given. Paths as written (read by tls/client.ts).
 */
export interface ServerTlsConfig {
  readonly verify: boolean;
  readonly ca: string | undefined;
  readonly server_name: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
}

/** Settings of protocol = "smtp" services. */
export interface SmtpSettings {
  /** STARTTLS at plb (the parsed value of a "tls" kind key, as `tls`). */
  readonly starttls: ListenTlsConfig | undefined;
  /** Refuse MAIL FROM (530) before STARTTLS. */
  readonly require_tls: boolean;
}

/** Settings of backends that smtp services use. */
export interface SmtpBackendSettings {
  readonly timeout_smtp_greeting: number;
}

export type ClientAddressMode = "none" | "proxy-v1" | "proxy-v2" | "xclient";

export interface AccessLogConfig {
  /** A file, or "-" for standard error. */
  readonly path: string;
  /** combined (nginx's; http only), json, haproxy (httplog / tcplog). */
  readonly format: "combined" | "json" | "haproxy";
}

/** What an http check's answer must be. */
export interface HttpExpect {
  /** Status classes (2 for "2xx") that pass. */
  readonly classes: readonly number[];
  /** Single statuses that pass (on top of `classes`). */
  readonly codes: readonly number[];
  /** A substring the body must contain (its first 64 KiB are read). */
  readonly body: string | undefined;
}

export interface HttpCheckConfig {
  /** Origin-form path of `GET` ("/healthz"). */
  readonly path: string;
  /** Host field sent (default: the server's host:port). */
  readonly host: string | undefined;
  readonly expect: HttpExpect;
  /** Keep the connection open for the next check (no body to look for). */
  readonly reuse: boolean;
}

export interface TcpCheckConfig {
  /** Written once connected ("PING\r\n"), if any. */
  readonly send: string | undefined;
  /** What the server must send back (a substring, within `timeout`), if anything. */
  readonly expect: string | undefined;
}

/** The standard gRPC health check (grpc.health.v1.Health/Check) of an h2 backend. */
export interface GrpcCheckConfig {
  /** HealthCheckRequest.service: "" asks about the server as a whole. */
  readonly service: string;
}

export interface HealthConfig {
  /** ms between two checks of a server (each spread by ±10 %). */
  readonly interval: number;
  /** ms a whole check may take, connect included (≤ interval). */
  readonly timeout: number;
  /** Passed checks in a row that bring a down server back. */
  readonly rise: number;
  /** Failed checks in a row that take an up server out. */
  readonly fall: number;
  /** protocol = "http" only. */
  readonly http: HttpCheckConfig | undefined;
  /** protocol = "tcp" only. */
  readonly tcp: TcpCheckConfig | undefined;
  /** health.grpc = true (http with server_protocol = "h2"): the gRPC health check instead of `http`. */
  readonly grpc?: GrpcCheckConfig | undefined;
}


export type { ProtocolName } from "../protocol-names.ts";
import type { ProtocolName } from "../protocol-names.ts";

/** The listener side: where clients come in, how they are spoken to, and which backend takes them. */
export interface ServiceConfig extends ServiceDefaults {
  readonly name: string;
  readonly protocol: ProtocolName;
  readonly http: HttpSettings;
  /** Read for protocol = "smtp" (defaults on other services, as `http` on non-http ones). */
  readonly smtp: SmtpSettings;
  readonly listen: readonly ListenAddress[];
  /** Terminate TLS on the listen addresses (http, tcp, smtp: implicit TLS); undefined: plain. */
  readonly tls: ListenTlsConfig | undefined;
  /**
   * The backend (its name in Config.backends) that takes this service's
   * clients, or the requests (http) or connections (tcp) no route sends
   * elsewhere; undefined: a service whose routes choose (http: a request
   * none takes gets 404; tcp: a connection none takes is closed).
   */
  readonly backend: string | undefined;
  readonly access_log: AccessLogConfig | undefined;
  /** Connections start with a PROXY header from a front balancer: its source is the client. */
  readonly accept_proxy: boolean;
  /** With accept_proxy: the peers allowed to send it, canonical ranges ("10.0.0.0/8"); [] otherwise. */
  readonly proxy_from: readonly string[];
  /** With accept_proxy: ms a connection has to send its whole header. */
  readonly timeout_proxy_header: number;
  /** http and tcp: the routes, in file order ([] without any: every request or connection to the service's servers; tcp routes have only `hosts`, the TLS names). */
  readonly routes: readonly RouteConfig[];
}

/**
 * A named set of servers with what belongs to them: a `[[backend]]`, or the
 * `servers = [...]` of a service (its own backend, named after it). Several
 * services may use one backend: one state per server, whichever listener
 * the traffic came through.
 */
export interface BackendConfig extends BackendDefaults {
  readonly name: string;
  /** Written as [[backend]] (false: a service's own servers). */
  readonly declared: boolean;
  /** The protocol of the services that use it (they all speak one). */
  readonly protocol: ProtocolName;
  /** How servers learn the client's address. */
  readonly client_address: ClientAddressMode;
  /** The servers written as addresses (those from DNS are in `discover`). */
  readonly servers: readonly ServerConfig[];
  /** `servers` entries resolved from DNS while plb runs. */
  readonly discover: readonly DnsSource[];
  readonly balance: string;
  readonly http: HttpBackendSettings;
  readonly smtp: SmtpBackendSettings;
  /** Active checks of every server (`health = { … }`); undefined: only down servers are probed, every timeout_cleanup. */
  readonly health: HealthConfig | undefined;
  /** TLS to the servers (traffic, probes and checks); undefined: plain text. */
  readonly server_tls?: ServerTlsConfig;
}

export interface GlobalConfig extends Timeouts {
  readonly user?: string;
  readonly group?: string;
  readonly chroot_dir?: string;
  readonly pidfile?: string;
  readonly logfile?: string;
  readonly loglevel: LogLevelName;
  readonly timeout_shutdown: number;
  /** On stop, keep accepting this long (ms) with /healthz at 503, before the drain. */
  readonly shutdown_delay: number;
  readonly backlog: number;
  /** Worker processes (1: plb is one process); "auto" already resolved to the number of cores. */
  readonly workers: number;
  /** Nameservers ("ip" or "ip:port", "[v6]:port") instead of resolv.conf's; absent: resolv.conf's. */
  readonly nameservers?: readonly string[];
  /** Servers from DNS: answers are re-asked after their TTL, at least this late… */
  readonly dns_min_ttl: number;
  /** …and at most this late. */
  readonly dns_max_ttl: number;
}

/** The `[stats]` table: the stats listener (metrics, status, admin API). */
export interface StatsConfig {
  readonly listen:
    | { readonly kind: "tcp"; readonly host: string; readonly port: number; readonly text: string }
    | { readonly kind: "unix"; readonly path: string; readonly text: string };
  readonly token: string | undefined;
  readonly token_file: string | undefined;
  /** GETs need the token too. */
  readonly read_token: boolean;
  /** /healthz is 503 while a service has no server up (it always is once a stop began). */
  readonly healthz_requires_servers: boolean;
}

/** The `[acme]` table: the CA certificates come from, and where they are kept (config/acme.ts). */
export interface AcmeConfig {
  readonly directory: string;
  readonly email: string | undefined;
  readonly storage: string;
  /** A file: the extra CA trusted for the directory's HTTPS. */
  readonly directory_ca: string | undefined;
  /** Absent: whichever challenge plb can answer. */
  readonly challenge: "http-01" | "tls-alpn-01" | undefined;
  readonly key_type: "ecdsa" | "rsa";
}

export interface Config {
  /** Path the configuration was read from ("" when built in memory). */
  readonly file: string;
  readonly global: GlobalConfig;
  readonly services: readonly ServiceConfig[];
  /** Every backend the services use, declared ones and the services' own, in file order. */
  readonly backends: readonly BackendConfig[];
  /** Absent: no stats listener. */
  readonly stats?: StatsConfig;
  /** Absent: no ACME. */
  readonly acme?: AcmeConfig;
}
