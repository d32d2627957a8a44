// ExpiringMap: entries expire ttl after they were (last) set, in order, from one timer.
import t from 'tap';
import { ExpiringMap } from '../../../src/adapters/sip/expiry.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('entries expire ttl after they were set, each at its own time', async (t) => {
  const m = new ExpiringMap<number>(100);
  m.set('a', 1);
  await sleep(50);
  m.set('b', 2);
  t.equal(m.get('a'), 1);
  t.equal(m.size, 2);
  await sleep(70); // a: 120 ms old, b: 70 ms
  t.notOk(m.has('a'), 'a expired');
  t.equal(m.get('b'), 2, 'b not yet');
  await sleep(60);
  t.notOk(m.has('b'), 'b expired');
  t.equal(m.size, 0);
});

t.test('setting a key again starts its time again; delete and clear', async (t) => {
  const m = new ExpiringMap<string>(100);
  m.set('k', 'first');
  await sleep(60);
  m.set('k', 'second');
  await sleep(60); // the first setting's deadline passed
  t.equal(m.get('k'), 'second', 'the earlier deadline does not remove the later setting');
  await sleep(60);
  t.notOk(m.has('k'), 'the later deadline does');
  m.set('x', 'y');
  m.delete('x');
  t.notOk(m.has('x'));
  m.set('z', 'z');
  m.clear();
  t.equal(m.size, 0);
  m.set('after', 'clear');
  await sleep(130);
  t.notOk(m.has('after'), 'expiry works after a clear');
});

t.test('many entries: all expire, none early', async (t) => {
  const m = new ExpiringMap<number>(80);
  for (let i = 0; i < 5000; i++) m.set(`k${i}`, i);
  await sleep(40);
  t.equal(m.size, 5000, 'none early');
  await sleep(80);
  t.equal(m.size, 0, 'all gone');
});
