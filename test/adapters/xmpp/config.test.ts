import t from 'tap';
import {
  createXmppAdapter,
  resolveXmppConfig,
  type XmppAdapter,
  XmppConfigError,
} from '../../../src/adapters/xmpp/index.js';
import { silentLogger } from '../../../src/core/logger.js';

const base = {
  type: 'xmpp',
  service: 'xmpp://127.0.0.1:5347',
  component: 'GW.corp.test',
  secret: 's3cret',
  domains: ['Corp.test', '*.corp.test'],
};

t.test('a valid block gets its defaults', async (t) => {
  t.same(resolveXmppConfig(base), {
    service: 'xmpp://127.0.0.1:5347',
    component: 'gw.corp.test',
    secret: 's3cret',
    domains: ['corp.test', '*.corp.test'],
    queue: { maxLength: 1000, timeoutMs: 300_000 },
    reconnect: { initialDelayMs: 500, maxDelayMs: 30_000 },
    lease: { ttlMs: 5000, renewMs: 1500 },
    connectTimeoutMs: 10_000,
    iqTimeoutMs: 15_000,
    displayName: 'Parley gateway',
  });
  const c = resolveXmppConfig({
    ...base,
    queue: { maxLength: 5, timeoutMs: 1000 },
    reconnect: { initialDelayMs: 50, maxDelayMs: 60 },
  });
  t.same(c.queue, { maxLength: 5, timeoutMs: 1000 });
  t.same(c.reconnect, { initialDelayMs: 50, maxDelayMs: 60 });
});

t.test('problems name the key to change', async (t) => {
  const cases: [Record<string, unknown>, (string | number)[]][] = [
    [{ ...base, service: 'http://x:1' }, ['service']],
    [{ ...base, service: 'xmpp://127.0.0.1:99999' }, ['service']],
    [{ ...base, component: 'bad domain' }, ['component']],
    [{ ...base, secret: '' }, ['secret']],
    [{ ...base, domains: [] }, ['domains']],
    [{ ...base, domains: ['corp.test', 'gw.corp.test'] }, ['domains', 1]],
    [{ ...base, queue: { maxLength: 0 } }, ['queue', 'maxLength']],
    [{ ...base, reconnect: { initialDelayMs: 500, maxDelayMs: 100 } }, ['reconnect', 'maxDelayMs']],
    [{ ...base, unknown: 1 }, []],
    [{ ...base, lease: { ttlMs: 100 } }, ['lease', 'ttlMs']],
    [{ ...base, lease: { renewMs: 10 } }, ['lease', 'renewMs']],
    [{ ...base, lease: { ttlMs: 3000, renewMs: 1500 } }, ['lease', 'renewMs']],
    [{ ...base, lease: { ttl: 3000 } }, ['lease']],
  ];
  for (const [block, path] of cases) {
    const err = t.throws(() => resolveXmppConfig(block)) as unknown;
    t.ok(err instanceof XmppConfigError, JSON.stringify(block));
    if (err instanceof XmppConfigError) t.same(err.path.slice(0, path.length), path, err.message);
  }
  const err = t.throws(() => resolveXmppConfig({ ...base, service: 'nope' })) as Error;
  t.match(err.message, /xmpp:\/\/host:port/);
  const lease = t.throws(() =>
    resolveXmppConfig({ ...base, lease: { ttlMs: 3000, renewMs: 1500 } }),
  ) as Error;
  t.match(lease.message, /renewMs \(1500\) must be at most a third of ttlMs \(3000\)/);
  t.same(resolveXmppConfig({ ...base, lease: { ttlMs: 900, renewMs: 300 } }).lease, {
    ttlMs: 900,
    renewMs: 300,
  });
});

t.test('the factory builds an adapter without connecting', async (t) => {
  const a = createXmppAdapter('corp', base, { logger: silentLogger, configDir: '.' });
  t.equal(a.name, 'corp');
  t.equal(a.network, 'xmpp');
  t.same(a.domains, ['corp.test', '*.corp.test']);
  t.ok(a.capabilities.edits);
  t.ok(a.capabilities.kinds.has('call'), 'calls are carried (Jingle)');
  t.throws(
    () => createXmppAdapter('corp', { ...base, secret: 1 }, { logger: silentLogger, configDir: '.' }),
    XmppConfigError,
  );
  // Nothing connects before start: there is no link to wait for.
  await t.rejects((a as XmppAdapter).whenUp(10), /not started/);
});
