// GET /api/v1/audit over a real gateway: keyset pages newest first, the response saying
// how each page was found (a capped scan on a store without an index, the log's own search
// when it has one), `q` matching words, and every content search recorded in the trail.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfig } from '../../src/config.js';
import { chainEntries } from '../../src/core/audit/chain.js';
import { DEFAULT_MAX_SCAN } from '../../src/core/audit/query.js';
import type { AuditEntry, AuditRecord } from '../../src/core/audit/record.js';
import type { AuditLog } from '../../src/core/store.js';
import { startGateway } from '../../src/gateway.js';
import type { AuditPage } from '../../src/http/services.js';
import { createLogger } from '../../src/log.js';
import { entry } from '../core/audit/fixtures.js';
import { referenceSearch } from '../fixtures/reference-search.js';

const AUDITOR = 'auditor-token-search-0123456789';

async function gateway(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'parley-audit-search-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const text = [
    'store: { memory: true }',
    'http:',
    '  listen: "127.0.0.1:0"',
    `  tokens: { auditor: "${AUDITOR}" }`,
    `policy: { file: ${join(process.cwd(), 'policies/default.yaml')} }`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'parley.yaml'), text);
  const gw = await startGateway(parseConfig(text, join(dir, 'parley.yaml'), {}), {
    logger: createLogger({ level: 'silent' }),
  });
  t.teardown(() => gw.stop());
  const get = async (qs: string): Promise<AuditPage> => {
    const res = await fetch(`${gw.url}/api/v1/audit?${qs}`, {
      headers: { authorization: `Bearer ${AUDITOR}` },
    });
    t.equal(res.status, 200, qs);
    return (await res.json()) as AuditPage;
  };
  return { gw, get };
}

/** Append entries after whatever the gateway wrote, re-chaining when it wrote meanwhile. */
async function fill(log: AuditLog, entries: AuditEntry[]): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (let i = 0; i < entries.length; ) {
    const records = chainEntries(await log.head(), entries.slice(i, i + 2000));
    if ((await log.append(records)).ok) {
      out.push(...records);
      i += records.length;
    }
  }
  return out;
}

const NEEDLES = new Set([10, 30_010, 50_010]);
const trail = (n: number): AuditEntry[] =>
  Array.from({ length: n }, (_, i) =>
    entry({
      content: {
        mode: 'full',
        body: NEEDLES.has(i) ? `The NEEDLE, in record ${i}.` : `needles and pins ${i}`,
      },
      decision: i % 7 === 0 ? 'deny' : 'allow',
    }),
  );

const searchRecords = async (get: (qs: string) => Promise<AuditPage>) =>
  (await get('category=admin&kind=audit.search&limit=1000')).records.map((r) => r.details);

t.test('a store without an index: a capped scan, said so, continued with next', async (t) => {
  const { gw, get } = await gateway(t);
  const written = await fill(gw.store.audit, trail(60_000));
  const needles = written.filter((r) => r.content.mode === 'full' && r.content.body.startsWith('The NEEDLE'));
  t.equal(needles.length, 3);

  const first = await get('q=needle&limit=10');
  const head = (await gw.store.audit.head())?.seq ?? 0;
  t.same(
    first.search,
    { mode: 'scan', scanned: DEFAULT_MAX_SCAN, total: await gw.store.audit.length(), capped: true },
    'a scan that stopped at its cap, with how many of how many records it read',
  );
  t.equal(first.next, head - DEFAULT_MAX_SCAN + 1, 'next: where the scan stopped');
  const cut = first.next ?? 0;
  t.same(
    first.records.map((r) => r.seq),
    needles
      .filter((r) => r.seq >= cut)
      .map((r) => r.seq)
      .reverse(),
    'the needles among the records it read, newest first: "needles" is another word',
  );
  const second = await get(`q=needle&limit=10&before=${first.next}`);
  t.match(second.search, { mode: 'scan', capped: false }, 'read to the start');
  t.equal(second.next, null);
  t.same(
    [...first.records, ...second.records].map((r) => r.seq),
    needles.map((r) => r.seq).reverse(),
    'the two pages: every needle once',
  );
  t.same(
    await searchRecords(get),
    [{ filter: { q: 'needle' }, before: first.next }, { filter: { q: 'needle' } }],
    'both pages recorded as content searches (newest first), the second with its cursor',
  );

  const plain = await get('decision=deny&limit=5');
  t.match(plain.search, { mode: 'scan', capped: false }, 'a filter without q: a scan, not capped');
  t.ok((plain.search as { scanned: number }).scanned < 100, 'that read only as far as it needed');
});

t.test('a store with its own search: every page from the index, none capped', async (t) => {
  const { gw, get } = await gateway(t);
  const written = await fill(gw.store.audit, trail(60_000));
  const search = referenceSearch(gw.store.audit);
  Object.assign(gw.store.audit, { search });

  const all = await get('q=needle&limit=10');
  t.same(all.search, { mode: 'index' }, 'said to be indexed');
  t.same(
    all.records.map((r) => r.content.mode === 'full' && r.content.body),
    ['The NEEDLE, in record 50010.', 'The NEEDLE, in record 30010.', 'The NEEDLE, in record 10.'],
    'all three, the oldest 60,000 records back: no cap',
  );
  t.equal(all.next, null);
  t.ok(search.calls >= 1, 'the log’s search answered');

  // Keyset pages of one record: the same three, then the end.
  const seen: number[] = [];
  let before: number | null = null;
  for (let i = 0; i < 5; i++) {
    const page: AuditPage = await get(`q=needle&limit=1${before === null ? '' : `&before=${before}`}`);
    t.same(page.search, { mode: 'index' });
    seen.push(...page.records.map((r) => r.seq));
    if (page.next === null) break;
    before = page.next;
  }
  t.same(
    seen,
    all.records.map((r) => r.seq),
    'pages of one: the same records, in order',
  );
  t.equal((await get('q=needl*&limit=10')).records.length, 10, 'a prefix: needle and needles alike');
  t.same((await get('q=%21%21&limit=3')).records.length, 3, 'a q without words filters nothing');

  // New records appended between two pages do not shift the second page.
  const p1 = await get('decision=deny&limit=3');
  await fill(gw.store.audit, [entry({ decision: 'deny' }), entry({ decision: 'deny' })]);
  const p2 = await get(`decision=deny&limit=3&before=${p1.next}`);
  const denies = written.filter((r) => r.decision === 'deny').map((r) => r.seq);
  t.same(
    [...p1.records, ...p2.records].map((r) => r.seq),
    denies.slice(-6).reverse(),
    'two pages: the six newest denies before the new ones, none twice',
  );
  const fresh = await get('decision=deny&limit=2');
  t.ok(
    fresh.records.every((r) => r.seq > (written.at(-1)?.seq ?? 0)),
    'a new first page shows the new records',
  );
});
