/**
 * The master of `workers = N`: it reads the configuration, owns every
 * server's state, runs the probes (once, not once per worker) and keeps N
 * worker processes running, each accepting on every listen address with
 * SO_REUSEPORT and relaying.
 *
 * - State has one owner: workers send the outcomes they observe; the master
 *   applies them (servers/state) and pushes every change to every worker, so
 *   a server that fails in one worker is down in all of them.
 * - A worker that dies is started again (with back-off, logged with its exit
 *   cause); its clients' connections are lost, no other worker's.
 * - SIGHUP reloads all of them from one parse, in two phases: every worker
 *   prepares (reads its files, binds new addresses); only when all could
 *   does the master commit its own state and tell them to commit.
 * - The master keeps root and does not chroot (as nginx's and HAProxy's
 *   masters): a worker started later must bind, chroot and drop exactly as
 *   the first ones did. It accepts no client.
 */
import type { Subprocess } from "bun";
import { acmeSnapshot, forwardAcme } from "../acme/publish.ts";
import { AcmeRun } from "../acme/run.ts";
import { Admission } from "../admission.ts";
import type { Config, LogLevelName } from "../config/types.ts";
import { PlbError } from "../errors.ts";
import { logger, setLogLabel } from "../log.ts";
import { announceStop, discoveryFor, listeningLine, resolveServers, systemResolver } from "../startup.ts";
import { Sweeper } from "../net/sweep.ts";
import { daemonCommand } from "../process/daemon.ts";
import { removePidFile, writePidFile } from "../process/pidfile.ts";
import { closeReloadStatus, openReloadStatus } from "../process/reload-status.ts";
import { prepare } from "../prepare.ts";
import { lookAfter, planReload, type ReloadSummary, type Running } from "../reload.ts";
import { Scheduler } from "../scheduler.ts";
import type { Backend } from "../backend.ts";
import type { Service } from "../service.ts";
import type { Server } from "../servers/server.ts";
import { Collector, type CollectorSnapshot } from "../stats/collector.ts";
import { poolControl, startStats, statsToken, type StatsListener } from "../stats/listener.ts";
import { Metrics } from "../stats/metrics.ts";
import { type Discovered, type FromWorker, poolState, stateOf, type ToWorker, WORKER_ENV } from "./messages.ts";

const log = logger("workers");

export interface MasterOptions {
  pidfile?: string;
  logfile?: string;
  loglevel: LogLevelName;
  cliLogLevel?: LogLevelName;
  /** Longest wait for a worker's answer (start, reload), ms. */
  answerMs?: number;
}

/** What command.ts drives: the same verbs as a single process's runtime. */
export interface MasterRuntime {
  readonly services: readonly Service[];
  readonly workers: readonly { readonly index: number; readonly pid: number | undefined }[];
  reload(config: Config): Promise<ReloadSummary>;
  reopenLogs(): void;
  stop(): Promise<void>;
  stopNow(): void;
}

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 10_000;
/** A worker that ran this long before dying starts again after the first back-off. */
const HEALTHY_MS = 10_000;

interface Slot {
  readonly index: number;
  proc: Subprocess | undefined;
  ready: boolean;
  startedAt: number;
  backoff: number;
  restart: ReturnType<typeof setTimeout> | undefined;
  /** Waiting for this worker's answer: resolved by its next message of that kind, or by its exit. */
  onReady?: (failure: string | undefined) => void;
  onPrepared?: (error: string | undefined) => void;
  /** Waiting for counters, by request number. */
  readonly collecting: Map<number, (c: CollectorSnapshot | undefined) => void>;
}

function exitCause(proc: Subprocess): string {
  return proc.signalCode ? `killed by ${proc.signalCode}` : `exit status ${proc.exitCode}`;
}

