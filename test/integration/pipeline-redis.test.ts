// The pipeline on a real Redis with fail-closed audit: while Redis is down nothing is
// delivered unarchived and every sender is told; when it is back, traffic flows again.
import t from 'tap';
import { verifyLog } from '../../src/core/audit/verify.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { silentLogger } from '../../src/core/logger.js';
import { Pipeline } from '../../src/core/pipeline.js';
import { loadPolicyFile } from '../../src/core/policy/index.js';
import { openStore } from '../../src/store/open.js';
import { MemoryAdapter, message } from '../fixtures/memory-adapter.js';
import { startRedis } from '../harness/redis.js';

t.test('fail-closed audit on Redis: refuse while down, recover after', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const store = await openStore({ redis: { url: redis.url, commandTimeoutMs: 1000 } }, silentLogger);
  t.teardown(() => store.close());
  const writer = new AuditWriter(store.audit, {});
  const policy = loadPolicyFile('policies/default.yaml');
  const pipeline = new Pipeline({
    policy: () => policy,
    audit: writer,
    store,
    logger: silentLogger,
    failClosed: true,
  });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const partner = new MemoryAdapter('partner', 'matrix', ['partner.test']);
  for (const a of [corp, partner]) await a.start(pipeline.register(a));
  const send = (body: string) =>
    corp.submit(message('xmpp:alice@corp.test', 'matrix:u/bob:partner.test', body));

  const first = await Promise.all([send('a'), send('b'), send('c')]);
  t.ok(
    first.every((o) => o.status === 'delivered'),
    'delivered while Redis is up',
  );
  await writer.flush();
  t.equal(await store.audit.length(), 6, 'a decision and an outcome record for each');

  await redis.kill();
  const during = await Promise.all([send('d'), send('e')]);
  t.ok(
    during.every((o) => o.status === 'failed' && o.code === 'audit'),
    `refused while down: ${JSON.stringify(during)}`,
  );
  t.equal(partner.delivered.length, 3, 'nothing delivered without its record');
  t.same(
    corp.refused.map((r) => r.refusal.code),
    ['audit', 'audit'],
    'each sender told',
  );

  await redis.restart();
  let after = await send('f');
  for (let i = 0; i < 50 && after.status !== 'delivered'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = await send(`f${i}`);
  }
  t.match(after, { status: 'delivered' }, 'traffic flows again after Redis returns');
  await writer.flush();
  t.match(await verifyLog(store.audit), { ok: true });
});
