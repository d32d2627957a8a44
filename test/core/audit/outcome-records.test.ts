// Many deliveries at once: every event gets its decision record and its outcome record,
// the outcome records ride in the writer's batches (a few store calls, not one each), the
// chain verifies, and each event's decision record comes before its outcome record.
import t, { type Test } from 'tap';
import type { AuditRecord } from '../../../src/core/audit/record.js';
import { verifyLog } from '../../../src/core/audit/verify.js';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Pipeline } from '../../../src/core/pipeline.js';
import { compilePolicySource } from '../../../src/core/policy/index.js';
import type { AppendResult, AuditHead, AuditLog, Store } from '../../../src/core/store.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { RedisStore } from '../../../src/store/redis.js';
import { MemoryAdapter, message } from '../../fixtures/memory-adapter.js';
import { startRedis } from '../../harness/redis.js';

const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: test, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [hs.test] }
defaults: { decision: deny }
rules:
  - id: partners
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
`;

/** Counts the records of each store call. */
class Counting implements AuditLog {
  appends: number[] = [];
  readonly kind = 'counting';
  constructor(readonly inner: AuditLog) {}
  append(records: readonly AuditRecord[]): Promise<AppendResult> {
    this.appends.push(records.length);
    return this.inner.append(records);
  }
  head = () => this.inner.head();
  anchor = () => this.inner.anchor();
  range = (a: number, b: number) => this.inner.range(a, b);
  reverseRange = (a: number, b: number) => this.inner.reverseRange(a, b);
  length = () => this.inner.length();
  trim = (a: number, k?: ReadonlySet<number>) => this.inner.trim(a, k);
  restore = (a: AuditHead, h: readonly AuditRecord[]) => this.inner.restore(a, h);
}

const N = 300;
// What the target network answers to event i, and the outcome record that follows.
const answerOf = (i: number) =>
  i % 7 === 0
    ? {
        result: { ok: false as const, refused: true, reason: `no ${i}` },
        outcome: 'refused',
        reason: `no ${i}`,
      }
    : i % 5 === 0
      ? { result: { ok: true as const, queued: true }, outcome: 'queued', reason: null }
      : { result: { ok: true as const }, outcome: 'delivered', reason: null };

async function deliverMany(t: Test, store: Store) {
  const log = new Counting(store.audit);
  const writer = new AuditWriter(log, {});
  const policy = compilePolicySource(POLICY, 'test.yaml');
  const pipeline = new Pipeline({
    policy: () => policy,
    audit: writer,
    store,
    logger: silentLogger,
    failClosed: true,
  });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test'], undefined, false);
  const hs = new MemoryAdapter('hs', 'matrix', ['hs.test'], undefined, false);
  hs.answer = (d) => answerOf(Number(d.event.id.slice(1))).result;
  for (const a of [corp, hs]) await a.start(pipeline.register(a));

  const sent = Array.from({ length: N }, (_, i) =>
    message(`xmpp:u${i % 13}@corp.test`, `matrix:u/p${i % 11}:hs.test`, `n ${i}`, { id: `m${i}` }),
  );
  const outcomes = await Promise.all(sent.map((e) => corp.submit(e)));
  t.equal(
    outcomes.filter((o) => o.status === 'delivered' || o.status === 'queued').length,
    N - Math.ceil(N / 7),
    'every event the network did not refuse was handed over',
  );
  await writer.flush();

  const records = await store.audit.range(1, 10 * N);
  t.equal(records.length, 2 * N, 'two records per event');
  t.ok(log.appends.length <= 4, `${2 * N} records in ${log.appends.length} store calls`);
  for (const [i, e] of sent.entries()) {
    const mine = records.filter((r) => r.eventId === e.id);
    const decision = mine.filter((r) => r.category === 'decision');
    const outcome = mine.filter((r) => r.category === 'outcome');
    const want = answerOf(i);
    if (
      decision.length !== 1 ||
      outcome.length !== 1 ||
      decision[0]?.outcome !== 'pending' ||
      outcome[0]?.outcome !== want.outcome ||
      outcome[0]?.outcomeReason !== want.reason ||
      (decision[0]?.seq ?? 0) >= (outcome[0]?.seq ?? 0)
    ) {
      t.fail(`event ${e.id}: one decision record (pending) before one outcome record (${want.outcome})`, {
        found: mine,
      });
      return;
    }
  }
  t.pass(`each of ${N} events: its decision record, then its outcome record`);
  t.same(
    await verifyLog(store.audit),
    {
      ok: true,
      records: 2 * N,
      head: { seq: 2 * N, hash: records[2 * N - 1]?.hash },
    },
    'the chain verifies',
  );
}

t.test('memory store', async (t) => {
  const store = new MemoryStore();
  await deliverMany(t, store);
  await store.close();
});

t.test('redis store', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const store = new RedisStore({ url: redis.url, prefix: 'batch:' });
  await store.ready();
  await deliverMany(t, store);
  await store.close();
});
