/**
 * The command line: switches, exit codes, signals. With the entry point
 * (cli.ts), the only file that calls process.exit. Exit codes: 0 ok, 1
 * configuration or usage error, 2 runtime start failure (port taken,
 * permission, privileges).
 */
import { type ArgsDef, defineCommand, parseArgs, renderUsage } from "citty";
import { configWarnings, describeKeys, loadConfig, parseConfig } from "./config/index.ts";
import type { Config } from "./config/types.ts";
import { exitCodeFor, fileErrorReason, PlbError } from "./errors.ts";
import { logEnabled, logger, parseLogLevel, reopenLogFile, setLogFile, setLogLevel } from "./log.ts";
import { start, type Runtime } from "./main.ts";
import type { ReloadSummary } from "./reload.ts";
import { WORKER_ENV } from "./workers/messages.ts";
import { prepare } from "./prepare.ts";
import { prepareAcme } from "./acme/settings.ts";
import { isDaemonChild, reportFailure, reportReady, startDaemon } from "./process/daemon.ts";
import { readConfigured } from "./process/files.ts";
import { initNotify, notifyReady, notifyReloading, notifyStatus, notifyStopping } from "./process/notify.ts";
import { PLATFORM } from "./process/platform.ts";
import { requestReload } from "./process/reload-client.ts";
import { recordReload } from "./process/reload-status.ts";
import { handleSignals, type SignalName } from "./process/signals.ts";
import { VERSION, versionLine } from "./version.ts";


/** The switches, written once: citty parses and documents them, and the check for unknown ones derives from them. */
const SWITCHES = {
  config: { type: "string", description: "Configuration file", default: "/etc/plb.toml", valueHint: "FILE" },
  daemonize: { type: "boolean", description: "Detach and run in the background; returns once serving" },
  loglevel: {
    type: "string",
    description: "error | warn | info | debug, or PLB's 0-4 (0 error, 1 warn, 2-3 info, 4 debug)",
    valueHint: "LEVEL",
  },
  logfile: { type: "string", description: "Log to FILE (- = stderr, the default)", valueHint: "FILE" },
  pidfile: { type: "string", description: "Write the pid to FILE (default /var/run/plb.pid when root)", valueHint: "FILE" },
  check: { type: "boolean", description: "Validate the configuration, print a summary and exit" },
  reload: { type: "boolean", description: "Validate the configuration, then make the running plb (its pid file) reload it; exit 1 if it is refused" },
  "help-config": { type: "boolean", description: "Describe every configuration key" },
  version: { type: "boolean", alias: "v", description: "Print the version" },
  help: { type: "boolean", alias: "h", description: "Show this help" },
} satisfies ArgsDef;

const command = defineCommand({
  meta: {
    name: "plb",
    version: VERSION,
    description:
      "Pure Load Balancer: TCP, HTTP and SMTP load balancing with fail-over.\n  Also: plb status [--watch] and plb drain|maint|ready BACKEND SERVER (through the [stats] listener)",
  },
  args: SWITCHES,
});

/** Switch names and aliases (`--no-…` forms are accepted for each). */
const KNOWN = new Set(Object.entries(SWITCHES).flatMap(([name, def]) => [name, ...("alias" in def ? [def.alias] : [])]));

export function fail(code: number, message: string): never {
  process.stderr.write(`plb: ${message}\n`);
  process.exit(code);
}

/** The running balancer as the command line drives it: one process, or the master of workers. */
type Balancer = Pick<Runtime, "services" | "stop" | "stopNow"> & {
  reload(config: Config): ReloadSummary | Promise<ReloadSummary>;
  reopenLogs?(): void;
};

const CLIENT_COMMANDS = ["status", "drain", "maint", "ready"];

/**
 * `plb status [--watch] [--config FILE]`, `plb drain|maint|ready BACKEND
 * SERVER [--config FILE]`: talk to a running plb's stats listener.
 */
