/**
 * Certificates made by openssl for a test: a CA, server certificates with
 * subjectAltName names (signed by the CA, or self-signed), client
 * certificates, expired ones. Spawned without blocking (the test process
 * may serve backends meanwhile).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./plb.ts";

async function openssl(cwd: string, args: string[]): Promise<void> {
  const p = Bun.spawn(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  const err = await new Response(p.stderr).text();
  if ((await p.exited) !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${err}`);
}

export interface Pair {
  readonly cert: string;
  readonly key: string;
}

export interface CertOptions {
  /** subjectAltName DNS names (none: no SAN at all). */
  readonly dns?: readonly string[];
  /** Subject, "/CN=x" (default: the first name, or "plb-test"). */
  readonly subject?: string;
  /** Days valid (negative: already expired). */
  readonly days?: number;
  /** "ec" (P-256, default) or "rsa". */
  readonly type?: "ec" | "rsa";
  /** Sign with this CA (default: self-signed). */
  readonly ca?: Pair;
  /** A client certificate (extendedKeyUsage clientAuth). */
  readonly client?: boolean;
  /** Extra SAN entries ("email:a@b", "IP:127.0.0.1"). */
  readonly extraSan?: readonly string[];
}

/** A directory of test certificates. */
export class CertDir {
  readonly dir: string;
  constructor(dir = tempDir("plb-certs-")) {
    this.dir = dir;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** A CA (self-signed, may sign others): files `${name}.pem` and `${name}.key`. */
  async ca(name: string): Promise<Pair> {
    const cert = this.path(`${name}.pem`);
    const key = this.path(`${name}.key`);
    await openssl(this.dir, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj", `/CN=${name}`, "-keyout", key, "-out", cert,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    return { cert, key };
  }

  /** A certificate and key: files `${name}.pem` and `${name}.key` (or the names given). Calls may run at once (no shared serial file). */
  async cert(name: string, o: CertOptions = {}, files: { cert?: string; key?: string } = {}): Promise<Pair> {
    const cert = files.cert ?? this.path(`${name}.pem`);
    const key = files.key ?? this.path(`${name}.key`);
    const subject = o.subject ?? `/CN=${o.dns?.[0] ?? "plb-test"}`;
    const newkey = o.type === "rsa" ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    const san = [...(o.dns ?? []).map((d) => `DNS:${d}`), ...(o.extraSan ?? [])];
    const ext = this.path(`${name}.ext`);
    writeFileSync(ext, [san.length ? `subjectAltName=${san.join(",")}` : "", o.client ? "extendedKeyUsage=clientAuth" : "extendedKeyUsage=serverAuth", "basicConstraints=CA:FALSE"].filter(Boolean).join("\n") + "\n");
    const csr = this.path(`${name}.csr`);
    await openssl(this.dir, ["req", "-new", ...newkey, "-nodes", "-subj", subject, "-keyout", key, "-out", csr]);
    const days = o.days ?? 30;
    if (days < 0) {
      // Expired: valid from 10 days ago until `days` from now; OpenSSL 3.0's x509 cannot set dates, its ca can.
      const cnf = this.path(`${name}.cnf`);
      writeFileSync(this.path(`${name}.index`), "");
      writeFileSync(cnf, `[ca]\ndefault_ca=d\n[d]\ndatabase=${this.path(`${name}.index`)}\nnew_certs_dir=${this.dir}\nserial=${this.path(`${name}.serial`)}\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n`);
      writeFileSync(this.path(`${name}.serial`), "01\n");
      const signer = o.ca ? ["-cert", o.ca.cert, "-keyfile", o.ca.key] : ["-selfsign", "-keyfile", key];
      await openssl(this.dir, ["ca", "-batch", "-config", cnf, ...signer, "-in", csr, "-startdate", stamp(-10), "-enddate", stamp(days), "-extfile", ext, "-notext", "-out", cert]);
      return { cert, key };
    }
    const signer = o.ca ? ["-CA", o.ca.cert, "-CAkey", o.ca.key, "-set_serial", `0x${crypto.randomUUID().replace(/-/g, "")}`] : ["-key", key];
    await openssl(this.dir, ["x509", "-req", "-in", csr, ...signer, "-days", String(days), "-extfile", ext, "-out", cert]);
    return { cert, key };
  }
}

/** openssl's YYYYMMDDHHMMSSZ, `days` from now. */
function stamp(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z";
}

/** The text of a file. */
export function pem(path: string): string {
  return readFileSync(path, "utf8");
}

export interface Handshake {
  /** The server certificate's subject line ("CN = a.test"), undefined when the handshake failed. */
  readonly subject: string | undefined;
  /** "TLSv1.3", "TLSv1.2", or undefined. */
  readonly protocol: string | undefined;
  readonly cipher: string | undefined;
  readonly alpn: string | undefined;
  /** What s_client printed (stdout and stderr). */
  readonly output: string;
}

/**
 * One handshake by `openssl s_client` with `name` as SNI (undefined: none),
 * `args` added (-tls1_2, -cipher …, -cert …). It sends `send` (default
 * nothing) and closes: at once, or once its output holds `waitFor` (at
 * most `maxMs`, default 20 s).
 */
export async function sClient(port: number, name: string | undefined, args: string[] = [], send = "", waitFor?: string, maxMs = 20_000): Promise<Handshake> {
  const sni = name === undefined ? ["-noservername"] : ["-servername", name];
  const p = Bun.spawn(["openssl", "s_client", "-connect", `127.0.0.1:${port}`, ...sni, ...args], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  p.stdin.write(send);
  p.stdin.flush();
  let out = "";
  const timer = setTimeout(() => p.kill(), maxMs);
  const errText = new Response(p.stderr).text();
  if (waitFor === undefined) p.stdin.end();
  const dec = new TextDecoder();
  for await (const chunk of p.stdout) {
    out += dec.decode(chunk, { stream: true });
    if (waitFor !== undefined && out.includes(waitFor)) {
      p.stdin.end();
      waitFor = undefined;
    }
  }
  clearTimeout(timer);
  await p.exited;
  const output = out + (await errText);
  const m = /New, (TLSv[\d.]+|\(NONE\)), Cipher is (\S+)/.exec(output);
  const ok = m !== null && m[1] !== "(NONE)";
  return {
    subject: ok ? /^subject=(.*)$/m.exec(output)?.[1]?.trim() : undefined,
    protocol: ok ? m![1] : undefined,
    cipher: ok ? m![2] : undefined,
    alpn: /^ALPN protocol: (.*)$/m.exec(output)?.[1]?.trim(),
    output,
  };
}
