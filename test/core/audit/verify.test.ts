import t from 'tap';
import { chainEntries } from '../../../src/core/audit/chain.js';
import { hashRecord } from '../../../src/core/audit/hash.js';
import type { AuditRecord } from '../../../src/core/audit/record.js';
import { verifyLog, verifyRecords } from '../../../src/core/audit/verify.js';
import type { AppendResult, AuditHead, AuditLog } from '../../../src/core/store.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { entries, entry } from './fixtures.js';

/** A log over a plain array whose head is kept apart from the records, as the stores do. */
class ArrayLog implements AuditLog {
  readonly kind = 'array';
  constructor(
    public records: AuditRecord[],
    public headMark: AuditHead | null,
    public anchorMark: AuditHead | null = null,
  ) {}
  static of(records: AuditRecord[]): ArrayLog {
    const last = records[records.length - 1];
    return new ArrayLog(records, last ? { seq: last.seq, hash: last.hash } : null);
  }
  async append(): Promise<AppendResult> {
    throw new Error('read only');
  }
  async head() {
    return this.headMark;
  }
  async anchor() {
    return this.anchorMark;
  }
  async range(fromSeq: number, limit: number) {
    // Storage order, as a stream would give it.
    const i = this.records.findIndex((r) => r.seq >= fromSeq);
    return i < 0 ? [] : this.records.slice(i, i + limit);
  }
  async reverseRange(beforeSeq: number, limit: number) {
    return this.records
      .filter((r) => r.seq <= beforeSeq)
      .reverse()
      .slice(0, limit);
  }
  async length() {
    return this.records.length;
  }
  async trim(): Promise<number> {
    return 0;
  }
  async restore(): Promise<void> {
    throw new Error('read only');
  }
}

const fresh = (n = 100) => chainEntries(null, entries(n));

t.test('an intact chain verifies (small pages too)', async (t) => {
  const recs = fresh();
  const last = recs[99] as AuditRecord;
  t.same(await verifyLog(ArrayLog.of(recs), { pageSize: 7 }), {
    ok: true,
    records: 100,
    head: { seq: 100, hash: last.hash },
  });
  t.same(await verifyRecords(recs, null), { ok: true, records: 100, head: { seq: 100, hash: last.hash } });
  t.same(await verifyLog(ArrayLog.of([])), { ok: true, records: 0, head: null });
});

t.test('an edited record is named (hash mismatch)', async (t) => {
  const recs = fresh();
  recs[41] = { ...(recs[41] as AuditRecord), decision: 'deny' };
  const v = await verifyLog(ArrayLog.of(recs));
  t.match(v, { ok: false, firstBad: 42, problem: /hash mismatch.*edited/ });
});

t.test('an edited record with a recomputed hash breaks the link to the next one', async (t) => {
  const recs = fresh();
  const edited = { ...(recs[41] as AuditRecord), content: { mode: 'full' as const, body: 'forged' } };
  edited.hash = hashRecord(edited);
  recs[41] = edited;
  const v = await verifyLog(ArrayLog.of(recs));
  t.match(v, { ok: false, firstBad: 43, problem: /prev mismatch: does not follow record 42/ });
});

t.test('a record deleted in the middle is named', async (t) => {
  const recs = fresh();
  recs.splice(41, 1);
  t.match(await verifyLog(ArrayLog.of(recs)), { ok: false, firstBad: 42, problem: /record 42 missing/ });
  const more = fresh();
  more.splice(9, 3);
  t.match(await verifyLog(ArrayLog.of(more)), {
    ok: false,
    firstBad: 10,
    problem: /record 10\.\.12 missing/,
  });
});

t.test('the first record deleted is named', async (t) => {
  const recs = fresh();
  recs.shift();
  t.match(await verifyLog(ArrayLog.of(recs)), { ok: false, firstBad: 1, problem: /record 1 missing/ });
});

t.test('a truncated tail shows against the separately kept head', async (t) => {
  const recs = fresh();
  const log = ArrayLog.of(recs);
  log.records = recs.slice(0, 95);
  t.match(await verifyLog(log), {
    ok: false,
    firstBad: 96,
    problem: /truncated: records 96\.\.100 missing at the end \(head is 100\)/,
  });
  log.records = [];
  t.match(await verifyLog(log), { ok: false, firstBad: 1, problem: /truncated/ });
  // Without a head there is nothing to compare: records without a head marker are flagged.
  const noHead = new ArrayLog(recs, null);
  t.match(await verifyLog(noHead), { ok: false, problem: /no head marker/ });
});

t.test('a head rewritten after truncation is caught by a known head kept elsewhere', async (t) => {
  const recs = fresh();
  const known = { seq: 100, hash: (recs[99] as AuditRecord).hash };
  const log = ArrayLog.of(recs.slice(0, 90));
  t.equal((await verifyLog(log)).ok, true, 'consistent on its own');
  t.match(await verifyLog(log, { knownHead: known }), { ok: false, firstBad: 91, problem: /known head 100/ });
  const forged = ArrayLog.of(fresh());
  t.match(await verifyLog(forged, { knownHead: { seq: 50, hash: known.hash } }), {
    ok: false,
    firstBad: 50,
    problem: /known head/,
  });
});

