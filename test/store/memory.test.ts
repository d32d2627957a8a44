import t from 'tap';
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
