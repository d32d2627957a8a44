// The adapter's lifecycle without a server: start does not hang when the server is
// unreachable, readiness says why, deliveries queue (bounded) and are bounced to their
// senders at shutdown when the store would not outlive the process; the backoff grows.
import t from 'tap';
import { buildXmppAdapter } from '../../../src/adapters/xmpp/index.js';
import { ComponentLink } from '../../../src/adapters/xmpp/link.js';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Pipeline } from '../../../src/core/pipeline.js';
import { compilePolicySource } from '../../../src/core/policy/index.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { MemoryAdapter, message } from '../../fixtures/memory-adapter.js';
import { freePort } from '../../harness/redis.js';

const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: t, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [hs.test] }
defaults: { decision: deny }
rules:
  - id: ok
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
`;

t.test(
  'an unreachable server: start returns, the link is down with the reason, events queue then bounce',
  async (t) => {
    const port = await freePort();
    const store = new MemoryStore();
    const policy = compilePolicySource(POLICY, 't.yaml');
    const pipeline = new Pipeline({
      policy: () => policy,
      audit: new AuditWriter(store.audit, {}),
      store,
      logger: silentLogger,
    });
    const xmpp = buildXmppAdapter(
      'corp',
      {
        type: 'xmpp',
        service: `xmpp://127.0.0.1:${port}`,
        component: 'gw.corp.test',
        secret: 's',
        domains: ['corp.test'],
        queue: { maxLength: 2, timeoutMs: 60_000 },
        reconnect: { initialDelayMs: 50, maxDelayMs: 100 },
      },
      { logger: silentLogger, configDir: '.' },
    );
    const hs = new MemoryAdapter('hs', 'matrix', ['hs.test']);
    await hs.start(pipeline.register(hs));
    await xmpp.start(pipeline.register(xmpp));
    // start returned with the link down: it does not wait for the server to come up.
    t.match(
      pipeline.linkStatus().get('corp'),
      { state: 'down', detail: /ECONNREFUSED/ },
      'start does not wait for the server',
    );

    const a = await hs.submit(message('matrix:u/bob:hs.test', 'xmpp:alice@corp.test', 'one', { id: 'q1' }));
    const b = await hs.submit(message('matrix:u/bob:hs.test', 'xmpp:alice@corp.test', 'two', { id: 'q2' }));
    const c = await hs.submit(message('matrix:u/bob:hs.test', 'xmpp:alice@corp.test', 'three', { id: 'q3' }));
    t.match([a, b, c], [{ status: 'queued' }, { status: 'queued' }, { status: 'failed', code: 'delivery' }]);
    const typing = await hs.submit({
      kind: 'chatstate',
      id: 'cs',
      time: new Date().toISOString(),
      from: 'matrix:u/bob:hs.test',
      to: 'xmpp:alice@corp.test',
      adapter: 'hs',
      traceId: 't',
      state: 'composing',
    });
    t.match(typing, { status: 'failed', code: 'delivery' }, 'chat states are not queued');
    t.equal(xmpp.queued, 2);
    await xmpp.stop();
    t.equal(pipeline.linkStatus().get('corp')?.state, 'stopped');
    t.same(
      hs.refused.filter((r) => r.refusal.code === 'shutdown').map((r) => r.event.id),
      ['q1', 'q2'],
      'the memory store dies with the process: waiting events are bounced',
    );
  },
);

t.test('a forged delivery is refused', async (t) => {
  const xmpp = buildXmppAdapter(
    'corp',
    {
      type: 'xmpp',
      service: 'xmpp://127.0.0.1:1',
      component: 'gw.corp.test',
      secret: 's',
      domains: ['corp.test'],
    },
    { logger: silentLogger, configDir: '.' },
  );
  const forged = {
    event: message('matrix:u/bob:hs.test', 'xmpp:alice@corp.test', 'x'),
    decision: 'allow' as const,
    rule: null,
    obligations: {},
    auditSeq: 1,
  };
  t.match(await xmpp.deliver(forged), { ok: false, reason: /not issued/ });
});

t.test('the reconnect backoff doubles up to its ceiling', async (t) => {
  t.same(
    [1, 2, 3, 4, 5, 10, 50].map((n) => ComponentLink.backoff(n, 500, 30_000)),
    [500, 1000, 2000, 4000, 8000, 30_000, 30_000],
  );
});
