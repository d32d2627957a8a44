// Digest authentication: the maths against the RFCs' own examples, the stateless nonces,
// the verdicts for each kind of request, and the config errors.
import t from 'tap';
import {
  DigestAuth,
  type DigestAuthConfig,
  digestResponse,
  NonceMint,
  parseDigestCredentials,
} from '../../../src/adapters/sip/auth.js';
import { resolveSipConfig, SipConfigError } from '../../../src/adapters/sip/index.js';
import type { SipRequest } from '../../../src/adapters/sip/message.js';

t.test('RFC 2617 §3.5 (MD5, qop=auth)', async (t) => {
  t.equal(
    digestResponse({
      algorithm: 'MD5',
      username: 'Mufasa',
      realm: 'testrealm@host.com',
      password: 'Circle Of Life',
      method: 'GET',
      uri: '/dir/index.html',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      qop: 'auth',
      nc: '00000001',
      cnonce: '0a4f113b',
    }),
    '6629fae49393a05397450978507c4ef1',
  );
});

t.test('RFC 7616 §3.9.1 (SHA-256 and MD5, qop=auth)', async (t) => {
  const base = {
    username: 'Mufasa',
    realm: 'http-auth@example.org',
    password: 'Circle of Life',
    method: 'GET',
    uri: '/dir/index.html',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    qop: 'auth' as const,
    nc: '00000001',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  };
  t.equal(
    digestResponse({ ...base, algorithm: 'SHA-256' }),
    '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
  );
  t.equal(digestResponse({ ...base, algorithm: 'MD5' }), '8ca523f5e9506fed4657c9700eebdbec');
});

t.test('RFC 2069 form (no qop) and -sess', async (t) => {
  // H(H(A1):nonce:H(A2)), A1 = user:realm:pass, A2 = method:uri (worked out with md5sum).
  t.equal(
    digestResponse({
      algorithm: 'MD5',
      username: 'bob',
      realm: 'partner.test',
      password: 'pw',
      method: 'MESSAGE',
      uri: 'sip:alice@corp.test',
      nonce: 'n1',
    }),
    '3ee31c633a72409358aaa4ac55ab5cfe',
  );
  const sess = digestResponse({
    algorithm: 'SHA-256-sess',
    username: 'bob',
    realm: 'partner.test',
    password: 'pw',
    method: 'MESSAGE',
    uri: 'sip:alice@corp.test',
    nonce: 'n1',
    qop: 'auth',
    nc: '00000001',
    cnonce: 'c1',
  });
  t.match(sess, /^[0-9a-f]{64}$/);
  t.not(
    sess,
    digestResponse({
      algorithm: 'SHA-256',
      username: 'bob',
      realm: 'partner.test',
      password: 'pw',
      method: 'MESSAGE',
      uri: 'sip:alice@corp.test',
      nonce: 'n1',
      qop: 'auth',
      nc: '00000001',
      cnonce: 'c1',
    }),
  );
});

t.test('credentials parser', async (t) => {
  const c = parseDigestCredentials(
    'Digest username="bob", realm="partner.test", nonce="a,b", uri="sip:x@y", response="ff", algorithm=MD5, qop=auth, nc=00000001, cnonce="q\\"x"',
  );
  t.same(Object.fromEntries(c ?? []), {
    username: 'bob',
    realm: 'partner.test',
    nonce: 'a,b',
    uri: 'sip:x@y',
    response: 'ff',
    algorithm: 'MD5',
    qop: 'auth',
    nc: '00000001',
    cnonce: 'q"x',
  });
  t.equal(parseDigestCredentials('Basic Ym9iOnB3'), null);
  t.throws(() => parseDigestCredentials('Digest username="bob'), /unterminated/);
  t.throws(() => parseDigestCredentials('Digest username'), /bad digest parameter/);
});

t.test('stateless nonces: shared by replicas, stale after the TTL, tamper-evident', async (t) => {
  const a = new NonceMint('shared-secret-0123456789', 'r', 1000);
  const b = new NonceMint('shared-secret-0123456789', 'r', 1000);
  const other = new NonceMint('another-secret-0123456789', 'r', 1000);
  const now = Date.now();
  const n = a.issue(now);
  t.equal(b.check(n, now + 10), 'ok', 'another replica accepts it');
  t.equal(b.check(n, now + 1001), 'stale');
  t.equal(other.check(n, now), 'invalid', 'a different secret rejects it');
  t.equal(
    new NonceMint('shared-secret-0123456789', 'r2', 1000).check(n, now),
    'invalid',
    'bound to the realm',
  );
  const raw = Buffer.from(n, 'base64url');
  raw[3] = (raw[3] ?? 0) ^ 1;
  t.equal(a.check(raw.toString('base64url'), now), 'invalid', 'a changed timestamp');
  t.equal(a.check('garbage', now), 'invalid');
  t.equal(a.check(a.issue(now + 120_000), now), 'invalid', 'from the future');
  t.not(a.issue(now), a.issue(now), 'random part');
});

