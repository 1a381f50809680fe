/** Every fuzz target, by name (fuzz/run.ts and tests/fuzz.test.ts run them). */
import type { Target } from "./driver.ts";
import { cidrRanges } from "./formats/cidr.ts";
import { configAddress, configDuration, configToml } from "./formats/config.ts";
import { dnsQuery, dnsResponse } from "./formats/dns.ts";
import { hpackDecode } from "./formats/hpack.ts";
import { h2Frames, h2Session } from "./formats/h2.ts";
import { httpChunked, httpRequest, httpResponse } from "./formats/http.ts";
import { httpFieldLines } from "./formats/http-serialize.ts";
import { proxyParse, proxyWrite } from "./formats/proxy.ts";
import { routeTable } from "./formats/routes.ts";
import { smtpReply } from "./formats/smtp.ts";
import { tlsClientHello } from "./formats/tls.ts";
import { smtpCommands } from "./formats/smtp-commands.ts";
import { h2Request } from "./formats/h2-request.ts";

export const TARGETS: readonly Target[] = [
  httpRequest, httpResponse, httpChunked, httpFieldLines, smtpReply, smtpCommands, proxyParse, proxyWrite, dnsResponse, dnsQuery, configDuration, configAddress, cidrRanges, configToml, routeTable, tlsClientHello, h2Request, hpackDecode, h2Frames, h2Session,
];

export function targetNamed(name: string): Target | undefined {
  return TARGETS.find((t) => t.name === name);
}
