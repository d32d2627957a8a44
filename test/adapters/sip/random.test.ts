// Pooled random hex: the right length, hex only, and no value repeated across many pool
// refills (tags and branches must be unique in practice).
import t from 'tap';
import { randomHex } from '../../../src/adapters/sip/random.js';

t.test('randomHex gives 2 × bytes lowercase hex characters', async (t) => {
  for (const n of [1, 8, 12, 16]) t.match(randomHex(n), new RegExp(`^[0-9a-f]{${2 * n}}$`));
  t.equal(randomHex().length, 16, 'eight bytes by default');
});

t.test('values do not repeat across pool refills', async (t) => {
  const seen = new Set<string>();
  // 20,000 × 12 bytes crosses the 4 KiB pool about 58 times.
  for (let i = 0; i < 20_000; i++) seen.add(randomHex(12));
  t.equal(seen.size, 20_000);
});

t.test('a request larger than the pool is refused with a clear error', async (t) => {
  t.throws(() => randomHex(5000), /at most 4096 bytes/);
});
