/**
 * Dropping root: chroot, then give up every group and user id for good.
 *
 * Order (when started as root, i.e. effective uid 0):
 *   1. resolve `user` / `group` to ids from /etc/passwd and /etc/group
 *      (numeric ids allowed) — BEFORE chroot, the files are gone after it;
 *   2. chroot(chroot_dir) + chdir("/");
 *   3. setgroups([]) (no supplementary groups), setresgid(g, g, g),
 *      setresuid(u, u, u) — real, effective and saved ids, so root cannot
 *      be regained;
 *   4. verify through system calls (not /proc, which is usually missing in
 *      the chroot): all three uids and gids, the group list, and that
 *      setresuid(0, 0, 0) now fails. Any failure throws
 *      PlbError("PRIVILEGES"): plb never keeps running as root by accident.
 *
 * Root with none of user/group/chroot_dir set stays root with a loud
 * warning; root with group or chroot_dir but no user is refused (a chroot
 * that root can leave is no protection).
 *
 * AFTER CHROOT NOTHING MAY LAZILY LOAD FILES: no dynamic import(), no
 * reading /etc (user names, resolv.conf, hosts, zoneinfo), no dlopen. Every
 * module must be imported statically before dropPrivileges() runs, and libc
 * is already loaded here because chroot goes through it. Host names that
 * need /etc/resolv.conf must be resolved before, or the chroot must carry
 * its own /etc files.
 */
import { readFileSync, statSync } from "node:fs";
import { PlbError } from "../errors.ts";
import { logger } from "../log.ts";
import { rememberUser } from "./identity.ts";
import * as libc from "./libc.ts";
import { type Platform, PLATFORM } from "./platform.ts";

const log = logger("privileges");

export interface PrivilegeOptions {
  user?: string;
  group?: string;
  chroot_dir?: string;
}

export interface PrivilegeSummary {
  /** Whether the process was started with effective uid 0. */
  startedAsRoot: boolean;
  /** Ids the process runs with now. */
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  /** The new root directory, when chroot was done. */
  chroot?: string;
  /** Settings that were ignored, or a root process kept running as root. */
  warnings: string[];
}

interface Ids {
  uid: number;
  gid: number;
}

const MAX_ID = 0xfffffffe; // (uid_t)-1 means "unchanged" to the set*id calls

function numericId(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const id = Number(text);
  return id <= MAX_ID ? id : undefined;
}

