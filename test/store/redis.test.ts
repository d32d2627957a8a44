// The Store contract against a real redis-server, plus faults and two replicas sharing
// one audit chain.
import t from 'tap';
import { verifyLog } from '../../src/core/audit/verify.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { silentLogger } from '../../src/core/logger.js';
import { openStore } from '../../src/store/open.js';
import { RedisStore, StoreUnavailableError } from '../../src/store/redis.js';
import { entry } from '../core/audit/fixtures.js';
import { startRedis } from '../harness/redis.js';
import { storeContract } from './contract.js';

const redis = await startRedis();
t.teardown(() => redis.stop());

let n = 0;
await storeContract(t, 'redis', async () => {
  n += 1;
  const store = new RedisStore({ url: redis.url, prefix: `t${n}:` });
  await store.ready();
  return { store, cleanup: () => store.close() };
});

t.test('keys live under the prefix; audit keys share a hash tag', async (t) => {
  const store = new RedisStore({ url: redis.url, prefix: 'acme:' });
  await store.ready();
  await store.set('k', 'v');
  t.equal(await store.client.get('acme:kv:k'), 'v');
  t.same(store.audit.keys, {
    stream: '{acme}:audit:stream',
    head: '{acme}:audit:head',
    anchor: '{acme}:audit:anchor',
  });
  const def = new RedisStore({ url: redis.url });
  t.equal(def.prefix, 'parley:');
  t.equal(def.audit.keys.stream, '{parley}:audit:stream');
  await def.close();
  await store.close();
});

t.test('openStore: url and object forms; memory when asked for', async (t) => {
  const mem = await openStore({ memory: true }, silentLogger);
  t.equal(mem.kind, 'memory');
  await mem.close();
  const a = await openStore({ redis: redis.url }, silentLogger);
  t.equal(a.kind, 'redis');
  t.equal(await a.ping(), true);
  await a.close();
  const b = await openStore({ redis: { url: redis.url, prefix: 'objform:' } }, silentLogger);
  t.equal(await b.ping(), true);
  await b.close();
  await t.rejects(openStore({ redis: {} }, silentLogger), /exactly one of/);
});

t.test('two replicas (two clients, two writers) produce one valid chain', async (t) => {
  const r1 = new RedisStore({ url: redis.url, prefix: 'replicas:' });
  const r2 = new RedisStore({ url: redis.url, prefix: 'replicas:' });
  await Promise.all([r1.ready(), r2.ready()]);
  const w1 = new AuditWriter(r1.audit, { maxBatch: 50 });
  const w2 = new AuditWriter(r2.audit, { maxBatch: 50 });
  const writes: Promise<{ seq: number; hash: string }>[] = [];
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 25; i++) {
      writes.push(w1.write(entry({ sourceAdapter: 'replica-1' })));
      writes.push(w2.write(entry({ sourceAdapter: 'replica-2' })));
    }
    await new Promise((r) => setImmediate(r));
  }
  const results = await Promise.all(writes);
  const seqs = results.map((r) => r.seq).sort((a, b) => a - b);
  t.same(
    seqs,
    Array.from({ length: 1000 }, (_, i) => i + 1),
    'every record has its own seq, no gaps',
  );
  const v = await verifyLog(r1.audit);
  t.same(v.ok, true, JSON.stringify(v));
  t.equal(v.records, 1000);
  const recs = await r1.audit.range(1, 1000);
  t.ok(
    recs.some((r) => r.sourceAdapter === 'replica-1') && recs.some((r) => r.sourceAdapter === 'replica-2'),
  );
  await w1.close();
  await w2.close();
  await r1.close();
  await r2.close();
});

t.test('faults: redis killed, then restarted', async (t) => {
  const own = await startRedis();
  t.teardown(() => own.stop());
  const store = new RedisStore({ url: own.url, commandTimeoutMs: 1000 });
  await store.ready();
  const writer = new AuditWriter(store.audit);
  await store.set('k', 'v');
  t.equal((await writer.write(entry())).seq, 1);

  await own.kill();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(await store.ping(), false, 'ping is false while redis is down');
  await t.rejects(store.set('k', 'w'), StoreUnavailableError, 'writes reject');
  await t.rejects(store.get('k'), /redis store .*get failed/, 'with a clear message');
  await t.rejects(writer.write(entry()), /audit store append failed/, 'audit writes reject');
  t.equal(await store.acquireLease('l', 'me', 1000).catch(() => 'rejected'), 'rejected');

  await own.restart();
  t.equal(await store.ready(10_000), true, 'reconnects');
  t.equal(await store.ping(), true);
  await store.set('k', 'again');
  t.equal(await store.get('k'), 'again', 'works again (the restarted redis is empty)');
  const w = await writer.write(entry());
  t.equal(w.seq, 1, 'the writer re-reads the head after a failure');
  await writer.close();
  await store.close();
});

t.test('a store opened while redis is down comes up when it starts', async (t) => {
  const own = await startRedis();
  await own.kill();
  const store = await openStore({ redis: own.url }, silentLogger, { connectTimeoutMs: 300 });
  t.equal(await store.ping(), false);
  await t.rejects(store.get('x'));
  await own.restart();
  t.equal(await (store as RedisStore).ready(10_000), true);
  t.equal(await store.get('x'), null);
  await store.close();
  await own.stop();
});
