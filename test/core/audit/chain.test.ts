// chainEntries encodes each record once for two texts: the canonical encoding it hashes and
// the JSON text a store keeps (recordJson), which must be JSON.stringify's, byte for byte.
import fc from 'fast-check';
import t from 'tap';
import { chainEntries, recordJson } from '../../../src/core/audit/chain.js';
import { canonicalEntryRecord, hashRecord, sha256Hex } from '../../../src/core/audit/hash.js';
import type { AuditEntry, AuditRecord } from '../../../src/core/audit/record.js';
import { arbitraryEntry, entry } from './fixtures.js';

const text = fc.string({ unit: 'binary', maxLength: 40 });
// Values of few distinct strings, as rules, kinds and adapters are in practice.
const few = fc.constantFrom('allow', 'partners-talk', 'corp', 'xmpp', 'say "hi"', 'é\u2028', '\ud800');
const str = fc.oneof(text, few);
const arbEntry = arbitraryEntry(str, text);

t.test(
  'a chained record: its JSON text is JSON.stringify of it, its hash the canonical one (property)',
  async (t) => {
    fc.assert(
      fc.property(
        fc.array(arbEntry, { minLength: 1, maxLength: 5 }),
        fc.option(fc.record({ seq: fc.integer({ min: 0, max: 2 ** 40 }), hash: text }), { nil: null }),
        (entries, head) => {
          const records = chainEntries(head, entries);
          return records.every((r, i) => {
            const e = entries[i] as AuditEntry;
            return (
              recordJson(r) === JSON.stringify(r) &&
              r.hash === hashRecord(r) &&
              r.hash === sha256Hex(canonicalEntryRecord(e, r.seq, r.prev))
            );
          });
        },
      ),
      { numRuns: 1000 },
    );
    t.pass('1000 random batches');
  },
);

t.test('the JSON text of a record with members in an unusual order or unknown members', async (t) => {
  // An entry built with its keys in another order, with members that are not record fields.
  const {
    targetAdapter,
    content: _content,
    category: _category,
    ...rest
  } = entry({
    details: { z: 1, a: [2, { y: 3, b: 4 }] },
    transforms: [{ rule: 'r', effect: 'x', reason: null }],
  });
  const e = {
    targetAdapter,
    content: { body: 'b', mode: 'full' as const },
    category: 'admin' as const,
    extra: 'not a field',
    ...rest,
  } as AuditEntry;
  const [r] = chainEntries(null, [e]);
  if (!r) throw new Error('no record');
  t.equal(recordJson(r), JSON.stringify(r));
  t.notOk('extra' in r, 'an unknown member is not carried');
  t.equal(r.hash, hashRecord(r));
});

t.test('a copy of a record, changed, is written as changed', async (t) => {
  const [r] = chainEntries(null, [entry()]);
  if (!r) throw new Error('no record');
  const edited: AuditRecord = { ...r, decision: 'deny' };
  t.equal(recordJson(edited), JSON.stringify(edited));
  t.match(recordJson(edited), /"decision":"deny"/);
  t.equal(recordJson(r), JSON.stringify(r), 'the original keeps its text');
  t.throws(
    () => {
      (r as { decision: string }).decision = 'deny';
    },
    TypeError,
    'a chained record cannot be changed in place',
  );
});

t.test('fields with many distinct values encode as well as the few', async (t) => {
  // More distinct rules, reasons and adapters than the writer keeps encoded.
  const entries = Array.from({ length: 700 }, (_, i) =>
    entry({
      rule: `rule-${i}`,
      reason: i % 2 ? `reason "${i}"` : null,
      sourceAdapter: `a${i % 300}`,
      outcomeReason: `x`.repeat(i),
    }),
  );
  for (let round = 0; round < 2; round++) {
    const records = chainEntries(null, entries);
    t.ok(
      records.every((r) => recordJson(r) === JSON.stringify(r) && r.hash === hashRecord(r)),
      `round ${round + 1}: every record encodes as JSON.stringify and the canonical encoding`,
    );
  }
});

t.test('a head whose seq is not an integer is refused, not encoded', async (t) => {
  for (const seq of [Number.NaN, 1.5, Number.POSITIVE_INFINITY]) {
    t.throws(() => chainEntries({ seq, hash: 'h' }, [entry()]), /cannot chain after seq/, String(seq));
  }
});
