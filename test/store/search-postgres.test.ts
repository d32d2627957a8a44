// The search contract against the PostgreSQL archive (a real server from the harness):
// every page from the terms index (GIN) and the columns, re-checked with the reference.
import t from 'tap';
import { PostgresAuditLog } from '../../src/store/postgres/log.js';
import { startPostgres } from '../harness/postgres.js';
import { CONTRACT_RECORDS, searchContract } from './search-contract.js';
import { GENERATED_FILTERS } from './search-records.js';

const pg = await startPostgres({ fast: true });
t.teardown(() => pg.destroy());

let n = 0;
const report = await searchContract(t, 'postgres', async () => {
  n += 1;
  const log = new PostgresAuditLog({ url: pg.url, schema: `search${n}` });
  t.equal(await log.open(), true);
  return { log, cleanup: () => log.close() };
});

t.test('the contract ran in full against the archive', async (t) => {
  t.same(
    report.filters,
    GENERATED_FILTERS.map(([label]) => label),
    'every generated filter, in order',
  );
  t.equal(report.fixed.length, 48, 'every hand-written expectation');
  t.equal(report.records, CONTRACT_RECORDS);
  t.same(report.modes, ['index'], 'every page from the archive’s own search');
  t.same(report.failures, []);
  t.equal(n, 2, 'a fresh log for the hand-written records and one for the generated trail');
});
