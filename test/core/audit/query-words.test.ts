// The full-text filter `q` matches words (docs/compliance.md, "Searching"): the reference
// predicate every store's search must agree with, and queryLog's choice between a log's
// own search and the scan.
import t from 'tap';
import { chainEntries } from '../../../src/core/audit/chain.js';
import { matchesFilter, queryLog, queryWords, wordsOf } from '../../../src/core/audit/query.js';
import type { AuditRecord } from '../../../src/core/audit/record.js';
import type { AuditFilter } from '../../../src/core/audit/types.js';
import type { AuditLog } from '../../../src/core/store.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { entry } from './fixtures.js';

t.test('wordsOf: runs of letters and digits, lower-cased, no accent folding', async (t) => {
  t.same(wordsOf('Hello, World!'), ['hello', 'world']);
  t.same(wordsOf('Ünïcode-Text, 2026!'), ['ünïcode', 'text', '2026']);
  t.same(wordsOf('e-mail: bob@corp.example'), ['e', 'mail', 'bob', 'corp', 'example']);
  t.same(wordsOf('ΑΘΗΝΑ Москва 東京タワー'), ['αθηνα', 'москва', '東京タワー']);
  t.same(wordsOf('café cafe'), ['café', 'cafe'], 'an accent makes another word');
  t.same(wordsOf('cafe\u0301'), ['cafe'], 'a combining accent is no letter: it ends the word');
  t.same(wordsOf('٣ apples'), ['٣', 'apples'], 'digits of any script');
  t.same(wordsOf('  \n\t!?'), []);
  t.same(wordsOf('a a'), ['a', 'a'], 'repeats kept');
});

t.test('queryWords: prefixes marked, repeats dropped, no words = no filter', async (t) => {
  t.same(queryWords('Invoic* paid'), [
    { word: 'invoic', prefix: true },
    { word: 'paid', prefix: false },
  ]);
  t.same(queryWords('paid PAID paid*'), [
    { word: 'paid', prefix: false },
    { word: 'paid', prefix: true },
  ]);
  t.same(queryWords('foo*bar'), [
    { word: 'foo', prefix: true },
    { word: 'bar', prefix: false },
  ]);
  t.same(queryWords('* !! --'), []);
  t.same(queryWords('"quoted phrase"'), [
    { word: 'quoted', prefix: false },
    { word: 'phrase', prefix: false },
  ]);
});

const make = (body: string | null): AuditRecord => {
  const content: AuditRecord['content'] = body === null ? { mode: 'none' } : { mode: 'full', body };
  return chainEntries(null, [entry({ content })])[0] as AuditRecord;
};

t.test('q: every word must be a word of the content', async (t) => {
  const r = make('Invoice #4711 is PAID; see the café menu (Größe: XL).');
  const yes = [
    'invoice',
    'INVOICE 4711',
    'paid invoice',
    'café',
    'größe xl',
    'Invoic*',
    'inv* pa*',
    'c*',
    '4*',
  ];
  const no = ['invoic', 'voice', 'cafe', 'grosse', 'invoice unpaid', 'paid*x', 'menus', 'is-not'];
  for (const q of yes) t.ok(matchesFilter(r, { q }), `"${q}" matches`);
  for (const q of no) t.notOk(matchesFilter(r, { q }), `"${q}" does not match`);
  t.notOk(matchesFilter(r, { q: 'is not' }), 'both words needed');
  t.ok(matchesFilter(make('is not'), { q: 'is-not' }), 'punctuation in q separates words too');
  t.ok(matchesFilter(make('nothing here'), { q: '!!' }), 'a q without words filters nothing');
  t.ok(matchesFilter(make(null), { q: '!!' }), 'not even on content mode');
  t.notOk(matchesFilter(make(null), { q: 'x' }), 'content not kept never matches a word');
  t.notOk(matchesFilter(make(''), { q: 'x' }));
});

/** A log whose own search says what it was asked, and answers from a fixed page. */
function searchingLog(inner: AuditLog, page: AuditRecord[]) {
  const asked: { filter: AuditFilter; before: number | null; limit: number }[] = [];
  const log: AuditLog = Object.assign(Object.create(inner) as AuditLog, {
    search: async (filter: AuditFilter, before: number | null, limit: number) => {
      asked.push({ filter, before, limit });
      return { records: page, next: 7 };
    },
  });
  return { log, asked };
}

t.test('queryLog uses the log’s own search when there is one', async (t) => {
  const store = new MemoryStore();
  t.teardown(() => store.close());
  const recs = chainEntries(
    null,
    Array.from({ length: 10 }, () => entry()),
  );
  await store.audit.append(recs);
  const page = [recs[9] as AuditRecord, recs[8] as AuditRecord];
  const { log, asked } = searchingLog(store.audit, page);
  const r = await queryLog(log, { q: 'x' }, 12, 2, { maxScan: 1 });
  t.same(asked, [{ filter: { q: 'x' }, before: 12, limit: 2 }], 'asked once, as given');
  t.same(r, { records: page, next: 7, search: { mode: 'index' } }, 'its answer, said to be indexed');
  await t.rejects(queryLog(log, { from: 'soon' }, null, 2), RangeError, 'a bad filter fails before it');
  t.equal(asked.length, 1);
  const scanned = await queryLog(store.audit, {}, null, 2);
  t.same(scanned.search, { mode: 'scan', scanned: 2, total: 10, capped: false }, 'no search: a scan');
});
