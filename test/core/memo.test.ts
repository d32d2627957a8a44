// The bounded memo behind parsed addresses, SIP header parses and the SIP peer check.
import t from 'tap';
import { Memo } from '../../src/core/memo.js';

t.test('computes once per key, and again after the bound drops everything', async (t) => {
  const m = new Memo<number>(2);
  let calls = 0;
  const f = (k: string) => m.get(k, () => ++calls);
  t.equal(f('a'), 1);
  t.equal(f('a'), 1, 'remembered');
  t.equal(f('b'), 2);
  t.equal(m.size, 2);
  t.equal(f('c'), 3, 'the third key clears the full memo');
  t.equal(m.size, 1);
  t.equal(f('a'), 4, 'a was dropped with the rest');
});

t.test('long keys and failures are not remembered', async (t) => {
  const m = new Memo<string>(10, 3);
  let calls = 0;
  m.get('long-key', () => `${++calls}`);
  m.get('long-key', () => `${++calls}`);
  t.equal(calls, 2, 'computed every time');
  t.equal(m.size, 0);
  t.throws(
    () =>
      m.get('bad', () => {
        throw new Error('nope');
      }),
    /nope/,
  );
  t.equal(
    m.get('bad', () => 'ok'),
    'ok',
    'a throw is not remembered',
  );
});
