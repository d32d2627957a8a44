// The SIP adapter's settings for TLS, RFC 3263 DNS and the next hop: resolved values and
// a clear, keyed error for each mistake.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { resolveSipConfig, SipConfigError } from '../../../src/adapters/sip/index.js';
import type { SipRequest } from '../../../src/adapters/sip/message.js';
import { defaultTransport, retarget } from '../../../src/adapters/sip/nexthop.js';
import { SipTransport } from '../../../src/adapters/sip/transport.js';
import { recordingLogger } from '../../fixtures/recording-logger.js';
import { selfSignedCert } from '../../harness/sip.js';

const base = {
  type: 'sip',
  listen: ['udp://127.0.0.1:0'],
  domains: ['partner.test'],
  peers: ['127.0.0.1/32'],
};

const cert = selfSignedCert();
t.teardown(cert.remove);

const err = (raw: Record<string, unknown>, configDir?: string) => {
  try {
    resolveSipConfig(raw, configDir ? { configDir } : {});
    return null;
  } catch (e) {
    return e instanceof SipConfigError
      ? { path: e.path.join('.'), message: e.message }
      : { path: '?', message: String(e) };
  }
};

t.test('TLS: listeners, routes and certificate files', async (t) => {
  const tls = { certFile: cert.certFile, keyFile: cert.keyFile };
  const c = resolveSipConfig({
    ...base,
    listen: ['tls://127.0.0.1:5061'],
    route: 'sips:proxy.partner.test',
    tls,
  });
  t.same(c.route, { transport: 'tls', host: 'proxy.partner.test', port: 5061 }, 'sips: means TLS on 5061');
  t.ok(c.tls?.cert.toString().includes('BEGIN CERTIFICATE'));
  t.equal(c.tls?.verifyPeer, true, 'verified by default');
  t.same(
    resolveSipConfig({
      ...base,
      listen: ['tls://127.0.0.1:0'],
      route: 'sip:10.0.0.1:5071;transport=tls',
      tls,
    }).route,
    { transport: 'tls', host: '10.0.0.1', port: 5071 },
  );
  // Relative file names are relative to the config file's folder.
  const dir = cert.certFile.replace(/\/cert\.pem$/, '');
  t.ok(
    resolveSipConfig({ ...base, tls: { certFile: 'cert.pem', keyFile: 'key.pem' } }, { configDir: dir }).tls,
  );
  t.match(err({ ...base, listen: ['tls://127.0.0.1:5061'], route: 'sip:x.test' }), {
    path: 'listen.0',
    message: /needs a certificate: set tls\.certFile and tls\.keyFile/,
  });
  t.match(err({ ...base, route: 'sips:x.test', tls }), {
    path: 'listen',
    message: /needs a tls:\/\/ address/,
  });
  t.match(err({ ...base, route: 'sips:x.test;transport=udp', tls }), { path: 'route', message: /over TLS/ });
  t.match(err({ ...base, route: 'sip:x.test;transport=sctp' }), {
    path: 'route',
    message: /sctp is not supported/,
  });
  t.match(err({ ...base, tls: { certFile: '/nonexistent.pem', keyFile: cert.keyFile } }), {
    path: 'tls.certFile',
    message: /cannot read \/nonexistent\.pem \(ENOENT\)/,
  });
  const bad = join(dir, 'garbage.pem');
  writeFileSync(bad, 'not a certificate');
  t.match(err({ ...base, tls: { certFile: bad, keyFile: cert.keyFile } }), {
    path: 'tls',
    message: /not a usable PEM pair/,
  });
  t.match(err({ ...base, tls: { ...tls, caFile: bad } }), { path: 'tls.caFile', message: /not usable/ });
  t.match(err({ ...base, tls: { certFile: cert.certFile } }), { path: 'tls.keyFile' });
});

