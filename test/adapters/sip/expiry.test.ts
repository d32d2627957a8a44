// Timer K's ExpiringSet and Timer J's ExpiringResponses: entries expire ttl after they were
// (last) added, in order, from one timer; responses come back byte for byte.
import t from 'tap';
import { ExpiringResponses, ExpiringSet, type SentResponse } from '../../../src/adapters/sip/expiry.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const response = (i: number, size = 40): SentResponse => ({
  bytes: Buffer.from(`SIP/2.0 200 OK ${i} `.padEnd(size, String.fromCharCode(97 + (i % 26)))),
  dest: { transport: i % 2 ? 'udp' : 'tcp', address: `10.0.${i % 250}.1`, port: 5000 + (i % 1000) },
});

t.test('keys expire ttl after they were added, each at its own time', async (t) => {
  const s = new ExpiringSet(100);
  s.add('a');
  await sleep(50);
  s.add('b');
  t.ok(s.has('a'));
  t.equal(s.size, 2);
  await sleep(70); // a: 120 ms old, b: 70 ms
  t.notOk(s.has('a'), 'a expired');
  t.ok(s.has('b'), 'b not yet');
  await sleep(60);
  t.notOk(s.has('b'), 'b expired');
  t.equal(s.size, 0);
});

t.test('adding a key again starts its time again; clear', async (t) => {
  const s = new ExpiringSet(100);
  s.add('k');
  await sleep(60);
  s.add('k');
  t.equal(s.size, 1, 'one key');
  await sleep(60); // the first addition's deadline passed
  t.ok(s.has('k'), 'the earlier deadline does not remove the later addition');
  await sleep(60);
  t.notOk(s.has('k'), 'the later deadline does');
  s.add('z');
  s.clear();
  t.equal(s.size, 0);
  s.add('after');
  t.ok(s.has('after'));
  await sleep(130);
  t.notOk(s.has('after'), 'expiry works after a clear');
});

t.test('responses come back as set; a newer setting replaces an older one', async (t) => {
  const r = new ExpiringResponses(200);
  const a = response(1);
  r.set('a', a);
  r.set('b', response(2));
  t.same(r.get('a'), a);
  t.ok(r.get('a')?.bytes.equals(a.bytes));
  t.equal(r.get('missing'), undefined);
  const a2 = response(3);
  r.set('a', a2);
  t.same(r.get('a'), a2, 'the newer response');
  t.equal(r.size, 2);
});

t.test('many entries: the ring grows, every response stays intact, all expire, none early', async (t) => {
  // A TTL long enough that setting and reading 5,000 entries on a loaded machine (the suite
  // runs files in parallel) stays well inside it.
  const r = new ExpiringResponses(800);
  const n = 5000; // the ring starts at 1,024 entries
  for (let i = 0; i < n; i++) r.set(`k${i}`, response(i));
  let intact = 0;
  for (let i = 0; i < n; i++) {
    const got = r.get(`k${i}`);
    const want = response(i);
    if (
      got?.bytes.equals(want.bytes) &&
      got.dest.port === want.dest.port &&
      got.dest.address === want.dest.address
    )
      if (got.dest.transport === want.dest.transport) intact++;
  }
  t.equal(intact, n, 'all intact after the ring grew');
  t.equal(r.size, n, 'none early');
  await sleep(900);
  t.equal(r.size, 0, 'all gone');
  t.equal(r.get('k1'), undefined);
});

t.test('responses past several slabs; later ones stay intact while earlier slabs are dropped', async (t) => {
  // The early responses expire before the late ones are written, and the late ones are read
  // back at once: a TTL far longer than writing and reading them, even on a loaded machine
  // (a short TTL with a short sleep let late ones expire before they were read).
  const r = new ExpiringResponses(1000);
  // ~2.4 MB of 1,200-byte responses: three 1 MB slabs.
  for (let i = 0; i < 2000; i++) r.set(`early${i}`, response(i, 1200));
  await sleep(1100); // the early ones expired, their slabs can go
  for (let i = 0; i < 2000; i++) r.set(`late${i}`, response(i + 7, 1200));
  t.equal(r.get('early0'), undefined);
  let intact = 0;
  for (let i = 0; i < 2000; i++) if (r.get(`late${i}`)?.bytes.equals(response(i + 7, 1200).bytes)) intact++;
  t.equal(intact, 2000, 'the later responses are intact');
  const big = response(9, 3 * 1024 * 1024); // larger than a slab
  r.set('big', big);
  t.ok(r.get('big')?.bytes.equals(big.bytes), 'a response larger than a slab');
  r.clear();
  t.equal(r.size, 0);
  r.set('again', response(1));
  t.ok(r.get('again')?.bytes.equals(response(1).bytes), 'usable after a clear');
});
