import t from 'tap';
import { chainEntries } from '../../../src/core/audit/chain.js';
import type { AuditRecord } from '../../../src/core/audit/record.js';
import { verifyLog } from '../../../src/core/audit/verify.js';
import {
  AuditWriter,
  AuditWriterClosedError,
  type AuditWriterOptions,
} from '../../../src/core/audit/writer.js';
import type { PipelineObserver } from '../../../src/core/observer.js';
import type { AppendResult, AuditHead, AuditLog } from '../../../src/core/store.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { entries, entry } from './fixtures.js';

/** Wraps a log: counts appends, can hold them at a gate or make them fail. */
class Spy implements AuditLog {
  appends: number[] = [];
  gate: Promise<void> | null = null;
  failNext = 0;
  /** Every append fails (the store is down). */
  down = false;
  /** The next appends are written, then fail (the answer was lost). */
  lostAnswers = 0;
  beforeAppend: (() => Promise<void>) | null = null;
  readonly kind = 'spy';
  constructor(readonly inner: AuditLog) {}
  async append(records: readonly AuditRecord[]): Promise<AppendResult> {
    this.appends.push(records.length);
    if (this.gate) await this.gate;
    if (this.beforeAppend) {
      const f = this.beforeAppend;
      this.beforeAppend = null;
      await f();
    }
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('connection reset');
    }
    if (this.down) throw new Error('connection refused');
    if (this.lostAnswers > 0) {
      this.lostAnswers -= 1;
      await this.inner.append(records);
      throw new Error('connection lost before the answer');
    }
    return this.inner.append(records);
  }
  head = () => this.inner.head();
  anchor = () => this.inner.anchor();
  range = (a: number, b: number) => this.inner.range(a, b);
  reverseRange = (a: number, b: number) => this.inner.reverseRange(a, b);
  length = () => this.inner.length();
  trim = (a: number, k?: ReadonlySet<number>) => this.inner.trim(a, k);
  restore = (a: AuditHead, h: readonly AuditRecord[]) => this.inner.restore(a, h);
}

const setup = (maxBatch?: number, opts: AuditWriterOptions = {}) => {
  const store = new MemoryStore();
  const spy = new Spy(store.audit);
  const writer = new AuditWriter(spy, { ...(maxBatch ? { maxBatch } : {}), ...opts });
  return { store, spy, writer };
};

const until = async (what: string, ok: () => Promise<boolean>): Promise<void> => {
  for (let i = 0; i < 500; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`not within 5 s: ${what}`);
};

t.test('entries written in the same tick go in one append, in write order', async (t) => {
  const { store, spy, writer } = setup();
  const es = entries(100);
  const res = await Promise.all(es.map((e) => writer.write(e)));
  t.same(spy.appends, [100], 'one store call');
  t.same(
    res.map((r) => r.seq),
    Array.from({ length: 100 }, (_, i) => i + 1),
  );
  const recs = await store.audit.range(1, 100);
  t.same(
    recs.map((r) => r.eventId),
    es.map((e) => e.eventId),
    'records in write order',
  );
  t.same(
    res.map((r) => r.hash),
    recs.map((r) => r.hash),
  );
  t.equal((await verifyLog(store.audit)).ok, true);
});

t.test('maxBatch splits a burst', async (t) => {
  const { store, spy, writer } = setup(30);
  await Promise.all(entries(100).map((e) => writer.write(e)));
  t.same(spy.appends, [30, 30, 30, 10]);
  t.equal((await verifyLog(store.audit)).records, 100);
});

t.test('a write resolves only once its append is durable; later writes wait and batch', async (t) => {
  const { spy, writer } = setup();
  let open!: () => void;
  spy.gate = new Promise((r) => {
    open = r;
  });
  let resolved = false;
  const p = writer.write(entry()).then((r) => {
    resolved = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 30));
  t.same(spy.appends, [1], 'append started');
  t.equal(resolved, false, 'not resolved while the append is in flight');
  t.equal(writer.pending, 0);
  const later = [writer.write(entry()), writer.write(entry())];
  await new Promise((r) => setTimeout(r, 10));
  t.equal(writer.pending, 2, 'queued behind the in-flight append');
  spy.gate = null;
  open();
  t.equal((await p).seq, 1);
  t.same(
    (await Promise.all(later)).map((r) => r.seq),
    [2, 3],
  );
  t.same(spy.appends, [1, 2]);
});

