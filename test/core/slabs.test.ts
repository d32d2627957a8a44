import t from 'tap';
import { Slabs } from '../../src/core/slabs.js';

t.test('bytes go in order into slabs, a new slab when they do not fit', async (t) => {
  const s = new Slabs(100);
  t.equal(s.reserve(60), 0);
  const first = s.current;
  t.equal(s.reserve(30), 60, 'fits after the first');
  t.equal(s.current, first);
  t.equal(s.reserve(20), 0, 'does not fit: a new slab');
  t.equal(s.current, first + 1);
  s.slab(first).write('hello', 60);
  t.equal(s.slab(first).toString('utf8', 60, 65), 'hello');
  t.equal(s.reserve(250), 0, 'larger than a slab: one of its own');
  t.equal(s.slab(s.current).length, 250);
});

t.test('dropBefore keeps the later slabs and always the current one', async (t) => {
  const s = new Slabs(10);
  for (let i = 0; i < 4; i++) {
    s.reserve(10); // a full slab each
    s.slab(s.current).fill(i, 0, 10);
  }
  const last = s.current;
  s.dropBefore(last - 1);
  t.equal(s.slab(last - 1)[0], 2, 'the slab before the current stays');
  t.equal(s.slab(last)[0], 3);
  s.dropBefore(last + 5);
  t.equal(s.slab(last)[0], 3, 'the current slab is never dropped');
  s.clear();
  t.equal(s.reserve(5), 0, 'usable after a clear');
  t.ok(s.current > last, 'slab numbers keep counting up');
});
