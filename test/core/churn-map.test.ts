import t from 'tap';
import { ChurnMap } from '../../src/core/churn-map.js';

t.test('get, set, has, delete and size behave as a Map does', async (t) => {
  const m = new ChurnMap<number>();
  t.equal(m.size, 0);
  t.equal(m.get('a'), undefined);
  t.equal(m.has('a'), false);
  t.equal(m.set('a', 1), m, 'set returns the map');
  m.set('b', 2);
  m.set('a', 3); // replacing does not count twice
  t.equal(m.size, 2);
  t.equal(m.get('a'), 3);
  t.equal(m.has('b'), true);
  t.equal(m.delete('b'), true);
  t.equal(m.delete('b'), false, 'deleting a missing key says so');
  t.equal(m.size, 1);
  t.same([...m.values()], [3]);
  m.clear();
  t.equal(m.size, 0);
  t.same([...m.values()], []);
});

t.test('keys that are names on Object.prototype or look like numbers are plain keys', async (t) => {
  const m = new ChurnMap<string>();
  for (const k of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '12', '0', '']) {
    t.equal(m.has(k), false, `${JSON.stringify(k)} is not there before it is set`);
    t.equal(m.get(k), undefined);
    m.set(k, `v${k}`);
    t.equal(m.get(k), `v${k}`);
  }
  t.equal(m.size, 7);
  t.same([...m.values()].sort(), [
    'v',
    'v0',
    'v12',
    'v__proto__',
    'vconstructor',
    'vhasOwnProperty',
    'vtoString',
  ]);
  t.equal(m.delete('__proto__'), true);
  t.equal(m.has('__proto__'), false);
  t.equal(m.size, 6);
});

t.test('a value may be falsy', async (t) => {
  const m = new ChurnMap<number | null>();
  m.set('zero', 0).set('null', null);
  t.equal(m.has('zero'), true);
  t.equal(m.get('zero'), 0);
  t.equal(m.has('null'), true);
  t.equal(m.size, 2);
});

t.test('heavy churn keeps the count right', async (t) => {
  const m = new ChurnMap<number>();
  const live: string[] = [];
  for (let i = 0; i < 50_000; i++) {
    const k = `k${i}`;
    m.set(k, i);
    live.push(k);
    if (live.length > 10) m.delete(live.shift()!);
  }
  t.equal(m.size, 10);
  t.same(
    [...m.values()].sort((a, b) => a - b),
    Array.from({ length: 10 }, (_, i) => 49_990 + i),
  );
});

t.test('entries survive the moves to a fresh Map', async (t) => {
  const m = new ChurnMap<number>();
  for (let i = 0; i < 100; i++) m.set(`long${i}`, i); // long-lived entries
  for (let i = 0; i < 5_000; i++) {
    m.set(`short${i}`, i);
    m.delete(`short${i}`);
  }
  t.equal(m.size, 100);
  for (let i = 0; i < 100; i++) t.equal(m.get(`long${i}`), i);
});
