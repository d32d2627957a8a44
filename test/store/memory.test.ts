import t from 'tap';
import { chainEntries } from '../../src/core/audit/chain.js';
import { verifyLog } from '../../src/core/audit/verify.js';
import { MemoryStore } from '../../src/store/memory.js';
import { storeContract } from './contract.js';

await storeContract(t, 'memory', async () => {
  const store = new MemoryStore({ sweepMs: 50 });
  return { store, cleanup: () => store.close() };
});

t.test('the sweep timer removes expired keys without access', async (t) => {
  const store = new MemoryStore({ sweepMs: 20 });
  await store.set('k', 'v', 10);
  await new Promise((r) => setTimeout(r, 80));
  // Reach in: the sweep, not a lazy read, removed it.
  t.equal((store as unknown as { kv: Map<string, unknown> }).kv.size, 0);
  await store.close();
});

t.test('the audit log keeps records as text: reads are copies, equal to what was appended', async (t) => {
  const store = new MemoryStore();
  t.teardown(() => store.close());
  const entry = {
    category: 'admin' as const,
    time: '2026-12-01T00:00:00.000Z',
    traceId: 't',
    eventId: 'e',
    kind: 'policy.reload',
    from: 'a',
    to: 'b',
    fromNetwork: 'x',
    toNetwork: 'y',
    direction: 'internal',
    decision: 'allow' as const,
    rule: null,
    reason: null,
    policyVersion: 'v1',
    content: { mode: 'full' as const, body: 'say "hi"\n' },
    sourceAdapter: 'api',
    targetAdapter: null,
    actor: 'admin',
    details: { nested: { list: [1, 'two', null] } },
  };
  const records = chainEntries(null, [entry, { ...entry, eventId: 'e2' }]);
  t.same(await store.audit.append(records), { ok: true });
  const read = await store.audit.range(1, 10);
  t.same(read, records, 'what was appended, field for field');
  (read[0] as { reason: string | null }).reason = 'changed';
  t.equal((await store.audit.range(1, 1))[0]?.reason, null, 'changing a read record does not change the log');
  t.same(await store.audit.reverseRange(2, 1), [records[1]]);
  t.ok((await verifyLog(store.audit)).ok, 'the chain verifies');
});
