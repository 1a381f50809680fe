/**
 * starttls and require_tls: what the configuration check refuses (with the
 * key and line), and what src/smtp/setup.ts refuses when it reads the files
 * (as a start, a reload and --check do).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../src/config/index.ts";
import { PlbError } from "../src/errors.ts";
import { setupSmtp, type SmtpRuntime } from "../src/smtp/setup.ts";
import { testCert } from "./support/smtp/tls.ts";

const dir = mkdtempSync(join(tmpdir(), "plb-smtp-setup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MAIL = `[[service]]\nname = "mail"\nprotocol = "smtp"\nlisten = ["127.0.0.1:2525"]\nservers = ["10.0.0.2:25"]\n`;

function problems(text: string): string[] {
  try {
    parseConfig(text, "plb.toml");
  } catch (err) {
    expect(err).toBeInstanceOf(PlbError);
    expect((err as PlbError).code).toBe("CONFIG_INVALID");
    return (err as PlbError).message.split("\n");
  }
  throw new Error("expected the configuration to be rejected");
}

describe("configuration", () => {
  test("starttls and require_tls are read on an smtp service; other protocols get the defaults", () => {
    const c = parseConfig(`${MAIL}starttls = { cert = "/c.pem", key = "/k.pem" }\nrequire_tls = true\n`, "plb.toml");
    // (The starttls value is whatever the "tls" kind parses to: only its files are looked at here.)
    expect(JSON.stringify(c.services[0].smtp.starttls)).toContain('"/c.pem"');
    expect(JSON.stringify(c.services[0].smtp.starttls)).toContain('"/k.pem"');
    expect(c.services[0].smtp.require_tls).toBe(true);
    const plain = parseConfig(MAIL, "plb.toml");
    expect(plain.services[0].smtp).toEqual({ starttls: undefined, require_tls: false });
    const tcp = parseConfig(`[[service]]\nname = "t"\nlisten = ["127.0.0.1:1"]\nservers = ["10.0.0.2:1"]\n`, "plb.toml");
    expect(tcp.services[0].smtp).toEqual({ starttls: undefined, require_tls: false });
  });
  test("require_tls = true without starttls is refused at its line", () => {
    expect(problems(`${MAIL}require_tls = true\n`)).toEqual([
      'plb.toml:6: service "mail": require_tls = true needs starttls = { cert = "…", key = "…" }: without it no client could ever send MAIL FROM',
    ]);
  });
  test("starttls on an http or tcp service is refused: smtp only", () => {
    const http = `[[service]]\nname = "web"\nprotocol = "http"\nlisten = ["127.0.0.1:8080"]\nservers = ["10.0.0.2:80"]\nstarttls = { cert = "/c.pem", key = "/k.pem" }\n`;
    expect(problems(http)).toEqual(['plb.toml:6: service "web": "starttls" applies to protocol "smtp" only (this service is "http")']);
  });
  test("starttls and tls together are refused at starttls (implicit TLS and STARTTLS are two services)", () => {
    const lines = problems(`${MAIL}tls = { cert = "/c.pem", key = "/k.pem" }\nstarttls = { cert = "/c.pem", key = "/k.pem" }\n`);
    expect(lines).toContain('plb.toml:7: service "mail": starttls cannot be combined with tls: tls is implicit TLS from the first byte (port 465), starttls upgrades a plain session (ports 25 and 587); use one service for each');
  });
  test("starttls refuses strict_sni and client_ca with the reason (an upgrade serves one certificate and asks for none)", () => {
    expect(problems(`${MAIL}starttls = { cert = "/c.pem", key = "/k.pem", strict_sni = true }\n`)).toContain(
      'plb.toml:6: service "mail": starttls.strict_sni cannot be used: after STARTTLS the upgrade serves one certificate whatever name the client sends (Bun calls no SNI callback on an upgraded socket)',
    );
    expect(problems(`${MAIL}starttls = { cert = "/c.pem", key = "/k.pem", client_ca = "/ca.pem" }\n`)[0]).toMatch(/^plb\.toml:6: service "mail": starttls\.client_ca cannot be used/);
  });
  test("starttls must be a { cert, key } table", () => {
    expect(problems(`${MAIL}starttls = "/c.pem"\n`)[0]).toMatch(/^plb\.toml:6: service "mail": starttls must be a table \{ cert = "…", key = "…" \}/);
    expect(problems(`${MAIL}starttls = { cert = "/c.pem" }\n`)[0]).toMatch(/starttls\.key must be the path of a PEM file/);
  });
});

describe("setupSmtp reads and checks the certificate", () => {
  test("without starttls: nothing to speak for the service", () => {
    const c = parseConfig(MAIL, "plb.toml");
    expect((setupSmtp(c.services[0], "mail").shared as SmtpRuntime).converse).toBeUndefined();
  });
  test("a usable pair gives the sessions a conversation", async () => {
    const { cert, key } = await testCert();
    const c = parseConfig(`${MAIL}starttls = { cert = "${cert}", key = "${key}" }\n`, "plb.toml");
    expect(typeof (setupSmtp(c.services[0], "mail").shared as SmtpRuntime).converse).toBe("function");
  });
  test("a missing file and a key that is not PEM are named under starttls.*", async () => {
    const { cert } = await testCert();
    const bad = join(dir, "bad.key");
    writeFileSync(bad, "not a key\n");
    const missing = join(dir, "missing.pem");
    for (const [c, k, want] of [
      [missing, bad, [`starttls.cert: cannot read ${missing}`, `starttls.key: ${bad} is not a PEM private key`]],
      [cert, bad, [`starttls.key: ${bad} is not a PEM private key`]],
    ] as const) {
      const cfg = parseConfig(`${MAIL}starttls = { cert = "${c}", key = "${k}" }\n`, "plb.toml");
      let err: unknown;
      try {
        setupSmtp(cfg.services[0], "mail");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PlbError);
      expect((err as PlbError).code).toBe("CONFIG_INVALID");
      const lines = (err as PlbError).message.split("\n");
      expect(lines).toHaveLength(want.length);
      want.forEach((w, i) => expect(lines[i]).toContain(`service "mail": ${w}`));
    }
  });
});