async function client(argv: string[]): Promise<never> {
  const [cmd, ...rest] = argv;
  let configPath = "/etc/plb.toml";
  let watch = false;
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === "--config" || a === "-c") configPath = rest[++i] ?? fail(1, "option --config needs a value");
    else if (a.startsWith("--config=")) configPath = a.slice(9);
    else if (a === "--watch" && cmd === "status") watch = true;
    else if (a.startsWith("-")) fail(1, `unknown option "${a}" for plb ${cmd}`);
    else positional.push(a);
  }
  let config: Config;
  try {
    config = loadConfig(configPath);
  } catch (err) {
    fail(exitCodeFor(err), (err as Error).message);
  }
  const stats = config.stats ?? fail(1, `plb ${cmd} talks to the stats listener: ${configPath} has no [stats] table`);
  const { adminAction, fetchStatus, renderStatus, status } = await import("./stats/client.ts");
  if (cmd !== "status") {
    if (positional.length !== 2) fail(1, `usage: plb ${cmd} BACKEND SERVER [--config FILE]`);
    const r = await adminAction(stats, cmd as "drain" | "maint" | "ready", positional[0], positional[1]);
    (r.code === 0 ? process.stdout : process.stderr).write(`${r.code === 0 ? "" : "plb: "}${r.text}\n`);
    process.exit(r.code);
  }
  if (positional.length > 0) fail(1, `unexpected argument "${positional[0]}" (usage: plb status [--watch] [--config FILE])`);
  if (!watch) {
    const r = await status(stats);
    (r.code === 0 ? process.stdout : process.stderr).write(r.code === 0 ? r.text : `plb: ${r.text}\n`);
    process.exit(r.code);
  }
  handleSignals((sig) => {
    if (sig === "SIGINT" || sig === "SIGTERM") process.exit(0);
  });
  let before: Awaited<ReturnType<typeof fetchStatus>> | undefined;
  for (;;) {
    try {
      const now = await fetchStatus(stats);
      process.stdout.write(`\x1b[H\x1b[2J${renderStatus(now, before, 1)}`);
      before = now;
    } catch (err) {
      process.stdout.write(`\x1b[H\x1b[2Jplb: cannot read the status from ${stats.listen.text}: ${(err as Error).message}\n`);
    }
    await Bun.sleep(1000);
  }
}

