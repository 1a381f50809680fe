/**
 * Who this process runs as, in words, for messages that must name the user
 * ("cannot reopen the log file … as nobody (uid 65534, gid 65534)").
 *
 * After dropPrivileges() the name is the configured `user` (remembered
 * here: /etc/passwd is gone in the chroot); otherwise it is looked up in
 * /etc/passwd, and when that fails only the ids are given.
 */
import { readFileSync } from "node:fs";

let remembered: { name: string; uid: number } | undefined;

/** Called by dropPrivileges() once the process runs as `name` (uid `uid`). */
export function rememberUser(name: string, uid: number): void {
  remembered = { name, uid };
}

function nameOf(uid: number): string | undefined {
  if (remembered?.uid === uid) return remembered.name;
  try {
    const line = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .find((l) => l.split(":")[2] === String(uid));
    return line?.split(":")[0] || undefined;
  } catch {
    return undefined;
  }
}

/** `nobody (uid 65534, gid 65534)`, or `uid 1000, gid 1000` without a name; "" where there are no ids (Windows). */
export function describeUser(): string {
  const uid = process.geteuid?.();
  const gid = process.getegid?.();
  if (uid === undefined) return "";
  const ids = `uid ${uid}, gid ${gid}`;
  const name = nameOf(uid);
  return name === undefined ? ids : `${name} (${ids})`;
}