t.test('reordered records are named', async (t) => {
  const recs = fresh();
  const a = recs[50] as AuditRecord;
  recs[50] = recs[51] as AuditRecord;
  recs[51] = a;
  t.match(await verifyLog(ArrayLog.of(recs)), {
    ok: false,
    firstBad: 51,
    problem: /record 51 missing \(deleted or moved\)/,
  });
  t.match(await verifyRecords([recs[0] as AuditRecord, recs[2] as AuditRecord, recs[1] as AuditRecord]), {
    ok: false,
  });
  const swapped = fresh(5);
  t.match(await verifyRecords([swapped[0], swapped[2], swapped[1]] as AuditRecord[]), {
    ok: false,
    firstBad: 2,
  });
  const back = fresh(5);
  t.match(await verifyRecords([back[0], back[1], back[1]] as AuditRecord[]), {
    ok: false,
    firstBad: 2,
    problem: /out of order/,
  });
});

t.test('a forged genesis shows', async (t) => {
  const recs = fresh(3);
  const r = { ...(recs[0] as AuditRecord), prev: 'a'.repeat(64) };
  r.hash = hashRecord(r);
  t.match(await verifyRecords([r]), { ok: false, firstBad: 1, problem: /genesis/ });
});

t.test('after a trim the chain starts at the anchor', async (t) => {
  const store = new MemoryStore();
  const recs = fresh(20);
  await store.audit.append(recs);
  await store.audit.trim(11, new Set([3, 4]));
  t.same(await verifyLog(store.audit), {
    ok: true,
    records: 12,
    head: { seq: 20, hash: (recs[19] as AuditRecord).hash },
  });
  // Without the anchor the first kept record does not follow the genesis.
  const anchorless = new ArrayLog(await store.audit.range(1, 100), await store.audit.head(), null);
  t.match(await verifyLog(anchorless), { ok: false });
  // A wrong anchor shows.
  const wrongAnchor = new ArrayLog(await store.audit.range(1, 100), await store.audit.head(), {
    seq: 10,
    hash: 'b'.repeat(64),
  });
  t.match(await verifyLog(wrongAnchor), { ok: false, firstBad: 11, problem: /trim anchor/ });
  // An edited held record shows.
  const held = await store.audit.range(1, 100);
  held[0] = { ...(held[0] as AuditRecord), to: 'sip:mallory@evil.example' };
  const edited = new ArrayLog(held, await store.audit.head(), await store.audit.anchor());
  t.match(await verifyLog(edited), { ok: false, firstBad: 3, problem: /hash mismatch/ });
  await store.close();
});

t.test('verifyLog reads only up to the head it saw first', async (t) => {
  const recs = fresh(10);
  const log = new ArrayLog(recs, { seq: 5, hash: (recs[4] as AuditRecord).hash });
  t.same(await verifyLog(log), {
    ok: true,
    records: 5,
    head: { seq: 5, hash: (recs[4] as AuditRecord).hash },
  });
});

t.test('verify runs in constant memory over an async stream', async (t) => {
  async function* gen() {
    let head: AuditHead | null = null;
    for (let i = 0; i < 50; i++) {
      const batch = chainEntries(head, entries(200));
      for (const r of batch) yield r;
      const last = batch[batch.length - 1] as AuditRecord;
      head = { seq: last.seq, hash: last.hash };
    }
  }
  const v = await verifyRecords(gen(), null);
  t.match(v, { ok: true, records: 10_000 });
});

t.test('a chain of records written before the new fields, then with them, verifies', async (t) => {
  // Records of the previous release have no eventTime, transforms, outcome, outcomeReason.
  const old = chainEntries(null, entries(3));
  t.notOk(old.some((r) => 'outcome' in r || 'eventTime' in r || 'transforms' in r));
  const last = old[2] as AuditRecord;
  const later = chainEntries({ seq: last.seq, hash: last.hash }, [
    entry({
      eventId: 'e',
      eventTime: '2026-12-01T10:00:00.000Z',
      decision: 'redact',
      transforms: [{ rule: 'cards', effect: 'redact', reason: null }],
      outcome: 'pending',
    }),
    entry({ eventId: 'e', category: 'outcome', outcome: 'refused', outcomeReason: '404 Not Found' }),
  ]);
  const all = [...old, ...later];
  t.match(await verifyRecords(all, null), { ok: true, records: 5 });
  const edited = all.map((r) => (r.seq === 5 ? { ...r, outcome: 'delivered' as const } : r));
  t.match(await verifyRecords(edited, null), { ok: false, firstBad: 5 }, 'an edited outcome shows');
  const stripped = all.map((r) => {
    if (r.seq !== 4) return r;
    const { transforms: _t, ...rest } = r;
    return rest;
  });
  t.match(await verifyRecords(stripped, null), { ok: false, firstBad: 4 }, 'removed transforms show');
});

t.test('a log trimmed to its held records verifies against its anchor', async (t) => {
  const store = new MemoryStore();
  const recs = fresh(20);
  await store.audit.append(recs);
  await store.audit.trim(1000, new Set([5, 6]));
  const last = recs[19] as AuditRecord;
  t.same(await verifyLog(store.audit), { ok: true, records: 2, head: { seq: 20, hash: last.hash } });
  // The records after the anchor deleted, the holds left: the chain ends at the anchor.
  const cut = new ArrayLog(
    await store.audit.range(1, 100),
    { seq: 25, hash: 'e'.repeat(64) },
    {
      seq: 20,
      hash: last.hash,
    },
  );
  t.match(await verifyLog(cut), { ok: false, firstBad: 21, problem: /records 21\.\.25 missing/ });
  await store.close();
});