export async function startMaster(first: Config, opts: MasterOptions): Promise<MasterRuntime> {
  const count = first.global.workers;
  // Whose line is whose: "[master]", and "[w0]", "[w1]"… in the workers'.
  setLogLabel("master");
  const answerMs = opts.answerMs ?? 30_000;
  const context = { sessions: new Sweeper(1000), admission: new Admission({ maxconn: Infinity }) };
  // What a start checks (files, users, chroot_dir): refused here before any worker runs.
  const { services, backends } = prepare(first, { context });
  const resolver = systemResolver(first);
  await resolveServers(backends, resolver);
  const scheduler = new Scheduler(resolver);
  // The master asks DNS; every answer that changes a set goes to every worker.
  const discovery = discoveryFor(() => running, resolver, (backend, source, _change, answer) =>
    broadcast({ t: "discovered", backend: backend.name, source: source.key, answer }),
  );
  const running: Running = { config: first, services, backends, context, scheduler, discovery, derivedMaxconn: Infinity, cliLogLevel: opts.cliLogLevel, listens: false };

  let pidWritten: string | undefined;
  if (opts.pidfile) {
    writePidFile(opts.pidfile);
    pidWritten = opts.pidfile;
    openReloadStatus(opts.pidfile);
  }

  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({ index, proc: undefined, ready: false, startedAt: 0, backoff: FIRST_BACKOFF_MS, restart: undefined, collecting: new Map() }));
  let stopping = false;
  let seq = 0;
  let stats: { metrics: Metrics; listener: StatsListener } | undefined;

  const send = (slot: Slot, m: ToWorker): void => {
    try {
      slot.proc?.send(m);
    } catch {
      // exited meanwhile: onExit deals with it
    }
  };
  const broadcast = (m: ToWorker): void => {
    for (const slot of slots) if (slot.ready) send(slot, m);
  };
  const snapshot = (): ToWorker => ({ t: "state", states: running.backends.map((b) => poolState(b.name, b.pool)) });
  /** Every DNS entry's last answer (sent before a snapshot, which names their servers). */
  const discoveredSets = (): Discovered[] => running.backends.flatMap((b) => [...b.discovered()].map(([source, answer]) => ({ backend: b.name, source, answer })));

  // Every change of a server's state (slow-start steps too) goes to every worker at once.
  const subscriptions = new Map<Backend, () => void>();
  const subscribe = (): void => {
    for (const [b, off] of subscriptions) {
      if (!running.backends.includes(b)) {
        off();
        subscriptions.delete(b);
      }
    }
    for (const b of running.backends) {
      if (subscriptions.has(b)) continue;
      const tell = (server: Server): void => broadcast({ t: "state", states: [{ backend: b.name, servers: [stateOf(server)] }] });
      const offs = [b.pool.onTransition(tell), b.pool.onWeight(tell)];
      subscriptions.set(b, () => offs.forEach((off) => off()));
    }
  };
  subscribe();

  const onMessage = (slot: Slot, m: FromWorker): void => {
    switch (m.t) {
      case "ready":
        slot.ready = true;
        // Anything that changed while it started.
        for (const d of discoveredSets()) send(slot, { t: "discovered", ...d });
        send(slot, snapshot());
        // ACME changes since its start message (those before are put again: the same certificate, no harm).
        for (const push of acmeSnapshot()) send(slot, { t: "acme", push });
        return slot.onReady?.(undefined);
      case "failed":
        return slot.onReady?.(m.message);
      case "outcome": {
        const b = running.backends.find((x) => x.name === m.backend);
        const server = b?.pool.servers.find((s) => s.id === m.server);
        if (b && server) b.pool.report(server, m.outcome, m.detail, m.source);
        return;
      }
      case "reload-prepared":
        return slot.onPrepared?.(m.error);
      case "collected": {
        const done = slot.collecting.get(m.seq);
        slot.collecting.delete(m.seq);
        return done?.(m.counters);
      }
    }
  };

  const spawn = (slot: Slot): void => {
    slot.ready = false;
    slot.startedAt = Date.now();
    // The arguments only name the process for ps; a worker ignores them.
    const proc: Subprocess = Bun.spawn(daemonCommand(["--worker", `${slot.index}/${count}`]), {
      env: { ...process.env, [WORKER_ENV]: `${slot.index}/${count}` },
      stdio: ["ignore", "inherit", "inherit"],
      serialization: "json",
      ipc: (m: FromWorker) => onMessage(slot, m),
      onExit: (): void => exited(slot, proc),
    });
    slot.proc = proc;
    send(slot, {
      t: "start",
      index: slot.index,
      count,
      config: running.config,
      logfile: opts.logfile,
      loglevel: opts.cliLogLevel ?? running.config.global.loglevel,
      cliLogLevel: opts.cliLogLevel !== undefined,
      discovered: discoveredSets(),
      acme: acmeSnapshot(),
    });
  };

  const exited = (slot: Slot, proc: Subprocess): void => {
    if (slot.proc !== proc) return;
    slot.proc = undefined;
    const wasReady = slot.ready;
    slot.ready = false;
    slot.onReady?.(`worker ${slot.index} ${exitCause(proc)} before it was ready`);
    slot.onPrepared?.(undefined); // its replacement starts with the configuration in force
    for (const done of slot.collecting.values()) done(undefined);
    slot.collecting.clear();
    if (stopping) return;
    if (Date.now() - slot.startedAt >= HEALTHY_MS) slot.backoff = FIRST_BACKOFF_MS;
    const wait = slot.backoff;
    slot.backoff = Math.min(slot.backoff * 2, MAX_BACKOFF_MS);
    log.warn(`worker ${slot.index} (pid ${proc.pid}) ${exitCause(proc)}${wasReady ? "" : " before it was ready"}: starting a new one in ${wait} ms`);
    slot.restart = setTimeout(() => {
      slot.restart = undefined;
      if (!stopping) spawn(slot);
    }, wait);
  };

  /** The worker's answer: a failure's text, or undefined when it could. */
  const answer = (slot: Slot, key: "onReady" | "onPrepared", what: string): Promise<string | undefined> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        slot[key] = undefined;
        resolve(`worker ${slot.index} did not answer ${what} within ${answerMs} ms`);
      }, answerMs);
      slot[key] = (v: string | undefined) => {
        clearTimeout(t);
        slot[key] = undefined;
        resolve(v);
      };
    });

  const killAll = (): void => {
    for (const slot of slots) {
      clearTimeout(slot.restart);
      slot.proc?.kill("SIGKILL");
    }
  };
  const finish = (): void => {
    acme?.stop();
    forwardAcme(() => {});
    stats?.listener.stop();
    stats?.metrics.stop();
    scheduler.stop();
    discovery.stop();
    for (const off of subscriptions.values()) off();
    if (pidWritten) removePidFile(pidWritten);
    pidWritten = undefined;
    closeReloadStatus();
  };

  // The first DNS answers, before any worker runs (each is told them when ready).
  await Promise.all(backends.map((b) => discovery.watch(b, true)));
  // ACME: only the master talks to the CA (it keeps root and does not chroot). Stored certificates and
  // placeholders go to the workers in their start message; orders wait until they can answer challenges.
  forwardAcme((push) => broadcast({ t: "acme", push }));
  let acme: AcmeRun | undefined;
  try {
    acme = AcmeRun.prepare({ ...first, global: { ...first.global, chroot_dir: undefined } })?.start({ hold: true });
  } catch (err) {
    finish();
    throw err;
  }
  // Start them all; the first one that cannot start fails the start.
  for (const slot of slots) spawn(slot);
  const failures = (await Promise.all(slots.map((slot) => answer(slot, "onReady", "its start")))).filter(Boolean);
  if (failures.length > 0) {
    stopping = true;
    killAll();
    finish();
    throw new PlbError("LISTEN_FAILED", String(failures[0]));
  }
  for (const b of running.backends) void lookAfter(running, b);
  acme?.release();

  // The stats listener is the master's: server state is here, traffic is the sum of the workers' counters.
  let collectSeq = 0;
  const collectAll = async (): Promise<Collector> => {
    const sum = new Collector();
    const id = ++collectSeq;
    const replies = slots
      .filter((s) => s.ready)
      .map(
        (slot) =>
          new Promise<CollectorSnapshot | undefined>((resolve) => {
            const t = setTimeout(() => {
              slot.collecting.delete(id);
              resolve(undefined);
            }, 1000);
            slot.collecting.set(id, (c) => {
              clearTimeout(t);
              resolve(c);
            });
            send(slot, { t: "collect", seq: id });
          }),
      );
    for (const snap of await Promise.all(replies)) if (snap) sum.merge(snap);
    return sum;
  };
  if (first.stats) {
    const metrics = new Metrics(collectAll, () => running.services, () => running.backends, (b) => discovery.status(b));
    try {
      // An admin action changes the master's state; every worker is told at once.
      const control = poolControl(
        () => running.backends,
        (name) => {
          const b = running.backends.find((x) => x.name === name);
          if (b) broadcast({ t: "state", states: [poolState(b.name, b.pool)] });
        },
      );
      stats = { metrics, listener: startStats(first.stats, metrics, statsToken(first.stats), control) };
    } catch (err) {
      stopping = true;
      killAll();
      finish();
      throw err;
    }
    metrics.start();
  }
  for (const svc of running.services) log.info(listeningLine(svc));
  log.info(`${count} workers running (pids ${slots.map((s) => s.proc?.pid).join(", ")})`);

  let stopped: Promise<void> | undefined;
  return {
    get services() {
      return running.services;
    },
    get workers() {
      return slots.map((s) => ({ index: s.index, pid: s.proc?.pid }));
    },
    async reload(config: Config): Promise<ReloadSummary> {
      if (stopping) throw new PlbError("CONFIG_INVALID", "stopping: a reload is no longer possible");
      if (config.global.workers !== count) log.warn(`workers changed from ${count} to ${config.global.workers}: that needs a restart; still ${count}`);
      const token = stats && config.stats ? statsToken(config.stats) : undefined; // read again: a rotated token
      const plan = planReload(running, config); // the master's checks: throws with nothing changed
      const id = ++seq;
      const live = slots.filter((s) => s.ready);
      const answers = live.map((slot) => answer(slot, "onPrepared", "the reload"));
      for (const slot of live) send(slot, { t: "reload-prepare", seq: id, config });
      const errors = (await Promise.all(answers)).filter((e): e is string => e !== undefined);
      if (errors.length > 0) {
        for (const slot of live) send(slot, { t: "reload-abort", seq: id });
        plan.abort();
        throw new PlbError("LISTEN_FAILED", `${errors[0]}${errors.length > 1 ? ` (and in ${errors.length - 1} more worker(s))` : ""}`);
      }
      const summary = plan.commit();
      // The manager is kept: no new order for unchanged names.
      try {
        if (acme) acme.update(config);
        else acme = AcmeRun.start({ ...config, global: { ...config.global, chroot_dir: undefined } });
      } catch (err) {
        log.error(`ACME: ${(err as Error).message}; certificates are not ordered until this is fixed and plb reloaded`);
      }
      if (stats && config.stats) {
        stats.listener.setToken(token);
        stats.listener.setRequireServers(config.stats.healthz_requires_servers);
      }
      subscribe();
      for (const slot of live) {
        send(slot, { t: "reload-commit", seq: id });
        for (const d of discoveredSets()) send(slot, { t: "discovered", ...d });
        send(slot, snapshot());
      }
      return summary;
    },
    reopenLogs() {
      broadcast({ t: "reopen-logs" });
    },
    stop() {
      return (stopped ??= (async () => {
        stopping = true;
        // /healthz says 503 while the workers drain (the stats listener closes last).
        stats?.listener.stopping();
        if (running.config.global.shutdown_delay > 0) await announceStop(running.config.global.shutdown_delay);
        scheduler.stop();
        discovery.stop();
        for (const slot of slots) {
          clearTimeout(slot.restart);
          send(slot, { t: "stop" });
        }
        const deadline = Date.now() + running.config.global.timeout_shutdown + 5_000;
        while (slots.some((s) => s.proc !== undefined) && Date.now() < deadline) await Bun.sleep(20);
        killAll();
        finish();
        log.info("stopped");
      })());
    },
    stopNow() {
      stopping = true;
      stats?.listener.stopping();
      for (const slot of slots) send(slot, { t: "stop-now" });
      killAll();
      finish();
    },
  };
}