export async function main(argv: string[]): Promise<void> {
  if (process.env[WORKER_ENV] !== undefined) {
    // Started by a master (workers/): everything comes over the IPC channel.
    const { runWorker } = await import("./workers/worker.ts");
    process.exit(await runWorker());
  }
  if (CLIENT_COMMANDS.includes(argv[0] ?? "")) await client(argv);
  const args = parseArgs(argv, SWITCHES as never) as Record<string, string | boolean | string[]>;
  for (const a of argv) {
    const m = /^--?([^=]+)/.exec(a);
    if (m && !KNOWN.has(m[1]) && !(m[1].startsWith("no-") && KNOWN.has(m[1].slice(3)))) fail(1, `unknown option "${a}" (see plb --help)`);
  }
  if ((args._ as string[]).length > 0) fail(1, `unexpected argument "${(args._ as string[])[0]}" (see plb --help)`);
  if (args.help) {
    process.stdout.write(`${await renderUsage(command)}\n`);
    process.exit(0);
  }
  if (args.version) {
    process.stdout.write(`${versionLine()}\n`);
    process.exit(0);
  }
  if (args["help-config"]) {
    process.stdout.write(describeKeys());
    process.exit(0);
  }
  for (const [k, def] of Object.entries(SWITCHES)) {
    if (def.type !== "string") continue;
    if (args[k] === true || args[k] === "") fail(1, `option --${k} needs a value`);
  }

  const configPath = String(args.config);
  let config: Config;
  try {
    config = loadConfig(configPath);
  } catch (err) {
    fail(exitCodeFor(err), `${(err as Error).message}${args.reload ? "\nplb: not reloaded: the running configuration stays in force" : ""}`);
  }
  const level = args.loglevel !== undefined ? parseLogLevel(String(args.loglevel)) : config.global.loglevel;
  if (level === undefined) fail(1, `--loglevel "${args.loglevel}" is not a level (error, warn, info, debug or 0-4)`);

  if (args.check) {
    // What a start does short of binding, chroot, dropping ids and the pid
    // file; user, group and chroot_dir are checked whoever runs --check.
    try {
      prepare(config, { privileges: true });
      // The ACME storage exists or can be created, and is writable; directory_ca is read.
      if (config.acme) prepareAcme(config.acme, config.global.chroot_dir);
    } catch (err) {
      fail(exitCodeFor(err), (err as Error).message);
    }
    for (const w of configWarnings(config)) process.stderr.write(`plb: warning: ${w}\n`);
    const servers = config.backends.reduce((n, b) => n + b.servers.length, 0);
    const listens = config.services.reduce((n, s) => n + s.listen.length, 0);
    // Not asked here: DNS may not be reachable from where the file is checked, and answers change.
    const dns = config.backends.reduce((n, b) => n + b.discover.length, 0);
    const fromDns = dns > 0 ? ` and ${dns} DNS entr${dns === 1 ? "y" : "ies"} (asked when plb runs)` : "";
    const declared = config.backends.filter((b) => b.declared).length;
    const backends = declared > 0 ? `, ${declared} backend(s)` : "";
    process.stdout.write(
      `${configPath}: configuration OK: ${config.services.length} service(s)${backends}, ${listens} listen address(es), ${servers} server(s)${fromDns}\n`,
    );
    process.exit(0);
  }

  const isRoot = process.getuid?.() === 0;
  const pidfile = (args.pidfile as string | undefined) ?? config.global.pidfile ?? (isRoot ? "/var/run/plb.pid" : undefined);

  if (args.reload) {
    // The file must pass what --check checks before the running plb is bothered with it.
    try {
      prepare(config, { privileges: false });
    } catch (err) {
      fail(exitCodeFor(err), `${(err as Error).message}\nplb: not reloaded: the running configuration stays in force`);
    }
    if (pidfile === undefined) fail(1, "--reload finds the running plb through its pid file: give --pidfile (or pidfile in the configuration)");
    const outcome = await requestReload(pidfile);
    (outcome.code === 0 ? process.stdout : process.stderr).write(`${outcome.code === 0 ? "" : "plb: "}${outcome.message}\n`);
    process.exit(outcome.code);
  }
  const logfile = (args.logfile as string | undefined) ?? config.global.logfile;

  if (args.daemonize && !PLATFORM.daemon) {
    fail(1, `--daemonize is not supported on ${PLATFORM.os}: run plb in the foreground under a service manager (on Windows: sc.exe or NSSM)`);
  }
  if (args.daemonize && !isDaemonChild()) {
    const result = await startDaemon(argv.filter((a) => a !== "--daemonize"));
    if (!result.ok) fail(2, result.message);
    process.stdout.write(`plb ${VERSION} running in the background (pid ${result.pid})\n`);
    if (logfile === undefined || logfile === "-") process.stderr.write("plb: note: without --logfile (or logfile in the configuration) the daemon's logs are discarded\n");
    process.exit(0);
  }

  let runtime: Balancer;
  try {
    setLogFile(logfile);
    setLogLevel(level);
    for (const w of configWarnings(config)) logger("config").warn(w);
    // Before start(): the socket is connected before any chroot. Never throws.
    initNotify();
    const cliLogLevel = args.loglevel !== undefined ? level : undefined;
    if (config.global.workers > 1) {
      const { startMaster } = await import("./workers/master.ts");
      runtime = await startMaster(config, { pidfile, logfile, loglevel: level, cliLogLevel });
    } else runtime = await start(config, { pidfile, cliLogLevel });
  } catch (err) {
    const message = err instanceof PlbError ? err.message : `cannot start: ${(err as Error).message}`;
    if (isDaemonChild()) reportFailure(message);
    notifyStatus(message);
    fail(err instanceof PlbError && err.code.startsWith("CONFIG") ? 1 : 2, message);
  }
  // Every listener is up. The --daemonize child names itself (NotifyAccess=all), before its parent exits.
  notifyReady(`serving ${runtime.services.length} service(s)`, isDaemonChild() ? process.pid : undefined);
  installSignals(runtime, configPath);
  logger("main").info(`plb ${VERSION} ready (pid ${process.pid})`);
  if (isDaemonChild()) reportReady();
}

