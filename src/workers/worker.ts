/**
 * A worker process: started by its master with PLB_WORKER set, it waits for
 * the configuration over the IPC channel, starts like a single plb does
 * (binds with SO_REUSEPORT, chroots and drops privileges the same way) but
 * runs no probes: what its sessions observe of the servers goes to the
 * master, and the master's state comes back (`state` messages). Reloads are
 * two-phase: prepare (files read, new addresses bound), then commit or
 * abort once the master has heard from every worker.
 *
 * SIGTERM and SIGINT stop it (a terminal's Ctrl-C reaches every process of
 * the group); SIGHUP and SIGUSR1 are the master's to handle, which tells the
 * workers. When the master is gone the worker stops too.
 */
import { applyAcmePush } from "../acme/publish.ts";
import { exitCodeFor, PlbError } from "../errors.ts";
import { logger, reopenLogFile, setLogFile, setLogLabel, setLogLevel } from "../log.ts";
import { start, type Runtime } from "../main.ts";
import { handleSignals } from "../process/signals.ts";
import type { ReloadPlan } from "../reload.ts";
import type { FromWorker, BackendState, ToWorker } from "./messages.ts";

const log = logger("worker");

/** The master's word on its servers' state: each worker's pools take it. */
function takeStates(runtime: Runtime, states: readonly BackendState[]): void {
  for (const st of states) {
    const b = runtime.backends.find((x) => x.name === st.backend);
    if (b === undefined) continue; // not (yet) in this worker's configuration
    for (const e of st.servers) {
      const server = b.pool.servers.find((s) => s.id === e.id);
      if (server) b.pool.adopt(server, e);
    }
  }
}

/** Run as a worker until told to stop; resolves with the exit status. */
export function runWorker(): Promise<number> {
  return new Promise((finish) => {
    let runtime: Runtime | undefined;
    let stopping = false;
    const waiting: ToWorker[] = [];
    const plans = new Map<number, ReloadPlan>();
    const send = (m: FromWorker): void => {
      try {
        process.send?.(m);
      } catch {
        // the master is gone: "disconnect" stops this worker
      }
    };
    const stop = (why: string): void => {
      if (stopping) return;
      stopping = true;
      log.debug(`${why}: stopping`);
      if (runtime === undefined) return finish(0);
      void runtime.stop().then(() => finish(0));
    };

    const begin = async (m: Extract<ToWorker, { t: "start" }>): Promise<void> => {
      setLogLabel(`w${m.index}`);
      try {
        setLogFile(m.logfile);
        setLogLevel(m.loglevel);
        for (const p of m.acme) applyAcmePush(p);
        runtime = await start(m.config, {
          cliLogLevel: m.cliLogLevel ? m.loglevel : undefined,
          worker: {
            index: m.index,
            count: m.count,
            discovered: m.discovered,
            outcomes: (backend, server, outcome, detail, source) => send({ t: "outcome", backend, server: server.id, outcome, detail, source }),
          },
        });
      } catch (err) {
        const message = err instanceof PlbError ? err.message : `cannot start: ${(err as Error).message}`;
        send({ t: "failed", message, code: err instanceof PlbError && err.code.startsWith("CONFIG") ? 1 : exitCodeFor(err) });
        return finish(2);
      }
      for (const q of waiting.splice(0)) handle(q);
      send({ t: "ready" });
      if (stopping) void runtime.stop().then(() => finish(0));
    };

    const handle = (m: ToWorker): void => {
      if (m.t === "start") return void begin(m);
      if (m.t === "stop") return stop("told by the master");
      // Served by the listeners whenever they exist (before the runtime too).
      if (m.t === "acme") return applyAcmePush(m.push);
      if (m.t === "stop-now") {
        runtime?.stopNow();
        return finish(0);
      }
      if (runtime === undefined) return void waiting.push(m);
      switch (m.t) {
        case "state":
          return takeStates(runtime, m.states);
        case "discovered":
          return runtime.takeDiscovered(m.backend, m.source, m.answer);
        case "reload-prepare":
          try {
            plans.set(m.seq, runtime.planReload(m.config));
            return send({ t: "reload-prepared", seq: m.seq });
          } catch (err) {
            return send({ t: "reload-prepared", seq: m.seq, error: (err as Error).message });
          }
        case "reload-commit": {
          const summary = plans.get(m.seq)?.commit();
          plans.delete(m.seq);
          if (summary) log.debug(summary.line);
          return;
        }
        case "reload-abort":
          plans.get(m.seq)?.abort();
          return void plans.delete(m.seq);
        case "reopen-logs":
          reopenLogFile();
          return runtime.reopenLogs();
        case "collect":
          return send({ t: "collected", seq: m.seq, counters: runtime.collector?.snapshot() });
      }
    };

    process.on("message", (m: ToWorker) => handle(m));
    process.on("disconnect", () => {
      if (!stopping) log.warn("the master is gone: stopping");
      stop("master gone");
    });
    handleSignals((sig) => {
      if (sig === "SIGTERM" || sig === "SIGINT") stop(sig);
      else log.debug(`${sig}: the master's to handle`);
    });
    process.on("uncaughtException", (err) => log.error("unexpected error (still serving):", err));
    process.on("unhandledRejection", (err) => log.error("unexpected rejection (still serving):", err));
  });
}