t.test('a store failure rejects every entry of the batch; the next batch is written', async (t) => {
  const { store, spy, writer } = setup();
  await writer.write(entry());
  spy.failNext = 1;
  const failed = await Promise.allSettled(entries(5).map((e) => writer.write(e)));
  t.ok(
    failed.every(
      (r) => r.status === 'rejected' && /audit store append failed: connection reset/.test(String(r.reason)),
    ),
    'all five rejected',
  );
  const ok = await writer.write(entry());
  t.equal(ok.seq, 2, 'chain continues from the stored head');
  t.equal((await verifyLog(store.audit)).ok, true);
});

t.test('an append conflict (another replica wrote) re-chains and retries', async (t) => {
  const { store, spy, writer } = setup();
  await writer.write(entry());
  // Another writer appends between our head read and our append.
  spy.beforeAppend = async () => {
    const other = chainEntries(await store.audit.head(), entries(3, { sourceAdapter: 'other' }));
    await store.audit.append(other);
  };
  const r = await writer.write(entry({ sourceAdapter: 'me' }));
  t.equal(r.seq, 5, 'after the other replica’s 3 records');
  const v = await verifyLog(store.audit);
  t.match(v, { ok: true, records: 5 });
  t.same(spy.appends, [1, 1, 1]);
});

t.test('two writers on one log produce one valid chain', async (t) => {
  const store = new MemoryStore();
  const w1 = new AuditWriter(store.audit, { maxBatch: 17 });
  const w2 = new AuditWriter(store.audit, { maxBatch: 23 });
  const all: Promise<{ seq: number }>[] = [];
  for (let i = 0; i < 20; i++) {
    for (let j = 0; j < 10; j++) all.push(w1.write(entry()), w2.write(entry()));
    await new Promise((r) => setImmediate(r));
  }
  const seqs = (await Promise.all(all)).map((r) => r.seq).sort((a, b) => a - b);
  t.same(
    seqs,
    Array.from({ length: 400 }, (_, i) => i + 1),
  );
  t.match(await verifyLog(store.audit), { ok: true, records: 400 });
});

t.test('observer: lag and flush timings', async (t) => {
  const lags: number[] = [];
  const flushed: number[] = [];
  const observer: PipelineObserver = {
    decided: () => {},
    queued: () => {},
    auditLag: (n) => lags.push(n),
    auditFlushed: (n, s) => {
      flushed.push(n);
      t.ok(s >= 0);
    },
  };
  const writer = new AuditWriter(new MemoryStore().audit, { observer });
  await Promise.all(entries(3).map((e) => writer.write(e)));
  t.same(flushed, [3]);
  t.same(lags, [1, 2, 3, 0]);
});

t.test('flush and close', async (t) => {
  const { store, writer } = setup();
  const ps = entries(10).map((e) => writer.write(e));
  await writer.flush();
  t.equal(await store.audit.length(), 10, 'flush waits for durability');
  await Promise.all(ps);
  await writer.flush();
  await writer.close();
  await t.rejects(writer.write(entry()), AuditWriterClosedError);
});

t.test(
  'post: chained in order with written entries, nothing to await, a failure does not throw',
  async (t) => {
    const { store, spy, writer } = setup();
    const written = writer.write(entry({ eventId: 'decided' }));
    writer.post(entry({ eventId: 'outcome', category: 'outcome', outcome: 'delivered' }));
    await written;
    await writer.flush();
    t.same(
      (await store.audit.range(1, 10)).map((r) => [r.seq, r.eventId]),
      [
        [1, 'decided'],
        [2, 'outcome'],
      ],
    );
    spy.failNext = 1;
    writer.post(entry({ eventId: 'late' }));
    await writer.flush();
    t.equal(await store.audit.length(), 2, 'the failed batch was not written, and nothing threw');
    t.equal(writer.pending, 1, 'its posted entry is kept');
    await writer.flush();
    t.same(
      (await store.audit.range(1, 10)).map((r) => r.eventId),
      ['decided', 'outcome', 'late'],
      'the next flush tried it again',
    );
    writer.post(entry({ eventId: 'after' }));
    await writer.close();
    writer.post(entry({ eventId: 'closed' }));
    t.match(await verifyLog(store.audit), { ok: true, records: 4 });
  },
);

