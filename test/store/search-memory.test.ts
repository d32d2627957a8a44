// The search contract against the memory store (no search of its own: queryLog scans) and
// against a brute-force search over it (queryLog's indexed path); and the contract's own
// test: a search wrong in any one way fails it.
import t from 'tap';
import { MemoryStore } from '../../src/store/memory.js';
import { referenceSearch, type SearchFlaw, withSearch } from '../fixtures/reference-search.js';
import { CONTRACT_RECORDS, searchContract } from './search-contract.js';
import { GENERATED_FILTERS } from './search-records.js';

const memory = async () => {
  const store = new MemoryStore();
  return { log: store.audit, cleanup: () => store.close() };
};

const scanned = await searchContract(t, 'memory (scan)', memory);

t.test('the contract ran in full against the memory store', async (t) => {
  t.same(
    scanned.filters,
    GENERATED_FILTERS.map(([label]) => label),
    'every generated filter, in order',
  );
  t.ok(scanned.filters.length >= 70, `${scanned.filters.length} filters`);
  for (const label of [
    'everything',
    'user: Matrix ID',
    'q: prefix',
    'q: accents count',
    'refused outcomes in a quarter',
  ])
    t.ok(scanned.filters.includes(label), label);
  t.equal(scanned.fixed.length, 48, 'every hand-written expectation');
  t.equal(scanned.records, CONTRACT_RECORDS);
  t.same(scanned.modes, ['scan'], 'the memory log has no index: every page was a scan');
  t.same(scanned.failures, []);
});

let searches = 0;
const indexed = await searchContract(t, 'memory with a brute-force search', async () => {
  const store = new MemoryStore();
  const search = referenceSearch(store.audit);
  return {
    log: withSearch(store.audit, search),
    cleanup: async () => {
      searches += search.calls;
      await store.close();
    },
  };
});

t.test('the indexed path ran: every page came from the log’s search', async (t) => {
  t.same(indexed.modes, ['index']);
  t.ok(searches > 1000, `${searches} searches`);
  t.same(indexed.failures, []);
  t.equal(indexed.filters.length, scanned.filters.length);
});

t.test('a search wrong in one way fails the contract', async (t) => {
  const flaws: [SearchFlaw, RegExp][] = [
    ['substring', /^hand-written: \{"q":"voice"\}/],
    ['misses-oldest', /^hand-written: \{"user":"ops@corp\.example"\}, pages of 100$/],
    ['short-pages', /a page with a next \(\d+\) has 99 of 100 records/],
    ['next-repeats', /not the smallest seq returned/],
  ];
  for (const [flaw, sign] of flaws) {
    const report = await searchContract(
      t,
      `memory with a search that has the flaw ${flaw}`,
      async () => {
        const store = new MemoryStore();
        return {
          log: withSearch(store.audit, referenceSearch(store.audit, flaw)),
          cleanup: () => store.close(),
        };
      },
      { assert: false },
    );
    t.ok(report.failures.length > 0, `${flaw}: ${report.failures.length} failures`);
    t.ok(
      report.failures.some((f) => sign.test(f)),
      `${flaw}: among them ${sign} (first: ${report.failures[0]})`,
    );
  }
});
