/**
 * A REAL Postfix (Debian's `postfix` package) as an independent instance for
 * plb's SMTP tests: its own main.cf/master.cf, queue and data directories in
 * a temp dir, smtpd on 127.0.0.1:PORT only, its log in DIR/maillog (postlogd,
 * no syslog), every message delivered by pipe(8) to a file in DIR/out.
 *
 *   const pf = await startPostfix({ name: "pf1", proxyProtocol: true });
 *   ... send through plb to 127.0.0.1:pf.port ...
 *   const [m] = await pf.waitForMessages(1);
 *   expect(m.clientAddress).toBe("127.0.0.2");
 *   await pf.stop();
 *
 * The instance is kept by postfix_run.py (a child subreaper that reaps
 * Postfix's daemons and stops the instance when this process goes away).
 */
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, readdir, readFile, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../ports.ts";
import { firstJsonLine, HERE, pollFor, PYTHON, removeDir, run, tempDir } from "./proc.ts";
import { testCert } from "./tls.ts";

export interface PostfixOptions {
  /** Its hostname is NAME.localdomain; greeting "220 NAME.localdomain ESMTP NAME". Default "postfix". */
  name?: string;
  /** smtpd on 127.0.0.1:port (default: a free port). */
  port?: number;
  /** smtpd_upstream_proxy_protocol = haproxy (PROXY v1 and v2): every connection must start with a PROXY header. */
  proxyProtocol?: boolean;
  /** smtpd_authorized_xclient_hosts: true = 127.0.0.0/8 and ::1, or a Postfix host list. */
  xclient?: boolean | string;
  /** Offer STARTTLS (smtpd_tls_security_level = may) with the test certificate. */
  starttls?: boolean;
  /** message_size_limit (default 64 MiB). */
  messageSizeLimit?: number;
  /** More main.cf settings (override the helper's). */
  main?: Record<string, string>;
}

export interface PostfixMessage {
  queueId: string;
  /** Envelope sender ("" for a bounce) and recipients, as pipe(8) was given them. */
  sender: string;
  recipients: string[];
  /**
   * The message as Postfix delivered it through pipe(8): its own Received:
   * header first, lines ending in LF (Postfix stores lines, not CRLF), dot-stuffing undone.
   */
  data: Uint8Array;
  /** From the log line "QUEUEID: client=NAME[ADDR]:PORT": the client as Postfix saw it (PROXY/XCLIENT applied). */
  clientAddress: string | null;
  clientPort: number | null;
}

export interface PostfixSession {
  /** The smtpd process that served it. */
  pid: number;
  /** From "connect from NAME[ADDR]:PORT" (PROXY applied, XCLIENT not yet). */
  connectAddress: string;
  connectPort: number | null;
  /** From "disconnect from …" (XCLIENT applied); null while open. */
  disconnectAddress: string | null;
  /** The disconnect line's counters, e.g. { ehlo: "1", mail: "1", quit: "1", commands: "5" }. */
  counters: Record<string, string>;
  /** The client sent QUIT (counter quit=1). */
  quit: boolean;
  /** Postfix logged "lost connection after …" for it. */
  lost: string | null;
  open: boolean;
  /** All log lines of this smtpd for the session. */
  lines: string[];
}