t.test('posted entries outlive a store outage: kept, then written once the store answers', async (t) => {
  const { store, spy, writer } = setup(undefined, { retryMinMs: 10, retryMaxMs: 40 });
  await writer.write(entry({ eventId: 'before' }));
  spy.down = true;
  for (const id of ['o1', 'o2', 'o3']) writer.post(entry({ eventId: id, category: 'outcome' }));
  await t.rejects(writer.write(entry({ eventId: 'refused' })), /connection refused/, 'a write fails at once');
  await writer.flush();
  t.equal(await store.audit.length(), 1, 'nothing written while the store is down');
  t.equal(writer.pending, 3, 'the posted entries wait');
  t.equal(writer.unwritten, 3, 'none of them durable');
  const attempts = spy.appends.length;
  await new Promise((r) => setTimeout(r, 120));
  t.ok(spy.appends.length > attempts, 'tried again on a timer while down');
  spy.down = false;
  await until('the kept entries written', async () => (await store.audit.length()) === 4);
  t.same(
    (await store.audit.range(1, 10)).map((r) => r.eventId),
    ['before', 'o1', 'o2', 'o3'],
  );
  t.equal(writer.pending, 0);
  t.match(await verifyLog(store.audit), { ok: true, records: 4 });
  await writer.close();
});

t.test('kept entries are re-stamped when written: the trail stays in time order', async (t) => {
  const { store, spy, writer } = setup(undefined, { retryMinMs: 10, retryMaxMs: 20 });
  spy.down = true;
  const old = '2020-01-01T00:00:00.000Z';
  writer.post(entry({ eventId: 'late', category: 'outcome', time: old }));
  await writer.flush();
  const back = new Date().toISOString();
  spy.down = false;
  writer.post(entry({ eventId: 'next', time: new Date().toISOString() }));
  await until('both written', async () => (await store.audit.length()) === 2);
  const records = await store.audit.range(1, 10);
  const late = records.find((r) => r.eventId === 'late');
  t.ok((late?.time ?? old) >= back, `written at ${late?.time}, not at the time it was first posted`);
  const times = records.map((r) => r.time);
  t.same(times, [...times].sort(), 'times follow the chain');
  t.match(await verifyLog(store.audit), { ok: true, records: 2 });
  await writer.close();
});

t.test('a failed append that was written all the same is not written again', async (t) => {
  const { store, spy, writer } = setup(undefined, { retryMinMs: 10 });
  spy.lostAnswers = 1;
  writer.post(entry({ eventId: 'once', category: 'outcome' }));
  await writer.flush();
  await writer.flush();
  const ids = (await store.audit.range(1, 10)).map((r) => r.eventId);
  t.same(ids, ['once'], 'found where it was sent: not appended a second time');
  t.equal(writer.pending, 0);
  await writer.write(entry({ eventId: 'next' }));
  t.match(await verifyLog(store.audit), { ok: true, records: 2 });
  await writer.close();
});

t.test('kept entries are bounded; close drops what the store still refuses', async (t) => {
  const { store, spy, writer } = setup(undefined, { maxRetained: 2, retryMinMs: 5, retryMaxMs: 10 });
  spy.down = true;
  for (let i = 0; i < 5; i++) writer.post(entry({ eventId: `o${i}`, category: 'outcome' }));
  await writer.flush();
  t.equal(writer.pending, 2, 'two kept, three dropped');
  spy.down = false;
  await until('the kept two written', async () => (await store.audit.length()) === 2);
  t.same(
    (await store.audit.range(1, 10)).map((r) => r.eventId),
    ['o0', 'o1'],
  );
  spy.down = true;
  writer.post(entry({ eventId: 'never' }));
  await writer.flush();
  await writer.close();
  t.equal(writer.pending, 0, 'dropped at close');
  spy.down = false;
  await new Promise((r) => setTimeout(r, 50));
  t.equal(await store.audit.length(), 2, 'no retry after close');
});

