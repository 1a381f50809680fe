/**
 * The access logs of every service that has `access_log`: one writer per
 * file (services may share one), fed by the lifecycle events (one line per
 * http request, per tcp or smtp session). Session code knows nothing of it.
 * A reload reconfigures: files kept stay open, new ones are opened, unused
 * ones closed.
 */
import type { AccessLogConfig, ServiceConfig } from "../config/types.ts";
import { fileErrorReason, PlbError } from "../errors.ts";
import { events, type RequestEvent, type SessionEndEvent } from "../events.ts";
import { combined, type Format, httplog, requestJson, sessionJson, tcplog } from "./formats.ts";
import { AccessLogWriter } from "./writer.ts";

const REQUEST_FORMATS: Record<AccessLogConfig["format"], Format<RequestEvent>> = { combined, json: requestJson, haproxy: httplog };
const SESSION_FORMATS: Record<AccessLogConfig["format"], Format<SessionEndEvent>> = { combined: tcplog, json: sessionJson, haproxy: tcplog };

interface Route {
  readonly writer: AccessLogWriter;
  readonly format: AccessLogConfig["format"];
}

export class AccessLogs {
  private writers = new Map<string, AccessLogWriter>();
  private routes = new Map<string, Route>();
  private offs: (() => void)[] = [];

  /** The services' access_log settings from now on (opens files: at start, before any chroot). */
  configure(services: readonly ServiceConfig[]): void {
    this.plan(services).commit();
  }

  /**
   * Open the files `services` name that are not open yet (a reload's first
   * phase; throws PlbError naming the file, with nothing changed); `commit`
   * puts the new routes in force and closes the files no longer named.
   */
  plan(services: readonly ServiceConfig[]): { commit(): void; abort(): void } {
    const writers = new Map<string, AccessLogWriter>();
    const opened: AccessLogWriter[] = [];
    const routes = new Map<string, Route>();
    try {
      for (const s of services) {
        if (!s.access_log) continue;
        const { path, format } = s.access_log;
        let w = writers.get(path) ?? this.writers.get(path);
        if (!w) {
          try {
            w = new AccessLogWriter(path);
          } catch (err) {
            throw new PlbError("CONFIG_INVALID", `service ${JSON.stringify(s.name)}: access_log: cannot open ${path}: ${fileErrorReason(err)}`);
          }
          opened.push(w);
        }
        writers.set(path, w);
        routes.set(s.name, { writer: w, format });
      }
    } catch (err) {
      for (const w of opened) w.close();
      throw err;
    }
    return {
      commit: () => {
        for (const [path, w] of this.writers) if (!writers.has(path)) w.close();
        this.writers = writers;
        this.routes = routes;
        if (routes.size > 0 && this.offs.length === 0) this.subscribe();
        if (routes.size === 0) this.unsubscribe();
      },
      abort: () => {
        for (const w of opened) w.close();
      },
    };
  }

  private subscribe(): void {
    this.offs = [
      events.request.subscribe((e) => {
        const r = this.routes.get(e.service);
        if (r) r.writer.line(REQUEST_FORMATS[r.format], e);
      }),
      events.sessionEnd.subscribe((e) => {
        if (e.protocol === "http") return; // its requests have their lines
        const r = this.routes.get(e.service);
        if (r) r.writer.line(SESSION_FORMATS[r.format], e);
      }),
    ];
  }

  private unsubscribe(): void {
    for (const off of this.offs) off();
    this.offs = [];
  }

  /** SIGUSR1: every file by its name again. */
  reopen(): void {
    for (const w of this.writers.values()) w.reopen();
  }

  /** Lines lost to failed writes, by file. */
  dropped(): Record<string, number> {
    return Object.fromEntries([...this.writers].map(([p, w]) => [p, w.dropped]));
  }

  /** At stop: the last lines out, files closed. */
  close(): void {
    this.unsubscribe();
    for (const w of this.writers.values()) w.close();
    this.writers.clear();
    this.routes.clear();
  }
}
