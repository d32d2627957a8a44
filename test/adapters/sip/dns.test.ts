// RFC 3263 resolution of the next hop (NAPTR -> SRV -> A/AAAA, transport selection per
// §4.1, RFC 2782 ordering) against a small DNS server started by the test.
import t from 'tap';
import { DnsError, orderSrv, SipResolver } from '../../../src/adapters/sip/dns.js';
import type { TransportName } from '../../../src/adapters/sip/transport.js';
import { type FakeDns, startFakeDns } from '../../fixtures/dns-server.js';

let dns: FakeDns;

t.before(async () => {
  dns = await startFakeDns({
    // NAPTR: TCP preferred, then UDP; the TLS service needs a TLS listener.
    'naptr.test': [
      {
        type: 'NAPTR',
        order: 10,
        preference: 20,
        flags: 's',
        service: 'SIP+D2U',
        replacement: '_sip._udp.naptr.test',
      },
      {
        type: 'NAPTR',
        order: 10,
        preference: 10,
        flags: 's',
        service: 'SIP+D2T',
        replacement: '_sip._tcp.naptr.test',
      },
      {
        type: 'NAPTR',
        order: 5,
        preference: 10,
        flags: 's',
        service: 'SIPS+D2T',
        replacement: '_sips._tcp.naptr.test',
      },
      { type: 'NAPTR', order: 1, preference: 1, flags: 'u', service: 'E2U+sip', replacement: 'ignored.test' },
    ],
    '_sip._tcp.naptr.test': [
      { type: 'SRV', priority: 20, weight: 0, port: 5081, target: 'b.naptr.test' },
      { type: 'SRV', priority: 10, weight: 0, port: 5080, target: 'a.naptr.test' },
    ],
    '_sip._udp.naptr.test': [{ type: 'SRV', priority: 10, weight: 0, port: 5070, target: 'a.naptr.test' }],
    '_sips._tcp.naptr.test': [{ type: 'SRV', priority: 10, weight: 0, port: 5061, target: 'a.naptr.test' }],
    'a.naptr.test': [
      { type: 'A', address: '127.0.0.1' },
      { type: 'AAAA', address: '::1' },
    ],
    'b.naptr.test': [{ type: 'A', address: '127.0.0.2' }],
    // No NAPTR: SRV per transport in Parley's order (TLS, TCP, UDP); here only UDP exists.
    'srv.test': [],
    '_sip._udp.srv.test': [
      { type: 'SRV', priority: 1, weight: 0, port: 5090, target: 'x.srv.test' },
      { type: 'SRV', priority: 2, weight: 0, port: 5091, target: 'gone.srv.test' },
      { type: 'SRV', priority: 3, weight: 0, port: 5092, target: 'y.srv.test' },
    ],
    'x.srv.test': [{ type: 'A', address: '192.0.2.10' }],
    'y.srv.test': [{ type: 'A', address: '192.0.2.11' }],
    // Neither NAPTR nor SRV: the host's addresses.
    'plain.test': [{ type: 'A', address: '192.0.2.20' }],
    // SRV target "." : service decidedly not available.
    'none.test': [],
    '_sip._udp.none.test': [{ type: 'SRV', priority: 0, weight: 0, port: 0, target: '.' }],
    'none-a.test': [],
  });
});
t.teardown(() => dns.close());

const resolver = (cacheMs = 0) =>
  new SipResolver({ servers: [dns.server], timeoutMs: 500, tries: 1, cacheMs });
const ALL = new Set<TransportName>(['udp', 'tcp', 'tls']);
const UDP_TCP = new Set<TransportName>(['udp', 'tcp']);
const ep = (transport: string, address: string, port: number, tlsName: string) => ({
  transport,
  address,
  port,
  tlsName,
});

t.test('NAPTR -> SRV -> A/AAAA in order, services filtered by the listeners', async (t) => {
  t.same(await resolver().resolve({ host: 'naptr.test', secure: false }, UDP_TCP), [
    ep('tcp', '127.0.0.1', 5080, 'naptr.test'),
    ep('tcp', '::1', 5080, 'naptr.test'),
    ep('tcp', '127.0.0.2', 5081, 'naptr.test'),
    ep('udp', '127.0.0.1', 5070, 'naptr.test'),
    ep('udp', '::1', 5070, 'naptr.test'),
  ]);
  const tls = await resolver().resolve({ host: 'naptr.test', secure: false }, ALL);
  t.same(tls[0], ep('tls', '127.0.0.1', 5061, 'naptr.test'), 'SIPS+D2T (order 5) first with a TLS listener');
  t.same(
    (await resolver().resolve({ host: 'naptr.test', secure: false }, new Set(['udp']))).map(
      (e) => e.transport,
    ),
    ['udp', 'udp'],
  );
});

t.test('a sips: URI uses TLS only', async (t) => {
  t.same(await resolver().resolve({ host: 'naptr.test', secure: true }, ALL), [
    ep('tls', '127.0.0.1', 5061, 'naptr.test'),
    ep('tls', '::1', 5061, 'naptr.test'),
  ]);
  await t.rejects(
    resolver().resolve({ host: 'naptr.test', secure: true }, UDP_TCP),
    /sips: URI needs a tls listener/,
  );
});

