// The write coalescer: stanzas sent in one turn of the event loop leave in one write, in
// order, each send resolving only after its write, and a failed write fails every send in it.
import t from 'tap';
import { WriteCoalescer } from '../../../src/adapters/xmpp/coalescer.js';

function sink(fail = false) {
  const writes: string[] = [];
  return {
    writes,
    out: {
      write: async (data: string) => {
        writes.push(data);
        if (fail) throw new Error('EPIPE: socket closed');
      },
    },
  };
}

t.test('sends in one turn become one write, in order', async (t) => {
  const s = sink();
  const c = new WriteCoalescer(s.out);
  await Promise.all([c.write('<a/>'), c.write('<b/>'), c.write('<c/>')]);
  t.same(s.writes, ['<a/><b/><c/>']);
  await c.write('<d/>');
  t.same(s.writes, ['<a/><b/><c/>', '<d/>'], 'a later send is a write of its own');
});

t.test('a send resolves only after its bytes were written', async (t) => {
  let release: () => void = () => {};
  const writes: string[] = [];
  const c = new WriteCoalescer({
    write: (data) =>
      new Promise<void>((r) => {
        writes.push(data);
        release = r;
      }),
  });
  let done = false;
  const p = c.write('<x/>').then(() => {
    done = true;
  });
  await new Promise((r) => setImmediate(r));
  t.same(writes, ['<x/>']);
  t.notOk(done, 'not resolved while the socket has not taken it');
  release();
  await p;
  t.ok(done);
});

t.test('a failed write rejects every send that was in it', async (t) => {
  const s = sink(true);
  const c = new WriteCoalescer(s.out);
  const results = await Promise.allSettled([c.write('<a/>'), c.write('<b/>')]);
  t.same(
    results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'ok')),
    ['EPIPE: socket closed', 'EPIPE: socket closed'],
  );
});

t.test('a write that throws synchronously is reported, not thrown into the event loop', async (t) => {
  const c = new WriteCoalescer({
    write: () => {
      throw new Error('not connected');
    },
  });
  await t.rejects(c.write('<a/>'), /not connected/);
});

t.test('a large burst is split instead of building one huge string', async (t) => {
  const s = sink();
  const c = new WriteCoalescer(s.out);
  const chunk = 'x'.repeat(64 * 1024);
  await Promise.all(Array.from({ length: 8 }, () => c.write(chunk)));
  t.ok(s.writes.length >= 2, `${s.writes.length} writes`);
  t.equal(s.writes.join('').length, 8 * chunk.length, 'every byte written once');
  t.ok(Math.max(...s.writes.map((w) => w.length)) <= 256 * 1024 + chunk.length);
});