const CFG: DigestAuthConfig = {
  realm: 'partner.test',
  domain: 'partner.test',
  users: { bob: 'bob-pw' },
  algorithms: ['SHA-256', 'MD5'],
  secret: 'shared-secret-0123456789',
  nonceTtlMs: 60_000,
  proxy: false,
};

const request = (extra: { name: string; value: string }[] = [], from = 'bob'): SipRequest => ({
  kind: 'request',
  method: 'MESSAGE',
  uri: 'sip:alice@corp.test',
  headers: [
    { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKx' },
    { name: 'From', value: `<sip:${from}@partner.test>;tag=1` },
    { name: 'To', value: '<sip:alice@corp.test>' },
    { name: 'Call-ID', value: 'c1' },
    { name: 'CSeq', value: '1 MESSAGE' },
    ...extra,
  ],
  body: Buffer.alloc(0),
});

/** What a client does with a challenge: answer it. */
function answer(
  challenge: string,
  o: {
    user?: string;
    password?: string;
    algorithm?: string;
    uri?: string;
    header?: string;
    nc?: string;
  } = {},
) {
  const nc = o.nc ?? '00000001';
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
  const algorithm = (o.algorithm ?? /algorithm=([\w-]+)/.exec(challenge)![1]!) as 'MD5' | 'SHA-256';
  const user = o.user ?? 'bob';
  const uri = o.uri ?? 'sip:alice@corp.test';
  const response = digestResponse({
    algorithm,
    username: user,
    realm: 'partner.test',
    password: o.password ?? 'bob-pw',
    method: 'MESSAGE',
    uri,
    nonce,
    qop: 'auth',
    nc,
    cnonce: 'abc',
  });
  return {
    name: o.header ?? 'Authorization',
    value: `Digest username="${user}", realm="partner.test", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=${algorithm}, qop=auth, nc=${nc}, cnonce="abc"`,
  };
}

t.test('DigestAuth verdicts', async (t) => {
  const auth = new DigestAuth(CFG);
  const first = auth.verify(request());
  t.match(first, { ok: false, status: 401 });
  const challenges = first.ok ? [] : first.headers;
  t.same(
    challenges.map((h) => [h.name, /algorithm=([\w-]+)/.exec(h.value)?.[1]]),
    [
      ['WWW-Authenticate', 'SHA-256'],
      ['WWW-Authenticate', 'MD5'],
    ],
    'SHA-256 offered first, then MD5',
  );
  t.match(
    challenges[0]?.value,
    /^Digest realm="partner\.test", nonce="[\w-]{43}", algorithm=SHA-256, qop="auth"$/,
  );
  for (const c of challenges)
    t.match(
      auth.verify(request([answer(c.value)])),
      { ok: true, user: 'bob' },
      'answered challenge accepted',
    );
  // What the adapter remembers to refuse a replay: the same credentials give the same key,
  // the next nonce count another.
  const once = (nc?: string) => {
    const v = auth.verify(request([answer(challenges[0]!.value, nc ? { nc } : {})]));
    return v.ok ? v.once : null;
  };
  t.equal(once(), once(), 'the same credentials: the same once key');
  t.not(once('00000002'), once(), 'the next nonce count: another key');
  t.match(auth.replayed(), { ok: false, status: 401, headers: [{ value: /stale=TRUE/ }] });
  t.match(auth.verify(request([answer(challenges[0]!.value, { password: 'nope' })])), {
    ok: false,
    status: 403,
    reason: 'Wrong credentials',
  });
  t.match(auth.verify(request([answer(challenges[0]!.value, { user: 'mallory' })], 'mallory')), {
    status: 403,
  });
  t.match(
    auth.verify(request([answer(challenges[0]!.value)], 'carol')),
    { ok: true, user: 'bob' },
    'From is not looked at here: the adapter compares it with user@domain and audits a mismatch',
  );
  t.match(
    auth.verify(request([answer(challenges[0]!.value, { uri: 'sip:127.0.0.1:5060' })])),
    { ok: true, user: 'bob' },
    'a uri other than the Request-URI (what SIPp sends: the next hop)',
  );
  t.match(auth.verify(request([answer(challenges[0]!.value, { algorithm: 'SHA-512' as 'MD5' })])), {
    status: 401,
    reason: 'Unsupported digest algorithm',
  });
  const forged = answer(challenges[0]!.value);
  forged.value = forged.value.replace(/nonce="[^"]+"/, `nonce="${'A'.repeat(43)}"`);
  t.match(auth.verify(request([forged])), { status: 401 }, 'a nonce we did not mint: a fresh challenge');
  t.match(auth.verify(request([{ name: 'Authorization', value: 'Digest username="bob' }])), {
    status: 400,
  });
  // Credentials for another realm are ignored: challenged.
  t.match(
    auth.verify(
      request([
        {
          name: 'Authorization',
          value: answer(challenges[0]!.value).value.replace('realm="partner.test"', 'realm="x"'),
        },
      ]),
    ),
    { status: 401 },
  );
});

t.test('a stale nonce with the right password gets stale=TRUE', async (t) => {
  const old = new DigestAuth({ ...CFG, nonceTtlMs: 10 });
  const c = old.verify(request());
  const value = c.ok ? '' : c.headers[0]!.value;
  await new Promise((r) => setTimeout(r, 30));
  const v = old.verify(request([answer(value)]));
  t.match(v, { ok: false, status: 401 });
  t.match(v.ok ? '' : v.headers[0]?.value, /stale=TRUE/);
  t.match(old.verify(request([answer(value, { password: 'bad' })])), { status: 403 }, 'wrong stays wrong');
});

t.test('proxy mode: 407, Proxy-Authenticate, Proxy-Authorization', async (t) => {
  const auth = new DigestAuth({ ...CFG, proxy: true });
  const c = auth.verify(request());
  t.match(c, { ok: false, status: 407, reason: 'Proxy Authentication Required' });
  const h = c.ok ? undefined : c.headers[0];
  t.equal(h?.name, 'Proxy-Authenticate');
  t.match(auth.verify(request([answer(h!.value)])), { status: 407 }, 'Authorization is not looked at');
  t.match(auth.verify(request([answer(h!.value, { header: 'Proxy-Authorization' })])), {
    ok: true,
    user: 'bob',
  });
});

t.test('config: auth block', async (t) => {
  const base = {
    type: 'sip',
    listen: ['udp://127.0.0.1:0'],
    domains: ['partner.test'],
    route: 'sip:127.0.0.1:5070',
    peers: ['127.0.0.1/32'],
  };
  const c = resolveSipConfig({ ...base, auth: { realm: 'partner.test', users: { bob: 'pw' } } });
  t.match(c.auth, {
    realm: 'partner.test',
    algorithms: ['SHA-256', 'MD5'],
    nonceTtlMs: 300_000,
    proxy: false,
  });
  const err = (auth: unknown) => {
    try {
      resolveSipConfig({ ...base, auth });
      return null;
    } catch (e) {
      return e instanceof SipConfigError ? [e.path.join('.'), e.message] : String(e);
    }
  };
  t.same(err({ realm: 'r', users: {} })?.[0], 'auth.users');
  t.same(err({ realm: 'r', users: { 'a b': 'x' } })?.[0], 'auth.users.a b');
  t.same(err({ realm: 'r', users: { a: 'x' }, algorithms: ['MD5', 'MD5'] })?.[0], 'auth.algorithms');
  t.match(err({ realm: 'r', users: { a: 'x' }, algorithms: ['SHA-1'] }), ['auth.algorithms.0', /./]);
  t.match(err({ realm: 'r', users: { a: 'x' }, nonceSecret: 'short' }), ['auth.nonceSecret', /./]);
  t.match(err({ realm: 'r', users: { a: 'x' }, color: 'red' }), ['auth', /./]);
  t.equal(c.auth?.domain, 'partner.test', 'users are user@realm when the link serves the realm');
  t.equal(
    resolveSipConfig({ ...base, auth: { realm: 'Parley', users: { a: 'x' } } }).auth?.domain,
    'partner.test',
    "else the link's only domain",
  );
  t.match(
    (() => {
      try {
        resolveSipConfig({ ...base, domains: ['a.test', 'b.test'], auth: { realm: 'r', users: { a: 'x' } } });
        return null;
      } catch (e) {
        return e instanceof SipConfigError ? [e.path.join('.'), e.message] : String(e);
      }
    })(),
    ['auth.realm', /not one of this link's domains \(a\.test, b\.test\)/],
    "several domains: the realm must name the users' domain",
  );
});