t.test(
  'maxInFlight: batches are sent while earlier ones are in flight, each chained after the last',
  async (t) => {
    const store = new MemoryStore();
    const spy = new Spy(store.audit);
    const writer = new AuditWriter(spy, { maxInFlight: 3 });
    let open!: () => void;
    spy.gate = new Promise((r) => {
      open = r;
    });
    const tick = () => new Promise((r) => setImmediate(r));
    const written: Promise<{ seq: number }>[] = [];
    for (const n of [2, 3, 1, 4]) {
      for (let i = 0; i < n; i++) written.push(writer.write(entry()));
      await tick();
      await tick();
    }
    t.same(spy.appends, [2, 3, 1], 'three sent before the first was answered');
    t.equal(writer.pending, 4, 'the fourth waits for room');
    spy.gate = null;
    open();
    t.same(
      (await Promise.all(written)).map((r) => r.seq),
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    t.same(spy.appends, [2, 3, 1, 4]);
    t.match(await verifyLog(store.audit), { ok: true, records: 10 });
  },
);

t.test(
  'maxInFlight: a failed batch is rejected; the ones sent after it are re-chained and written',
  async (t) => {
    const store = new MemoryStore();
    const spy = new Spy(store.audit);
    const writer = new AuditWriter(spy, { maxInFlight: 4 });
    await writer.write(entry());
    let open!: () => void;
    spy.gate = new Promise((r) => {
      open = r;
    });
    spy.failNext = 1;
    const first = entries(3).map((e) => writer.write(e));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const second = entries(2).map((e) => writer.write(e));
    await new Promise((r) => setTimeout(r, 10));
    t.same(spy.appends, [1, 3, 2], 'the second batch was sent behind the first');
    spy.gate = null;
    open();
    const a = await Promise.allSettled(first);
    t.ok(
      a.every((r) => r.status === 'rejected' && /connection reset/.test(String(r.reason))),
      'the failed batch is rejected',
    );
    t.same(
      (await Promise.all(second)).map((r) => r.seq),
      [2, 3],
      'the next batch, chained after the failed one, was chained again after the stored head',
    );
    t.match(await verifyLog(store.audit), { ok: true, records: 3 });
  },
);

t.test('maxInFlight: a conflict re-chains every batch in flight; one valid chain', async (t) => {
  const store = new MemoryStore();
  const spy = new Spy(store.audit);
  const writer = new AuditWriter(spy, { maxInFlight: 3, maxBatch: 5 });
  await writer.write(entry());
  spy.beforeAppend = async () => {
    const other = chainEntries(await store.audit.head(), entries(2, { sourceAdapter: 'other' }));
    await store.audit.append(other);
  };
  const mine = await Promise.all(entries(12, { sourceAdapter: 'me' }).map((e) => writer.write(e)));
  t.same(
    mine.map((r) => r.seq),
    Array.from({ length: 12 }, (_, i) => i + 4),
    'after the other writer’s two records',
  );
  t.match(await verifyLog(store.audit), { ok: true, records: 15 });
});

t.test('maxInFlight: two writers on one log produce one valid chain', async (t) => {
  const store = new MemoryStore();
  const w1 = new AuditWriter(store.audit, { maxBatch: 7, maxInFlight: 4 });
  const w2 = new AuditWriter(store.audit, { maxBatch: 11, maxInFlight: 4 });
  const all: Promise<{ seq: number }>[] = [];
  for (let i = 0; i < 20; i++) {
    for (let j = 0; j < 10; j++) all.push(w1.write(entry()), w2.write(entry()));
    await new Promise((r) => setImmediate(r));
  }
  const seqs = (await Promise.all(all)).map((r) => r.seq).sort((a, b) => a - b);
  t.same(
    seqs,
    Array.from({ length: 400 }, (_, i) => i + 1),
  );
  t.match(await verifyLog(store.audit), { ok: true, records: 400 });
});
