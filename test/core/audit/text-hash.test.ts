// Hashing a record from its JSON text gives hashRecord(JSON.parse(text)) whenever it gives
// anything: over random records in every text form, and over damaged texts.
import fc from 'fast-check';
import t from 'tap';
import { chainEntries, recordJson } from '../../../src/core/audit/chain.js';
import { hashRecord } from '../../../src/core/audit/hash.js';
import type { AuditRecord } from '../../../src/core/audit/record.js';
import { hashRecordText } from '../../../src/core/audit/text-hash.js';
import { arbitraryEntry, entries, entry } from './fixtures.js';

/** Same as the parsed record would give, or null; throws when it would differ. */
function agrees(text: string): boolean {
  const got = hashRecordText(text);
  if (got === null) return true;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`accepted a text that is not JSON: ${text}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new Error(`accepted a text that is not an object: ${text}`);
  const r = parsed as AuditRecord;
  const want = { seq: r.seq, prev: r.prev, hash: r.hash, computed: hashRecord(r) };
  if (JSON.stringify(got) !== JSON.stringify(want))
    throw new Error(`${JSON.stringify(got)} != ${JSON.stringify(want)} for ${text}`);
  return true;
}

t.test('the records a store writes are hashed from their text', async (t) => {
  const recs = chainEntries(null, [
    ...entries(3),
    entry({ content: { mode: 'none' } }),
    entry({ content: { mode: 'hash', sha256: 'ab'.repeat(32) } }),
    entry({
      outcome: 'delivered',
      eventTime: '2026-01-01T00:00:00.000Z',
      transforms: [{ rule: 'r', effect: 'redact', reason: null }],
    }),
    entry({ category: 'admin', actor: 'admin', details: { b: [1, 2.5, null], a: { z: true } } }),
  ]);
  for (const r of recs) {
    const h = hashRecordText(recordJson(r));
    t.same(h, { seq: r.seq, prev: r.prev, hash: r.hash, computed: r.hash }, `record ${r.seq}`);
  }
  // Content with a member more than its mode has: its own canonical encoding.
  const extra = recordJson(recs[0] as AuditRecord).replace(/"body":"([^"]*)"/, '"body":"$1","x":"y"');
  t.ok(agrees(extra));
  t.not(hashRecordText(extra)?.computed, (recs[0] as AuditRecord).hash);
  // Other member orders too (a record re-encoded by another program).
  const r = recs[6] as AuditRecord;
  const reversed = JSON.stringify(Object.fromEntries(Object.entries(r).reverse()));
  t.same(hashRecordText(reversed)?.computed, r.hash);
});

t.test('texts it leaves to the parser', async (t) => {
  const [r] = chainEntries(null, [entry({ content: { mode: 'full', body: 'say "hi"\n' } })]);
  const text = recordJson(r as AuditRecord);
  t.equal(hashRecordText(text), null, 'escapes');
  const plain = recordJson(chainEntries(null, [entry()])[0] as AuditRecord);
  for (const [why, bad] of [
    ['a space', plain.replace(',"prev"', ', "prev"')],
    ['an unknown field', plain.replace('{', '{"extra":1,')],
    ['a field twice', plain.replace('{', '{"kind":"x",')],
    ['seq as text', plain.replace(/"seq":(\d+)/, '"seq":"$1"')],
    ['seq 1.0', plain.replace(/"seq":(\d+)/, '"seq":$1.0')],
    ['no hash', plain.replace(/"hash":"[0-9a-f]+",/, '')],
    ['not closed', plain.slice(0, -1)],
    ['after the end', `${plain} `],
    ['an emoji', plain.replace('corp.example', 'corp.😀')],
    ['an array', '[1,2]'],
  ] as const) {
    t.equal(hashRecordText(bad), null, why);
    t.ok(agrees(bad));
  }
});

t.test('agrees with hashRecord on random records in any text form (property)', async (t) => {
  const str = fc.oneof(
    fc.string(),
    fc.string({ unit: 'grapheme' }),
    fc.constantFrom('', 'a"b', '{x}', '[', ',"seq":1'),
  );
  fc.assert(
    fc.property(
      arbitraryEntry(str),
      fc.integer({ min: 1, max: 2 ** 40 }),
      fc.boolean(),
      (e, seq, reorder) => {
        const r = chainEntries({ seq: seq - 1, hash: 'f'.repeat(64) }, [e])[0] as AuditRecord;
        const text = reorder
          ? JSON.stringify(Object.fromEntries(Object.entries(r).reverse()))
          : recordJson(r);
        return agrees(text);
      },
    ),
    { numRuns: 2000 },
  );
  t.pass('2000 random records');
});

t.test('damaged texts: never a different answer than the parser (property)', async (t) => {
  const texts = chainEntries(null, [
    entry(),
    entry({ content: { mode: 'none' } }),
    entry({ details: { a: [1, { b: 'c' }] }, actor: 'x' }),
  ]).map(recordJson);
  const alphabet = fc.constantFrom(
    '"',
    ',',
    ':',
    '{',
    '}',
    '[',
    ']',
    '0',
    '1',
    '-',
    '.',
    'e',
    'n',
    'x',
    ' ',
    'é',
  );
  fc.assert(
    fc.property(
      fc.constantFrom(...texts),
      fc.array(fc.record({ at: fc.nat(), cut: fc.nat(3), put: fc.array(alphabet, { maxLength: 3 }) }), {
        minLength: 1,
        maxLength: 3,
      }),
      (text, edits) => {
        let s = text;
        for (const e of edits) {
          const i = e.at % (s.length + 1);
          s = s.slice(0, i) + e.put.join('') + s.slice(i + e.cut);
        }
        return agrees(s);
      },
    ),
    { numRuns: 20_000 },
  );
  t.pass('20,000 damaged texts');
});
