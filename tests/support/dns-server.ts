/**
 * A tiny authoritative DNS server on 127.0.0.1 (UDP) for end-to-end tests:
 * answers A queries from a zone the test can change, NXDOMAIN for the rest,
 * empty answers for AAAA. Written byte by byte on purpose: it does not use
 * plb's own DNS code.
 */
export interface TestDns {
  port: number;
  zone: Map<string, string>;
  queries: string[];
  close(): void;
}

export async function dnsServer(zone: Record<string, string> = {}): Promise<TestDns> {
  const map = new Map(Object.entries(zone));
  const queries: string[] = [];
  const sock = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    binaryType: "uint8array",
    socket: {
      data(s, q, port, addr) {
        const labels: string[] = [];
        let at = 12;
        while (at < q.length && q[at] > 0) {
          labels.push(new TextDecoder().decode(q.subarray(at + 1, at + 1 + q[at])));
          at += 1 + q[at];
        }
        const qtype = (q[at + 1] << 8) | q[at + 2];
        const question = q.subarray(12, at + 5);
        const name = labels.join(".").toLowerCase();
        queries.push(name);
        const ip = map.get(name);
        const rcode = ip === undefined ? 3 : 0;
        const answer = ip !== undefined && qtype === 1;
        const head = [q[0], q[1], 0x84, 0x80 | rcode, 0, 1, 0, answer ? 1 : 0, 0, 0, 0, 0];
        const rr = answer ? [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, ...ip!.split(".").map(Number)] : [];
        s.send(new Uint8Array([...head, ...question, ...rr]), port, addr);
      },
    },
  });
  return { port: sock.port, zone: map, queries, close: () => sock.close() };
}