/** `name:x:field2:field3:...` records of /etc/passwd or /etc/group. */
function records(file: string): string[][] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new PlbError("PRIVILEGES", `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return text
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => line.split(":"));
}

interface UserEntry {
  uid: number;
  /** Primary group from /etc/passwd, when the user has an entry. */
  primary: number | undefined;
}

/** `user` (a name or a number) to its uid. Reads /etc/passwd. */
function lookupUser(user: string): UserEntry {
  const passwd = records("/etc/passwd");
  const byName = passwd.find((r) => r[0] === user);
  const userNum = numericId(user);
  if (byName && byName.length >= 4) return { uid: Number(byName[2]), primary: Number(byName[3]) };
  if (userNum !== undefined) {
    const byUid = passwd.find((r) => r[2] === user);
    return { uid: userNum, primary: byUid ? Number(byUid[3]) : undefined };
  }
  throw new PlbError("PRIVILEGES", `user "${user}" not found in /etc/passwd`);
}

/** `group` (a name or a number) to its gid. Reads /etc/group. */
function lookupGroup(group: string): number {
  const entry = records("/etc/group").find((r) => r[0] === group);
  const groupNum = numericId(group);
  if (entry && entry.length >= 3) return Number(entry[2]);
  if (groupNum !== undefined) return groupNum;
  throw new PlbError("PRIVILEGES", `group "${group}" not found in /etc/group`);
}

/** Resolves user and group names (or numbers) to ids. Reads /etc: call before chroot. */
export function resolveIds(user: string, group?: string): Ids {
  const { uid, primary } = lookupUser(user);
  let gid: number;
  if (group !== undefined) {
    gid = lookupGroup(group);
  } else if (primary !== undefined) {
    gid = primary;
  } else {
    throw new PlbError("PRIVILEGES", `user ${user} has no /etc/passwd entry: set "group" too`);
  }
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid > MAX_ID || gid > MAX_ID) {
    throw new PlbError("PRIVILEGES", `bad id for user "${user}" / group "${group ?? ""}"`);
  }
  return { uid, gid };
}

/** `"group" and "chroot_dir" need "user" when started as root` for the keys set. */
function needsUser(options: PrivilegeOptions): string | undefined {
  if (options.user !== undefined) return undefined;
  const set = (["group", "chroot_dir"] as const).filter((k) => options[k] !== undefined).map((k) => JSON.stringify(k));
  if (set.length === 0) return undefined;
  return `${set.join(" and ")} ${set.length > 1 ? "need" : "needs"} "user" when started as root`;
}

export interface PrivilegeProblem {
  readonly key: "user" | "group" | "chroot_dir";
  readonly message: string;
}

/**
 * Everything dropPrivileges() would refuse when started as root, found
 * without changing anything (for a start before it binds, and for
 * `--check` whoever runs it): `user` and `group` exist, `user` is not
 * root, `chroot_dir` is a directory, `group`/`chroot_dir` come with
 * `user`. Reads /etc: call before chroot. Every problem is returned.
 */
export function checkPrivileges(options: PrivilegeOptions, platform: Platform = PLATFORM): PrivilegeProblem[] {
  const { user, group, chroot_dir } = options;
  const problems: PrivilegeProblem[] = [];
  if (!platform.privileges) {
    // Windows: no chroot, no user to drop to. Saying so beats ignoring it.
    for (const key of ["user", "group", "chroot_dir"] as const) {
      if (options[key] !== undefined) problems.push({ key, message: `${JSON.stringify(key)} is not supported on ${platform.os} (no chroot or privilege drop there): remove it` });
    }
    return problems;
  }
  const need = needsUser(options);
  if (need !== undefined) problems.push({ key: group !== undefined ? "group" : "chroot_dir", message: need });
  let entry: UserEntry | undefined;
  if (user !== undefined) {
    try {
      entry = lookupUser(user);
      if (entry.uid === 0) problems.push({ key: "user", message: `user "${user}" is root (uid 0): choose an unprivileged user` });
      else if (!Number.isInteger(entry.uid) || entry.uid > MAX_ID) problems.push({ key: "user", message: `bad id for user "${user}"` });
    } catch (err) {
      problems.push({ key: "user", message: (err as Error).message });
    }
  }
  if (group !== undefined) {
    try {
      const gid = lookupGroup(group);
      if (!Number.isInteger(gid) || gid > MAX_ID) problems.push({ key: "group", message: `bad id for group "${group}"` });
    } catch (err) {
      problems.push({ key: "group", message: (err as Error).message });
    }
  } else if (entry !== undefined && entry.primary === undefined) {
    problems.push({ key: "user", message: `user ${user} has no /etc/passwd entry: set "group" too` });
  }
  if (chroot_dir !== undefined) {
    try {
      if (!statSync(chroot_dir).isDirectory()) problems.push({ key: "chroot_dir", message: `chroot_dir ${JSON.stringify(chroot_dir)} is not a directory` });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === "ENOENT" ? "does not exist" : e.code === "ENOTDIR" ? "is not a directory" : `cannot be used: ${e.message}`;
      problems.push({ key: "chroot_dir", message: `chroot_dir ${JSON.stringify(chroot_dir)} ${why}` });
    }
  }
  return problems;
}

/** Runs a libc step; its failure becomes a PRIVILEGES error. */
function step(what: string, run: () => void): void {
  try {
    run();
  } catch (err) {
    throw new PlbError("PRIVILEGES", `${what}: ${(err as Error).message}`, { cause: err });
  }
}

function same(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Checks the drop really happened; throws otherwise. */
function verify(ids: Ids): void {
  const uids = libc.getresuid();
  const gids = libc.getresgid();
  const groups = libc.getgroups();
  const seen = [process.getuid?.(), process.geteuid?.(), process.getgid?.(), process.getegid?.()];
  const bad: string[] = [];
  if (!same(uids, [ids.uid, ids.uid, ids.uid])) bad.push(`uids are ${uids.join("/")}`);
  if (!same(gids, [ids.gid, ids.gid, ids.gid])) bad.push(`gids are ${gids.join("/")}`);
  if (groups.some((g) => g !== ids.gid)) bad.push(`supplementary groups are ${groups.join(",")}`);
  if (!same(seen as number[], [ids.uid, ids.uid, ids.gid, ids.gid])) bad.push(`process ids are ${seen.join("/")}`);
  let regained = false;
  try {
    libc.setresuid(0, 0, 0);
    regained = true;
  } catch (err) {
    if (!(err instanceof libc.SyscallError) || err.errno !== libc.EPERM) {
      bad.push(`setresuid(0) test failed oddly: ${(err as Error).message}`);
    }
  }
  if (regained) bad.push("setresuid(0, 0, 0) succeeded: root can be regained");
  if (bad.length > 0) {
    throw new PlbError("PRIVILEGES", `privileges not dropped to ${ids.uid}:${ids.gid}: ${bad.join("; ")}`);
  }
}

/**
 * Applies user / group / chroot_dir. Throws PlbError("PRIVILEGES") on any
 * failure; the caller must then exit, since the process may be half-dropped.
 */
export function dropPrivileges(options: PrivilegeOptions): PrivilegeSummary {
  const { user, group, chroot_dir } = options;
  const euid = process.geteuid?.() ?? -1;
  if (euid !== 0) {
    const set = (["user", "group", "chroot_dir"] as const).filter((k) => options[k] !== undefined);
    const warnings =
      set.length === 0 ? [] : [`${set.map((k) => `"${k}"`).join(" and ")} ignored: not started as root`];
    for (const w of warnings) log.warn(w);
    return { startedAsRoot: false, uid: euid, gid: process.getegid?.() ?? -1, warnings };
  }
  if (user === undefined) {
    const need = needsUser(options);
    if (need !== undefined) throw new PlbError("PRIVILEGES", need);
    const warning = 'running as root: set "user" (and "chroot_dir") to drop privileges';
    log.warn(`*** ${warning} ***`);
    return { startedAsRoot: true, uid: 0, gid: process.getegid?.() ?? 0, warnings: [warning] };
  }

  const ids = resolveIds(user, group);
  if (ids.uid === 0) throw new PlbError("PRIVILEGES", `user "${user}" is root (uid 0): choose an unprivileged user`);

  // Make sure libc is in memory before the root directory changes.
  step("loading libc", () => libc.loadLibc());
  if (chroot_dir !== undefined) {
    step("cannot chroot", () => libc.chroot(chroot_dir));
    step("cannot chdir after chroot", () => libc.chdir("/"));
  }
  step("cannot clear supplementary groups", () => libc.setgroups([]));
  step("cannot set group id", () => libc.setresgid(ids.gid, ids.gid, ids.gid));
  step("cannot set user id", () => libc.setresuid(ids.uid, ids.uid, ids.uid));
  verify(ids);
  rememberUser(user, ids.uid);

  const where = chroot_dir === undefined ? " (no chroot_dir)" : `, chroot ${chroot_dir}`;
  log.info(`running as ${user} (${ids.uid}:${ids.gid})${where}`);
  return {
    startedAsRoot: true,
    uid: ids.uid,
    gid: ids.gid,
    user,
    ...(group === undefined ? {} : { group }),
    ...(chroot_dir === undefined ? {} : { chroot: chroot_dir }),
    warnings: [],
  };
}