export interface PostfixInstance {
  readonly name: string;
  readonly host: "127.0.0.1";
  readonly port: number;
  /** The temp dir: etc/ (config), queue/, data/, out/, maillog. */
  readonly dir: string;
  readonly configDir: string;
  readonly masterPid: number;
  /** The CA file a STARTTLS client should trust (starttls only). */
  readonly caFile: string | undefined;
  /** The whole maillog so far. */
  log(): Promise<string>;
  /** Resolves with the first log line matching `re`. */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Messages delivered so far (delivery follows the client's "250" by a few ms: use waitForMessages). */
  messages(): Promise<PostfixMessage[]>;
  waitForMessages(n: number, timeoutMs?: number): Promise<PostfixMessage[]>;
  /** smtpd sessions, from the log. */
  sessions(): Promise<PostfixSession[]>;
  waitForSessions(pred: number | ((s: PostfixSession[]) => boolean), timeoutMs?: number): Promise<PostfixSession[]>;
  /** `postconf -c DIR NAME`: the value in force. */
  postconf(name: string): Promise<string>;
  /** Abrupt death: SIGKILL to the master's whole process group. log()/messages() keep working until stop(). */
  kill(): Promise<void>;
  /** Stop the instance (SIGTERM to the master), wait for every process, remove its files (log and messages stay readable). */
  stop(): Promise<void>;
}

const RUN_PY = join(HERE, "postfix_run.py");

function mainCf(o: {
  dir: string;
  name: string;
  opts: PostfixOptions;
  cert?: { cert: string; key: string };
}): string {
  const { dir, name, opts } = o;
  const xclientHosts = opts.xclient === true ? "127.0.0.0/8, [::1]/128" : typeof opts.xclient === "string" ? opts.xclient : "";
  const settings: Record<string, string> = {
    compatibility_level: "3.6",
    queue_directory: join(dir, "queue"),
    data_directory: join(dir, "data"),
    maillog_file: join(dir, "maillog"),
    maillog_file_prefixes: dir,
    myhostname: `${name}.localdomain`,
    mydomain: "localdomain",
    myorigin: "$myhostname",
    smtpd_banner: `$myhostname ESMTP ${name}`,
    inet_interfaces: "loopback-only",
    inet_protocols: "all",
    // Nothing is local: every recipient goes to default_transport (filedrop).
    mydestination: "",
    relay_domains: "",
    local_recipient_maps: "",
    alias_maps: "",
    alias_database: "",
    default_transport: "filedrop",
    filedrop_destination_recipient_limit: "1000",
    // Loopback-only test instance: accept mail for anywhere from anyone (also
    // from addresses given by PROXY/XCLIENT).
    mynetworks: "0.0.0.0/0, [::]/0",
    smtpd_relay_restrictions: "permit_mynetworks, reject",
    smtpd_peername_lookup: "no",
    smtpd_client_port_logging: "yes",
    smtpd_error_sleep_time: "0",
    smtpd_upstream_proxy_protocol: opts.proxyProtocol ? "haproxy" : "",
    smtpd_upstream_proxy_timeout: "5s",
    smtpd_authorized_xclient_hosts: xclientHosts,
    message_size_limit: String(opts.messageSizeLimit ?? 64 * 1024 * 1024),
    mailbox_size_limit: "0",
    in_flow_delay: "0",
    biff: "no",
    append_dot_mydomain: "no",
    readme_directory: "no",
    delay_warning_time: "0",
    ...(o.cert
      ? {
          smtpd_tls_cert_file: o.cert.cert,
          smtpd_tls_key_file: o.cert.key,
          smtpd_tls_security_level: "may",
          smtpd_tls_loglevel: "1",
        }
      : { smtpd_tls_security_level: "none" }),
    ...opts.main,
  };
  return `${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join("\n")}\n`;
}

function masterCf(dir: string, port: number, tls: boolean): string {
  // Every service unchrooted (column 5 = n); smtpd on loopback only.
  return `127.0.0.1:${port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
${tls ? "tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n" : ""}rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
filedrop  unix  -       n       n       -       -       pipe
  flags= user=nobody argv=${join(dir, "deliver.sh")} \${queue_id} \${sender} \${recipient}
`;
}

function deliverSh(out: string): string {
  return `#!/bin/sh
# pipe(8): deliver.sh QUEUE_ID SENDER RECIPIENT... < message
id=$1; from=$2; shift 2
f="${out}/$id.$$"
cat > "$f.tmp" || exit 75
printf '%s\\n' "$from" "$@" > "$f.env" || exit 75
mv "$f.tmp" "$f.eml"
`;
}

// "NAME[ADDR]" or "NAME[ADDR]:PORT"
const CLIENT_RE = /^(\S*?)\[([^\]]*)\](?::(\d+))?/;

function parseClient(s: string): { address: string; port: number | null } | null {
  const m = CLIENT_RE.exec(s);
  if (!m) return null;
  return { address: m[2].replace(/^ipv6:/i, ""), port: m[3] ? Number(m[3]) : null };
}

/**
 * Postfix waits (in 300 ms steps, up to 2 s) for a configuration file whose
 * mtime is under a second or two old, in case it is still being written:
 * give ours an older one.
 */
async function backdate(file: string): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  await utimes(file, past, past);
}

let ids: Promise<{ postfix: number; postdrop: number }> | undefined;

/**
 * Create the queue and data directories as Postfix's own postfix-files says
 * (owner, group, mode), and ask `postfix start` to skip its integrity check
 * (queue/quick-start): that check spawns some 200 processes, 2 s per start.
 */