t.test('no NAPTR: SRV per transport; targets without addresses or "." are skipped', async (t) => {
  dns.queries.length = 0;
  t.same(await resolver().resolve({ host: 'srv.test', secure: false }, ALL), [
    ep('udp', '192.0.2.10', 5090, 'srv.test'),
    ep('udp', '192.0.2.11', 5092, 'srv.test'),
  ]);
  t.same(
    dns.queries.filter((q) => q.startsWith('NAPTR') || q.startsWith('SRV')),
    ['NAPTR srv.test', 'SRV _sips._tcp.srv.test', 'SRV _sip._tcp.srv.test', 'SRV _sip._udp.srv.test'],
    'NAPTR first, then SRV in order TLS, TCP, UDP',
  );
  await t.rejects(resolver().resolve({ host: 'none.test', secure: false }, new Set(['udp'])), DnsError);
});

t.test('neither NAPTR nor SRV: A/AAAA on 5060 over UDP (5061 TLS for sips)', async (t) => {
  t.same(await resolver().resolve({ host: 'plain.test', secure: false }, ALL), [
    ep('udp', '192.0.2.20', 5060, 'plain.test'),
  ]);
  t.same(await resolver().resolve({ host: 'plain.test', secure: true }, ALL), [
    ep('tls', '192.0.2.20', 5061, 'plain.test'),
  ]);
  t.same(
    await resolver().resolve({ host: 'plain.test', secure: false }, new Set(['tcp'])),
    [ep('tcp', '192.0.2.20', 5060, 'plain.test')],
    'no UDP listener: TCP',
  );
});

t.test('an explicit port or transport, and numeric hosts, skip what RFC 3263 skips', async (t) => {
  dns.queries.length = 0;
  t.same(await resolver().resolve({ host: 'a.naptr.test', port: 5999, secure: false }, ALL), [
    ep('udp', '127.0.0.1', 5999, 'a.naptr.test'),
    ep('udp', '::1', 5999, 'a.naptr.test'),
  ]);
  t.same(dns.queries.sort(), ['A a.naptr.test', 'AAAA a.naptr.test'], 'with a port: A/AAAA only');
  dns.queries.length = 0;
  t.same(await resolver().resolve({ host: 'naptr.test', transport: 'tcp', secure: false }, ALL), [
    ep('tcp', '127.0.0.1', 5080, 'naptr.test'),
    ep('tcp', '::1', 5080, 'naptr.test'),
    ep('tcp', '127.0.0.2', 5081, 'naptr.test'),
  ]);
  t.notOk(
    dns.queries.some((q) => q.startsWith('NAPTR')),
    'with transport=: no NAPTR',
  );
  dns.queries.length = 0;
  t.same(await resolver().resolve({ host: '192.0.2.7', secure: false }, ALL), [
    ep('udp', '192.0.2.7', 5060, '192.0.2.7'),
  ]);
  t.same(
    await resolver().resolve({ host: '[2001:db8::7]', port: 5070, transport: 'tcp', secure: false }, ALL),
    [ep('tcp', '2001:db8::7', 5070, '2001:db8::7')],
  );
  t.same(dns.queries, [], 'numeric hosts: no DNS');
  await t.rejects(resolver().resolve({ host: '192.0.2.7', transport: 'sctp', secure: false }, ALL), /sctp/);
  await t.rejects(
    resolver().resolve({ host: '192.0.2.7', transport: 'tls', secure: false }, UDP_TCP),
    /no tls listener/,
  );
});

t.test('failures are DnsErrors with the reason', async (t) => {
  await t.rejects(resolver().resolve({ host: 'nowhere.test', secure: false }, ALL), {
    name: 'DnsError',
    message: 'nowhere.test has no A or AAAA record',
  });
  await t.rejects(resolver().resolve({ host: 'none-a.test', secure: false }, ALL), /no A or AAAA/);
  // A server that never answers.
  const silent = new SipResolver({ servers: ['127.0.0.1:9'], timeoutMs: 100, tries: 1, cacheMs: 0 });
  await t.rejects(
    silent.resolve({ host: 'naptr.test', secure: false }, ALL),
    /DNS query failed: (ETIMEOUT|ECONNREFUSED)/,
  );
});

t.test('resolved targets are cached for cacheMs', async (t) => {
  const r = resolver(60_000);
  await r.resolve({ host: 'srv.test', secure: false }, ALL);
  const n = dns.queries.length;
  await r.resolve({ host: 'srv.test', secure: false }, ALL);
  t.equal(dns.queries.length, n, 'no new queries');
});

t.test('RFC 2782 ordering: priority first, then weighted random', async (t) => {
  const recs = [
    { name: 'c', port: 1, priority: 20, weight: 0 },
    { name: 'a', port: 1, priority: 10, weight: 90 },
    { name: 'b', port: 1, priority: 10, weight: 10 },
  ];
  t.same(
    orderSrv(recs, () => 0.5).map((r) => r.name),
    ['a', 'b', 'c'],
  );
  t.same(
    orderSrv(recs, () => 0.05).map((r) => r.name),
    ['b', 'a', 'c'],
    'a draw in the first 10% picks the weight-10 record',
  );
  const counts = { a: 0, b: 0 };
  for (let i = 0; i < 2000; i++) counts[orderSrv(recs)[0]!.name as 'a' | 'b']++;
  t.ok(counts.a > 1600 && counts.b > 100, `about 9:1 (${counts.a}:${counts.b})`);
});