t.test('no route: RFC 3263 with the dns settings', async (t) => {
  const c = resolveSipConfig(base);
  t.equal(c.route, undefined);
  t.same(c.dns, { timeoutMs: 2000, tries: 2, cacheMs: 30_000 }, 'the system resolver by default');
  t.same(
    resolveSipConfig({
      ...base,
      dns: { servers: ['192.0.2.53', '192.0.2.54:5353', '[2001:db8::53]:53', '2001:db8::1'], cacheS: 0 },
    }).dns,
    {
      servers: ['192.0.2.53', '192.0.2.54:5353', '[2001:db8::53]:53', '2001:db8::1'],
      timeoutMs: 2000,
      tries: 2,
      cacheMs: 0,
    },
  );
  t.match(err({ ...base, dns: { servers: ['dns.example'] } }), {
    path: 'dns.servers.0',
    message: /not an IP address/,
  });
  t.match(err({ ...base, dns: { servers: ['192.0.2.1:99999'] } }), { path: 'dns.servers.0' });
  t.match(err({ ...base, route: 'sip:127.0.0.1:5070', dns: {} }), {
    path: 'dns',
    message: /only without a route/,
  });
  t.match(err({ ...base, dns: { timeoutMs: 1 } }), { path: 'dns.timeoutMs' });
});

t.test('the transport requests are built for, and retargeting a request', async (t) => {
  const tp = (listen: string[], route?: string) =>
    defaultTransport(resolveSipConfig({ ...base, listen, ...(route ? { route } : {}) }));
  t.equal(tp(['tcp://127.0.0.1:0', 'udp://127.0.0.1:0']), 'udp', 'UDP when there is a UDP listener');
  t.equal(tp(['tcp://127.0.0.1:0']), 'tcp');
  t.equal(tp(['udp://127.0.0.1:0', 'tcp://127.0.0.1:0'], 'sip:x.test;transport=tcp'), 'tcp', "the route's");
  const req: SipRequest = {
    kind: 'request',
    method: 'INVITE',
    uri: 'sip:bob@partner.test',
    headers: [
      { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKold;rport' },
      { name: 'From', value: '<sip:alice@corp.test>;tag=1' },
      { name: 'Contact', value: '<sip:alice@127.0.0.1:5060;transport=udp>' },
    ],
    body: Buffer.alloc(0),
  };
  const out = retarget(
    req,
    { transport: 'tls', address: '192.0.2.1', port: 5061 },
    {
      hostport: '127.0.0.1:5061',
      transport: 'tls',
    },
  );
  t.match(out?.headers[0]?.value, /^SIP\/2\.0\/TLS 127\.0\.0\.1:5061;branch=z9hG4bK[0-9a-f]{24};rport$/);
  t.equal(out?.headers[2]?.value, '<sip:alice@127.0.0.1:5061;transport=tls>');
  t.equal(
    req.headers[0]?.value,
    'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKold;rport',
    'the original is unchanged',
  );
  t.equal(retarget(req, { transport: 'tcp', address: 'x', port: 1 }, null), null, 'no listener: null');
});

t.test('UDP receive buffer: 4 MiB by default, configurable, a cap is reported', async (t) => {
  t.equal(resolveSipConfig(base).udpReceiveBufferBytes, 4 * 1024 * 1024, 'default 4 MiB');
  t.equal(resolveSipConfig({ ...base, udpReceiveBufferBytes: 1 << 20 }).udpReceiveBufferBytes, 1 << 20);
  t.match(err({ ...base, udpReceiveBufferBytes: 1000 }), { path: 'udpReceiveBufferBytes' });

  const listen = [{ transport: 'udp' as const, host: '127.0.0.1', port: 0 }];
  const handlers = { onMessage: () => {}, onUnparsable: () => {} };
  // Granted: Linux reports twice the size asked for (its bookkeeping), never less.
  const granted = recordingLogger();
  const a = new SipTransport(listen, handlers, granted.logger, {
    maxBody: 1024,
    udpReceiveBuffer: 256 * 1024,
  });
  await a.start();
  await a.stop();
  const sized = granted.lines.find((l) => l.msg === 'SIP UDP receive buffer');
  t.ok(Number(sized?.fields.bytes) >= 256 * 1024, `got ${sized?.fields.bytes} bytes for 256 KiB asked`);
  t.notOk(
    granted.lines.some((l) => l.level === 'warn'),
    'no warning when granted',
  );

  // Asking beyond net.core.rmem_max: the kernel caps it silently; Parley warns.
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  const capped = recordingLogger();
  const b = new SipTransport(listen, handlers, capped.logger, {
    maxBody: 1024,
    udpReceiveBuffer: rmemMax * 4,
  });
  await b.start();
  await b.stop();
  const warn = capped.lines.find((l) => l.level === 'warn');
  t.match(warn?.msg, /capped the receive buffer \(raise net\.core\.rmem_max\)/);
  t.equal(warn?.fields.wantBytes, rmemMax * 4);
  t.ok(Number(warn?.fields.gotBytes) < rmemMax * 4, 'reports what it got');
});
