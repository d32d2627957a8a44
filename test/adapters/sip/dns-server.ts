// A tiny authoritative DNS server over UDP for tests of RFC 3263 resolution: A, AAAA, SRV
// and NAPTR answers from a zone map, NXDOMAIN for unknown names, and a log of the queries.
// (A stand-in for DNS, never for a SIP peer.)
import dgram from 'node:dgram';
import net from 'node:net';

export type DnsRecord =
  | { type: 'A'; address: string }
  | { type: 'AAAA'; address: string }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string }
  | {
      type: 'NAPTR';
      order: number;
      preference: number;
      flags: string;
      service: string;
      regexp?: string;
      replacement: string;
    };

const TYPE: Record<DnsRecord['type'], number> = { A: 1, AAAA: 28, SRV: 33, NAPTR: 35 };
const TYPE_NAME: Record<number, string> = { 1: 'A', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR' };

export interface FakeDns {
  /** `127.0.0.1:<port>` for Resolver.setServers. */
  server: string;
  /** Queries received, as `TYPE name`. */
  queries: string[];
  close(): Promise<void>;
}

const name = (n: string): Buffer =>
  Buffer.concat([
    ...n
      .replace(/\.$/, '')
      .split('.')
      .filter(Boolean)
      .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])),
    Buffer.from([0]),
  ]);
const str = (s: string) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'ascii')]);
const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};

function rdata(r: DnsRecord): Buffer {
  switch (r.type) {
    case 'A':
      return Buffer.from(r.address.split('.').map(Number));
    case 'AAAA': {
      const b = new net.SocketAddress({ address: r.address, family: 'ipv6' }).address;
      const full = b.includes('::')
        ? (() => {
            const [head, tail] = b.split('::') as [string, string];
            const h = head ? head.split(':') : [];
            const t = tail ? tail.split(':') : [];
            return [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
          })()
        : b.split(':');
      return Buffer.concat(full.map((g) => u16(Number.parseInt(g, 16))));
    }
    case 'SRV':
      return Buffer.concat([u16(r.priority), u16(r.weight), u16(r.port), name(r.target)]);
    case 'NAPTR':
      return Buffer.concat([
        u16(r.order),
        u16(r.preference),
        str(r.flags),
        str(r.service),
        str(r.regexp ?? ''),
        name(r.replacement),
      ]);
  }
}

/** Start the server; `zone` maps lower-case names to their records. */
export async function startFakeDns(zone: Record<string, DnsRecord[]>): Promise<FakeDns> {
  const sock = dgram.createSocket('udp4');
  const queries: string[] = [];
  sock.on('message', (q, rinfo) => {
    if (q.length < 17) return;
    let off = 12;
    const labels: string[] = [];
    while (off < q.length && q[off] !== 0) {
      const len = q[off]!;
      labels.push(q.subarray(off + 1, off + 1 + len).toString('ascii'));
      off += len + 1;
    }
    off += 1;
    const qtype = q.readUInt16BE(off);
    const question = q.subarray(12, off + 4);
    const qname = labels.join('.').toLowerCase();
    queries.push(`${TYPE_NAME[qtype] ?? qtype} ${qname}`);
    const records = zone[qname];
    const answers = (records ?? []).filter((r) => TYPE[r.type] === qtype);
    const header = Buffer.alloc(12);
    header.writeUInt16BE(q.readUInt16BE(0), 0); // id
    header.writeUInt16BE(0x8580 | (records ? 0 : 3), 2); // response, authoritative, RD, RA; NXDOMAIN
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const body = answers.map((r) => {
      const d = rdata(r);
      const rr = Buffer.alloc(10);
      rr.writeUInt16BE(TYPE[r.type], 0);
      rr.writeUInt16BE(1, 2); // IN
      rr.writeUInt32BE(60, 4);
      rr.writeUInt16BE(d.length, 8);
      return Buffer.concat([u16(0xc00c), rr, d]);
    });
    sock.send(Buffer.concat([header, question, ...body]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return {
    server: `127.0.0.1:${sock.address().port}`,
    queries,
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}