async function makeQueue(dir: string): Promise<void> {
  ids ??= (async () => {
    const u = await run(["id", "-u", "postfix"]);
    const g = await run(["getent", "group", "postdrop"]);
    if (u.code !== 0 || g.code !== 0) throw new Error("Postfix is not installed (no user postfix / group postdrop): apt-get install postfix");
    return { postfix: Number(u.stdout.trim()), postdrop: Number(g.stdout.split(":")[2]) };
  })();
  const { postfix, postdrop } = await ids;
  const queue = join(dir, "queue");
  const data = join(dir, "data");
  let spec = "";
  try {
    spec = await readFile("/etc/postfix/postfix-files", "utf8");
  } catch {
    /* fall back to the full check below */
  }
  const entries = spec
    .split("\n")
    .map((l) => l.split(":"))
    .filter((f) => f.length >= 5 && f[1] === "d" && /^\$(queue|data)_directory(\/|$)/.test(f[0]));
  const owner = (o: string) => (o === "root" ? 0 : postfix);
  const group = (g: string) => (g === "$setgid_group" ? postdrop : 0);
  for (const [path, , o, g, mode] of entries) {
    const p = path.replace("$queue_directory", queue).replace("$data_directory", data);
    await mkdir(p, { recursive: true });
    await chown(p, owner(o), group(g));
    await chmod(p, Number.parseInt(mode, 8));
  }
  if (entries.length >= 15) await writeFile(join(queue, "quick-start"), "");
  else {
    await mkdir(queue, { recursive: true });
    await mkdir(data, { recursive: true });
    await chown(data, postfix, -1);
  }
}

