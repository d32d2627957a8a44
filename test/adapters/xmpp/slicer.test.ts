// The turn slicer: at most `budget` items handled per turn of the event loop, all of
// them, in the order they came.
import { setImmediate as nextTurn } from 'node:timers/promises';
import t from 'tap';
import { TurnSlicer } from '../../../src/adapters/xmpp/slicer.js';

t.test('a burst of 100 is handled 32 per turn, in order', async (t) => {
  const handled: number[] = [];
  const s = new TurnSlicer<number>(32, (n) => handled.push(n));
  for (let i = 0; i < 100; i++) s.push(i);
  t.equal(handled.length, 32, 'the first 32 at once');
  t.equal(s.waiting, 68);
  const perTurn: number[] = [];
  while (s.waiting > 0) {
    const before = handled.length;
    await nextTurn();
    perTurn.push(handled.length - before);
  }
  t.same(perTurn, [32, 32, 4]);
  t.same(
    handled,
    Array.from({ length: 100 }, (_, i) => i),
    'every item, in order',
  );
});

t.test('items pushed while others wait queue behind them', async (t) => {
  const handled: string[] = [];
  const s = new TurnSlicer<string>(2, (x) => handled.push(x));
  for (const x of ['a', 'b', 'c', 'd', 'e', 'f']) s.push(x);
  t.same(handled, ['a', 'b']);
  s.push('g');
  t.same(handled, ['a', 'b'], 'g waits behind c-f: nothing jumps the queue');
  await nextTurn();
  t.same(handled, ['a', 'b', 'c', 'd']);
  await nextTurn();
  t.same(handled, ['a', 'b', 'c', 'd', 'e', 'f']);
  await nextTurn();
  t.same(handled, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
});

t.test('a new turn gives a fresh budget; a quiet slicer handles at once', async (t) => {
  const handled: number[] = [];
  const s = new TurnSlicer<number>(3, (n) => handled.push(n));
  s.push(1);
  t.same(handled, [1], 'handled in the same turn it arrived');
  await nextTurn();
  await nextTurn();
  for (let i = 2; i <= 4; i++) s.push(i);
  t.same(handled, [1, 2, 3, 4]);
  t.equal(s.waiting, 0);
});
