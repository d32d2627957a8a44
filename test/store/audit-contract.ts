// The AuditLog contract: every log (each store's, and the PostgreSQL archive) passes these.
// storeContract runs them on a store's log; auditLogContract on a log alone.
import type { Test } from 'tap';
import { chainEntries } from '../../src/core/audit/chain.js';
import type { AuditRecord } from '../../src/core/audit/record.js';
import { verifyLog } from '../../src/core/audit/verify.js';
import type { AuditLog } from '../../src/core/store.js';
import { entries } from '../core/audit/fixtures.js';

export type AuditLogCheck = (log: AuditLog, t: Test) => Promise<void>;

async function appendConflictRanges(log: AuditLog, t: Test): Promise<void> {
  t.equal(await log.head(), null);
  t.equal(await log.anchor(), null);
  t.equal(await log.length(), 0);
  t.same(await log.range(1, 10), []);
  t.same(await log.reverseRange(10, 10), []);
  t.same(await log.append([]), { ok: true });

  const first = chainEntries(null, entries(5));
  t.same(await log.append(first), { ok: true });
  const h5 = { seq: 5, hash: first[4]?.hash };
  t.same(await log.head(), h5);
  t.equal(await log.length(), 5);

  const stale = chainEntries(null, entries(2));
  t.same(await log.append(stale), { ok: false, head: h5 }, 'stale head: conflict with the current head');
  const wrongPrev = chainEntries({ seq: 5, hash: 'f'.repeat(64) }, entries(1));
  t.same(await log.append(wrongPrev), { ok: false, head: h5 }, 'right seq, wrong prev: conflict');
  t.equal(await log.length(), 5, 'nothing written on conflict');

  // Two replicas append after the same head at once: exactly one wins.
  const head = (await log.head()) ?? null;
  const a = chainEntries(head, entries(3));
  const b = chainEntries(head, entries(2));
  const [ra, rb] = await Promise.all([log.append(a), log.append(b)]);
  t.equal([ra, rb].filter((r) => r.ok).length, 1, 'one of two racing appends wins');
  const winner = ra.ok ? a : b;
  const loser = ra.ok ? rb : ra;
  const last = winner[winner.length - 1];
  t.same(loser, { ok: false, head: { seq: last?.seq, hash: last?.hash } });
  t.same(await log.head(), { seq: last?.seq, hash: last?.hash });

  const all = await log.range(1, 100);
  t.same(
    all.map((r) => r.seq),
    Array.from({ length: 5 + winner.length }, (_, i) => i + 1),
  );
  t.same(all.slice(0, 5), first, 'records come back as written');
  t.same(
    (await log.range(3, 2)).map((r) => r.seq),
    [3, 4],
  );
  t.same(
    (await log.reverseRange(4, 2)).map((r) => r.seq),
    [4, 3],
  );
  t.same(
    (await log.reverseRange(1000, 3)).map((r) => r.seq),
    [all.length, all.length - 1, all.length - 2],
  );
  t.same(await log.range(1000, 10), []);
  t.same(await log.reverseRange(0, 10), []);
  t.same((await verifyLog(log)).ok, true);
}

async function trimHoldsAnchor(log: AuditLog, t: Test): Promise<void> {
  const recs = chainEntries(null, entries(10));
  t.same(await log.append(recs), { ok: true });
  t.equal(await log.trim(5, new Set([2])), 3, 'records 1, 3, 4 deleted; 2 held');
  t.same(
    (await log.range(1, 100)).map((r) => r.seq),
    [2, 5, 6, 7, 8, 9, 10],
  );
  t.same(await log.anchor(), { seq: 4, hash: recs[3]?.hash }, 'anchor: the record 5 follows');
  t.equal(await log.length(), 7);
  t.same(await log.head(), { seq: 10, hash: recs[9]?.hash });
  t.same(await verifyLog(log), { ok: true, records: 7, head: { seq: 10, hash: recs[9]?.hash } });
  t.same(
    (await log.reverseRange(6, 10)).map((r) => r.seq),
    [6, 5, 2],
  );

  t.equal(await log.trim(3), 1, 'an earlier cut: the hold lifted, record 2 goes');
  t.same(await log.anchor(), { seq: 4, hash: recs[3]?.hash }, 'anchor never moves back');

  t.equal(await log.trim(1000), 6, 'trim everything');
  t.equal(await log.length(), 0);
  t.same(await log.anchor(), { seq: 10, hash: recs[9]?.hash });
  t.same(await log.head(), { seq: 10, hash: recs[9]?.hash }, 'head is the anchor when all are trimmed');
  t.same(await verifyLog(log), { ok: true, records: 0, head: { seq: 10, hash: recs[9]?.hash } });

  const more = chainEntries(await log.head(), entries(2));
  t.same(await log.append(more), { ok: true }, 'the chain continues after a full trim');
  t.same(
    (await log.range(1, 10)).map((r) => r.seq),
    [11, 12],
  );
  t.equal((await verifyLog(log)).ok, true);
}