export async function startPostfix(opts: PostfixOptions = {}): Promise<PostfixInstance> {
  const name = (opts.name ?? "postfix").replace(/[^A-Za-z0-9-]/g, "-");
  const dir = tempDir(`plb-postfix-${name}-`);
  const configDir = join(dir, "etc");
  const out = join(dir, "out");
  await mkdir(configDir);
  await mkdir(out);
  // pipe(8) runs deliver.sh as nobody: it must reach DIR and write DIR/out.
  await chmod(dir, 0o755);
  await chmod(out, 0o1777);
  await makeQueue(dir);
  await writeFile(join(dir, "deliver.sh"), deliverSh(out), { mode: 0o755 });
  const cert = opts.starttls ? await testCert() : undefined;
  await writeFile(join(configDir, "main.cf"), mainCf({ dir, name, opts, cert }));
  await backdate(join(configDir, "main.cf"));

  let proc: Subprocess<"pipe", "pipe", "pipe"> | undefined;
  let masterPid = 0;
  let port = 0;
  let lastError = "";
  for (let attempt = 0; attempt < 4 && !proc; attempt++) {
    port = opts.port ?? (await freePort());
    await writeFile(join(configDir, "master.cf"), masterCf(dir, port, !!cert));
    await backdate(join(configDir, "master.cf"));
    const p = Bun.spawn([PYTHON, RUN_PY, configDir, dir], { stdin: "pipe", stdout: "pipe", stderr: "pipe" }) as Subprocess<"pipe", "pipe", "pipe">;
    try {
      const r = await firstJsonLine<{ event: string; masterPid?: number; output?: string }>(p, 30_000);
      if (r.event === "ready") {
        proc = p;
        masterPid = r.masterPid!;
      } else {
        lastError = r.output ?? "";
        await p.exited;
      }
    } catch (e) {
      lastError = (e as Error).message;
      p.kill("SIGKILL");
      await p.exited;
    }
    if (!proc) {
      const log = existsSync(join(dir, "maillog")) ? await readFile(join(dir, "maillog"), "utf8") : "";
      lastError += `\n${log}`;
      if (opts.port !== undefined || !/address already in use/i.test(lastError)) break;
    }
  }
  if (!proc) {
    await removeDir(dir);
    throw new Error(`Postfix ${name} did not start: ${lastError.trim()}`);
  }
  const keeper = proc;
  // The keeper stops Postfix when its stdin closes: hold the pipe meanwhile.
  const keeperStdin = keeper.stdin;
  (async () => {
    for await (const _ of keeper.stderr) {
      /* drain */
    }
  })().catch(() => {});

  let final: { log: string; messages: PostfixMessage[] } | undefined;

  async function log(): Promise<string> {
    if (final) return final.log;
    const f = join(dir, "maillog");
    return existsSync(f) ? await readFile(f, "utf8") : "";
  }

  async function messages(): Promise<PostfixMessage[]> {
    if (final) return final.messages;
    const files = (await readdir(out)).filter((f) => f.endsWith(".eml")).sort();
    const text = await log();
    const clients = new Map<string, { address: string; port: number | null }>();
    for (const m of text.matchAll(/postfix\/smtpd\[\d+\]: ([0-9A-Za-z]+): client=(\S+)/g)) {
      const c = parseClient(m[2]);
      if (c) clients.set(m[1], c);
    }
    const outList: PostfixMessage[] = [];
    for (const f of files) {
      const base = f.slice(0, -4);
      const queueId = base.slice(0, base.lastIndexOf("."));
      const [data, env] = await Promise.all([readFile(join(out, f)), readFile(join(out, `${base}.env`), "utf8")]);
      const [sender, ...recipients] = env.replace(/\n$/, "").split("\n");
      const c = clients.get(queueId);
      outList.push({
        queueId,
        sender: sender === "MAILER-DAEMON" ? "" : sender,
        recipients,
        data: new Uint8Array(data),
        clientAddress: c?.address ?? null,
        clientPort: c?.port ?? null,
      });
    }
    return outList;
  }

  async function sessions(): Promise<PostfixSession[]> {
    const text = await log();
    const open = new Map<number, PostfixSession>();
    const all: PostfixSession[] = [];
    for (const line of text.split("\n")) {
      const m = /postfix\/smtpd\[(\d+)\]: (.*)$/.exec(line);
      if (!m) continue;
      const pid = Number(m[1]);
      const msg = m[2];
      let s = open.get(pid);
      const c = /^connect from (\S+)/.exec(msg);
      if (c) {
        const cl = parseClient(c[1]);
        s = {
          pid,
          connectAddress: cl?.address ?? c[1],
          connectPort: cl?.port ?? null,
          disconnectAddress: null,
          counters: {},
          quit: false,
          lost: null,
          open: true,
          lines: [line],
        };
        open.set(pid, s);
        all.push(s);
        continue;
      }
      if (!s) continue;
      s.lines.push(line);
      const lost = /^lost connection after (\S+)/.exec(msg);
      if (lost) s.lost = lost[1];
      const d = /^disconnect from (\S+)(.*)$/.exec(msg);
      if (d) {
        s.disconnectAddress = parseClient(d[1])?.address ?? d[1];
        for (const kv of d[2].trim().split(/\s+/)) {
          const [k, v] = kv.split("=");
          if (k && v !== undefined) s.counters[k] = v;
        }
        s.quit = s.counters.quit !== undefined && s.counters.quit !== "0" && !s.counters.quit.startsWith("0/");
        s.open = false;
        open.delete(pid);
      }
    }
    return all;
  }

  let stopped = false;
  const instance: PostfixInstance = {
    name,
    host: "127.0.0.1",
    port,
    dir,
    configDir,
    masterPid,
    caFile: cert?.cert,
    log,
    async waitForLog(re, timeoutMs = 10_000) {
      return pollFor(`${re} in Postfix ${name}'s log`, async () => (await log()).split("\n").find((l) => re.test(l)), timeoutMs);
    },
    messages,
    async waitForMessages(n, timeoutMs = 10_000) {
      return pollFor(`${n} message(s) delivered by Postfix ${name}`, async () => {
        const m = await messages();
        return m.length >= n ? m : undefined;
      }, timeoutMs);
    },
    sessions,
    async waitForSessions(pred, timeoutMs = 10_000) {
      const test = typeof pred === "number" ? (s: PostfixSession[]) => s.filter((x) => !x.open).length >= pred : pred;
      return pollFor(`sessions at Postfix ${name}`, async () => {
        const s = await sessions();
        return test(s) ? s : undefined;
      }, timeoutMs);
    },
    async postconf(param) {
      const r = await run(["postconf", "-c", configDir, "-h", param]);
      return r.stdout.trim();
    },
    async kill() {
      try {
        process.kill(-masterPid, "SIGKILL");
      } catch {
        /* already gone */
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      keeper.kill("SIGTERM");
      await keeper.exited;
      keeperStdin.end();
      final = { log: await log(), messages: await messages() };
      await removeDir(dir);
    },
  };
  return instance;
}