/**
 * SIGHUP: read the configuration file again (through the directory kept
 * from before the chroot) and put it in force. A file that does not load or
 * cannot be applied changes nothing: every problem is logged, with its line,
 * and recorded for `plb --reload`.
 */
async function reloadFrom(runtime: Balancer, configPath: string): Promise<void> {
  const log = logger("reload");
  log.info(`SIGHUP: reloading ${configPath}`);
  notifyReloading();
  const t0 = performance.now();
  try {
    const config = parseConfig(readConfigured(configPath).toString("utf8"), configPath);
    for (const w of configWarnings(config)) log.warn(w);
    const summary = await runtime.reload(config);
    // One process: all of it is synchronous, this is the time the event
    // loop was held. With workers: until every worker had committed.
    log.info(`${summary.line} (${(performance.now() - t0).toFixed(1)} ms)`);
    if (logEnabled("debug")) for (const d of summary.details) log.debug(`  ${d}`);
    for (const k of summary.needRestart) log.warn(`  ${k.replace(" (", " changed but needs a restart (")}`);
    recordReload(true, summary.line);
    notifyReady(`serving ${runtime.services.length} service(s); ${summary.line}`);
  } catch (err) {
    const message = err instanceof PlbError && err.code === "CONFIG_READ" ? err.message : readError(err, configPath);
    for (const line of message.split("\n")) log.error(line);
    log.error("reload failed: the configuration in force is unchanged");
    recordReload(false, message);
    // Ready again, on the old configuration; the status says why.
    notifyReady(`reload failed, still serving the configuration before it: ${message.split("\n")[0]}`);
  }
}

function readError(err: unknown, configPath: string): string {
  if (err instanceof PlbError) return err.message;
  const e = err as NodeJS.ErrnoException;
  return e.code !== undefined || /outside chroot_dir/.test(e.message) ? `cannot read configuration file ${configPath}: ${fileErrorReason(e)}` : `reload failed: ${e.message}`;
}

/** Signals (caught since the first milliseconds by cli.ts; those that came during start-up are handled now, in order). */
function installSignals(runtime: Balancer, configPath: string): void {
  const log = logger("signal");
  let signals = 0;
  const onStop = (sig: string) => {
    signals++;
    if (signals > 1) {
      log.warn(`${sig} again: exiting now`);
      runtime.stopNow();
      process.exit(0);
    }
    log.info(`${sig}: stopping`);
    notifyStopping();
    void runtime.stop().then(() => process.exit(0));
  };
  // One reload at a time: a SIGHUP during a reload runs after it.
  let reloading = Promise.resolve();
  handleSignals((sig: SignalName) => {
    if (sig === "SIGTERM" || sig === "SIGINT") onStop(sig);
    else if (sig === "SIGHUP") reloading = reloading.then(() => reloadFrom(runtime, configPath));
    else if (sig === "SIGUSR1") {
      // logrotate's postrotate: the last line in the old file, then the new one.
      log.info("SIGUSR1: reopening the log file");
      reopenLogFile();
      runtime.reopenLogs?.();
    }
    else log.info(`${sig} ignored`);
  });
  // Bad input must never take the whole balancer down: log and keep serving.
  process.on("uncaughtException", (err) => logger("main").error("unexpected error (still serving):", err));
  process.on("unhandledRejection", (err) => logger("main").error("unexpected rejection (still serving):", err));
}

