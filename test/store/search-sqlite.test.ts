// The search contract against the SQLite store (a file in a temporary folder): every page
// from its FTS5 word index, key index and time index, re-checked with the reference.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { CONTRACT_RECORDS, searchContract } from './search-contract.js';
import { GENERATED_FILTERS } from './search-records.js';

const dir = mkdtempSync(join(tmpdir(), 'parley-search-sqlite-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const report = await searchContract(t, 'sqlite', async () => {
  n += 1;
  const store = new SqliteStore({ path: join(dir, `search${n}.db`) });
  return { log: store.audit, cleanup: () => store.close() };
});

t.test('the contract ran in full against the SQLite store', async (t) => {
  t.same(
    report.filters,
    GENERATED_FILTERS.map(([label]) => label),
    'every generated filter, in order',
  );
  t.equal(report.fixed.length, 48, 'every hand-written expectation');
  t.equal(report.records, CONTRACT_RECORDS);
  t.same(report.modes, ['index'], 'every page from the store’s own search');
  t.same(report.failures, []);
  t.equal(n, 2, 'a fresh log for the hand-written records and one for the generated trail');
});