async function restoreUnderAnchor(log: AuditLog, t: Test): Promise<void> {
  // A source log trimmed to an anchor at 6 with records 2 and 4 held below it.
  const source = chainEntries(null, entries(9));
  const anchor = { seq: 6, hash: source[5]?.hash as string };
  const held = [source[1], source[3]].filter((r) => r !== undefined);
  await t.rejects(
    log.restore({ seq: 6, hash: 'nothex' }, held),
    /anchor hash/,
    'a bad anchor is refused before anything is written',
  );
  await t.rejects(log.restore(anchor, [source[7]!]), /above the anchor/);
  await log.restore(anchor, held);
  t.same(await log.anchor(), anchor, 'the anchor is the source’s');
  t.same(await log.head(), anchor, 'so is the head: the next append follows it');
  t.equal(await log.length(), 2);
  t.same(await log.range(1, 10), held, 'held records kept as they are');
  const rest = source.slice(6);
  t.same(await log.append(rest), { ok: true }, 'the source’s records above the anchor follow');
  t.same(
    (await log.range(1, 10)).map((r) => r.seq),
    [2, 4, 7, 8, 9],
  );
  t.same(await verifyLog(log), { ok: true, records: 5, head: { seq: 9, hash: source[8]?.hash } });
  await t.rejects(log.restore(anchor, []), /not empty/, 'only into an empty log');
}

/** Each check with its title (storeContract runs them too). */
async function restoreThenAppend(log: AuditLog, t: Test): Promise<void> {
  const recs = chainEntries(null, entries(10));
  const rec = (seq: number) => recs[seq - 1] as AuditRecord;
  const anchor = { seq: 8, hash: rec(8).hash };
  // Held below the anchor: 2 and 5, and 8 (the anchor's own record, held too).
  const held = [rec(2), rec(5), rec(8)];
  await log.restore(anchor, held);
  t.same(await log.head(), anchor, 'the head is the anchor');
  t.same(await log.anchor(), anchor);
  t.equal(await log.length(), 3);
  t.same(await log.range(1, 10), held, 'the held records as given');
  t.same(
    (await log.reverseRange(100, 10)).map((r) => r.seq),
    [8, 5, 2],
  );
  t.same(await verifyLog(log), { ok: true, records: 3, head: anchor }, 'verifies against the anchor');

  t.same(await log.append(chainEntries(null, entries(1))), { ok: false, head: anchor }, 'not from genesis');
  t.same(await log.append(recs.slice(8)), { ok: true }, "the source's next records follow the anchor");
  const more = chainEntries(await log.head(), entries(2));
  t.same(await log.append(more), { ok: true }, 'and new ones after them');
  t.same(await verifyLog(log), { ok: true, records: 7, head: { seq: 12, hash: more[1]?.hash } });
  t.same(
    (await log.range(1, 100)).map((r) => r.seq),
    [2, 5, 8, 9, 10, 11, 12],
  );
  await t.rejects(log.restore(anchor, []), /not empty/, 'a second restore is refused');
  t.same(await log.head(), { seq: 12, hash: more[1]?.hash }, 'and changes nothing');
}

async function restoreRefusals(log: AuditLog, t: Test): Promise<void> {
  const recs = chainEntries(null, entries(6));
  const rec = (seq: number) => recs[seq - 1] as AuditRecord;
  const anchor = { seq: 4, hash: rec(4).hash };
  await t.rejects(log.restore(anchor, [rec(5)]), /held record 5 is above the anchor 4/);
  await t.rejects(log.restore(anchor, [rec(3), rec(1)]), /held record 1 is out of order/);
  await t.rejects(log.restore(anchor, [rec(2), rec(2)]), /held record 2 is out of order/);
  await t.rejects(log.restore({ seq: 0, hash: rec(1).hash }, []), /anchor seq 0/);
  await t.rejects(log.restore({ seq: 4, hash: 'not a hash' }, []), /anchor hash/);
  t.equal(await log.head(), null, 'nothing written');
  t.equal(await log.anchor(), null);
  t.equal(await log.length(), 0);

  t.same(await log.append(recs), { ok: true });
  await t.rejects(log.restore(anchor, [rec(2)]), /not empty/, 'a log with records');
  t.same(await log.head(), { seq: 6, hash: rec(6).hash }, 'unchanged');
  t.equal(await log.anchor(), null);
  t.equal(await log.length(), 6);
  t.equal((await verifyLog(log)).ok, true);
}

export const auditLogChecks: ReadonlyArray<readonly [string, AuditLogCheck]> = [
  ['audit log: append, conflict, head, ranges', appendConflictRanges],
  ['audit log: trim keeps held records and an anchor; the chain stays verifiable', trimHoldsAnchor],
  ['audit log: restore into an empty log under a trimmed source’s anchor', restoreUnderAnchor],
  ["audit restore: a trimmed source's anchor and holds, then the chain goes on", restoreThenAppend],
  ['audit restore: refused into a log with records, and with bad held records', restoreRefusals],
];

export interface AuditLogUnderTest {
  log: AuditLog;
  cleanup(): Promise<void>;
}

/** Every check, each on a fresh log from `makeLog`. */
export function auditLogContract(
  t: Test,
  name: string,
  makeLog: () => Promise<AuditLogUnderTest>,
): Promise<void> {
  return t.test(`${name} audit log contract`, async (t) => {
    for (const [title, check] of auditLogChecks) {
      await t.test(title, async (t) => {
        const { log, cleanup } = await makeLog();
        try {
          await check(log, t);
        } finally {
          await cleanup();
        }
      });
    }
  }) as unknown as Promise<void>;
}
