import t from 'tap';
import { TextArena } from '../../src/store/text-arena.js';

t.test('texts come back as pushed, across slabs, with their keys', async (t) => {
  const a = new TextArena();
  const texts: string[] = [];
  // ~9 MB: more than two 4 MB slabs, with multi-byte characters.
  for (let i = 0; i < 30_000; i++) {
    const s = `{"seq":${i + 1},"body":"héllo ✓ ${'x'.repeat(i % 500)}"}`;
    texts.push(s);
    a.push(i + 1, s);
  }
  t.equal(a.length, 30_000);
  let same = 0;
  for (let i = 0; i < texts.length; i++) if (a.text(i) === texts[i] && a.key(i) === i + 1) same++;
  t.equal(same, 30_000, 'every text and key');
});

t.test('a text larger than a slab gets a slab of its own', async (t) => {
  const a = new TextArena();
  const big = 'y'.repeat(5 * 1024 * 1024);
  a.push(1, 'before');
  a.push(2, big);
  a.push(3, 'after');
  t.equal(a.text(0), 'before');
  t.equal(a.text(1).length, big.length);
  t.equal(a.text(1), big);
  t.equal(a.text(2), 'after');
});

t.test('lowerBound finds the first key at or above', async (t) => {
  const a = new TextArena();
  for (const k of [2, 4, 4, 9]) a.push(k, `k${k}`);
  t.equal(a.lowerBound(0), 0);
  t.equal(a.lowerBound(2), 0);
  t.equal(a.lowerBound(3), 1);
  t.equal(a.lowerBound(4), 1);
  t.equal(a.lowerBound(5), 3);
  t.equal(a.lowerBound(10), 4);
});

t.test('replace changes one text and keeps the others and the key', async (t) => {
  const a = new TextArena();
  for (let i = 1; i <= 5; i++) a.push(i, `t${i}`);
  a.replace(2, 'a longer replacement text');
  t.equal(a.length, 5);
  t.same(
    Array.from({ length: 5 }, (_, i) => [a.key(i), a.text(i)]),
    [
      [1, 't1'],
      [2, 't2'],
      [3, 'a longer replacement text'],
      [4, 't4'],
      [5, 't5'],
    ],
  );
});

t.test('retain keeps the chosen entries in order', async (t) => {
  const a = new TextArena();
  for (let i = 1; i <= 10; i++) a.push(i, `t${i}`);
  a.retain((key) => key % 3 === 0 || key > 8);
  t.same(
    Array.from({ length: a.length }, (_, i) => a.text(i)),
    ['t3', 't6', 't9', 't10'],
  );
  a.push(11, 't11');
  t.equal(a.text(4), 't11', 'appends go on after');
});
