import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { auditCommand } from '../../src/cli/audit.js';
import type { CliIO } from '../../src/cli/io.js';
import type { AuditRecord } from '../../src/core/audit/record.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { MemoryStore } from '../../src/store/memory.js';
import { entry } from '../core/audit/fixtures.js';
import { tamperRecord, truncateRecords } from '../fixtures/tamper.js';

function io(cwd = process.cwd()) {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIO = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), cwd, env: {} };
  return { cli, out: () => out.join(''), err: () => err.join('') };
}

/** A store the command may close without losing the data (tests reuse it). */
function keep(store: MemoryStore) {
  return async () => Object.assign(Object.create(store) as MemoryStore, { close: async () => {} });
}

async function filled(n = 20) {
  const store = new MemoryStore();
  const w = new AuditWriter(store.audit);
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      w.write(
        entry({
          decision: i % 4 === 0 ? 'deny' : 'allow',
          from: i % 2 ? 'xmpp:alice@corp.example' : 'matrix:u/bob:hs.example',
          time: new Date(Date.UTC(2026, 0, 1 + i)).toISOString(),
          content: { mode: 'full', body: i === 3 ? '=cmd|calc' : `m${i}` },
        }),
      ),
    ),
  );
  return store;
}

t.test('verify: intact', async (t) => {
  const store = await filled();
  const x = io();
  t.equal(await auditCommand(['verify'], x.cli, keep(store)), 0);
  t.match(x.out(), /^audit chain intact: 20 records verified, head 20 [0-9a-f]{64}\n$/);
  const j = io();
  t.equal(await auditCommand(['verify', '--json'], j.cli, keep(store)), 0);
  t.match(JSON.parse(j.out()), { ok: true, records: 20 });
});

t.test('verify: broken names the first bad record', async (t) => {
  const store = await filled();
  tamperRecord(store.audit, 12, (r) => ({ ...r, decision: 'allow', reason: 'tampered' }));
  const x = io();
  t.equal(await auditCommand(['verify'], x.cli, keep(store)), 1);
  t.match(x.out(), /^audit chain broken at record 12: hash mismatch/);
  const y = io();
  truncateRecords(store.audit, 11);
  t.equal(await auditCommand(['verify'], y.cli, keep(store)), 1);
  t.match(y.out(), /audit chain broken at record 12: truncated/);
});

t.test('verify --known-head', async (t) => {
  const store = await filled(5);
  const x = io();
  t.equal(await auditCommand(['verify', '--known-head', `7:${'a'.repeat(64)}`], x.cli, keep(store)), 1);
  t.match(x.out(), /broken at record 6: truncated: the log ends before the known head 7/);
  const bad = io();
  t.equal(await auditCommand(['verify', '--known-head', 'nope'], bad.cli, keep(store)), 2);
  t.match(bad.err(), /SEQ:HASH/);
});

t.test('export: formats, filters, --out', async (t) => {
  const store = await filled();
  const j = io();
  t.equal(await auditCommand(['export', '--format', 'jsonl', '--decision', 'deny'], j.cli, keep(store)), 0);
  const lines = j.out().trim().split('\n');
  t.equal(lines.length, 5);
  t.ok(lines.every((l) => (JSON.parse(l) as AuditRecord).decision === 'deny'));

  const c = io();
  t.equal(
    await auditCommand(
      [
        'export',
        '--format',
        'csv',
        '--from',
        '2026-01-02',
        '--to',
        '2026-01-05T00:00:00Z',
        '--user',
        'alice@corp.example',
      ],
      c.cli,
      keep(store),
    ),
    0,
  );
  const rows = c.out().trim().split('\r\n');
  t.equal(rows.length, 3, 'header + records 2 and 4');
  t.match(rows[2], /^4,.*'=cmd\|calc/);

  const dir = await mkdtemp(join(tmpdir(), 'parley-audit-'));
  const e = io(dir);
  t.equal(await auditCommand(['export', '--format', 'eml', '--out', 'conv.mbox'], e.cli, keep(store)), 0);
  const mbox = await readFile(join(dir, 'conv.mbox'), 'utf8');
  t.equal(mbox.match(/^From parley@parley\.invalid /gm)?.length, 2, 'two conversations');
  t.match(e.err(), /wrote \d+ bytes of eml/);
  t.equal(e.out(), '');
});

t.test('export: bad input exits 2', async (t) => {
  const store = await filled(1);
  for (const args of [
    ['export', '--format', 'xml'],
    ['export', '--from', 'yesterday'],
    ['export', '--decision', 'maybe'],
    ['export', '--bogus'],
    ['frobnicate'],
  ]) {
    const x = io();
    t.equal(await auditCommand(args, x.cli, keep(store)), 2, args.join(' '));
    t.not(x.err(), '');
  }
  const h = io();
  t.equal(await auditCommand(['export', '--help'], h.cli, keep(store)), 0);
  t.match(h.out(), /parley audit export/);
});

t.test('tail -n and --follow', async (t) => {
  const store = await filled(20);
  const x = io();
  t.equal(await auditCommand(['tail', '-n', '3'], x.cli, keep(store)), 0);
  const lines = x.out().trim().split('\n');
  t.same(
    lines.map((l) => Number(l.split(' ')[0])),
    [18, 19, 20],
  );
  t.match(
    lines[0],
    /^18 2026-01-18T00:00:00\.000Z allow +message xmpp:alice@corp\.example -> sip:bob@partner\.example rule=partners-talk hash=[0-9a-f]{12}$/,
  );

  const f = io();
  const ac = new AbortController();
  const running = auditCommand(['tail', '-n', '1', '--follow', '--interval', '20'], f.cli, keep(store), {
    signal: ac.signal,
  });
  await new Promise((r) => setTimeout(r, 50));
  const w = new AuditWriter(store.audit);
  await w.write(entry({ eventId: 'new-1' }));
  await w.write(entry({ eventId: 'new-2' }));
  await new Promise((r) => setTimeout(r, 100));
  ac.abort();
  t.equal(await running, 0);
  t.same(
    f
      .out()
      .trim()
      .split('\n')
      .map((l) => Number(l.split(' ')[0])),
    [20, 21, 22],
  );
});

t.test('a store failure is reported, not thrown', async (t) => {
  const x = io();
  const code = await auditCommand(['verify'], x.cli, async () => {
    throw new Error('redis store (redis://127.0.0.1:1/): connect ECONNREFUSED');
  });
  t.equal(code, 1);
  t.match(x.err(), /parley audit verify: redis store .*ECONNREFUSED/);
});

t.test('export --outcome and tail show what happened to each event', async (t) => {
  const store = new MemoryStore();
  const w = new AuditWriter(store.audit);
  await w.write(entry({ eventId: 'e1', outcome: 'pending' }));
  await w.write(
    entry({
      category: 'outcome',
      eventId: 'e1',
      outcome: 'refused',
      outcomeReason: '480 Temporarily Unavailable',
    }),
  );
  await w.write(
    entry({ eventId: 'e2', outcome: 'rate-limited', outcomeReason: 'Rate limit of rule r exceeded' }),
  );
  const j = io();
  t.equal(await auditCommand(['export', '--outcome', 'refused'], j.cli, keep(store)), 0);
  const lines = j.out().trim().split('\n');
  t.equal(lines.length, 1, 'only the refused outcome');
  t.match(JSON.parse(lines[0] ?? '{}'), { eventId: 'e1', category: 'outcome', outcome: 'refused' });
  const c = io();
  t.equal(await auditCommand(['export', '--category', 'outcome'], c.cli, keep(store)), 0);
  t.equal(c.out().trim().split('\n').length, 1, 'the outcome category');
  const bad = io();
  t.equal(await auditCommand(['export', '--outcome', 'vanished'], bad.cli, keep(store)), 2);
  t.match(bad.err(), /--outcome must be one of .*rate-limited/);
  const tail = io();
  t.equal(await auditCommand(['tail', '-n', '3'], tail.cli, keep(store)), 0);
  t.match(tail.out(), /outcome=refused \("480 Temporarily Unavailable"\)/);
  t.match(tail.out(), /outcome=rate-limited/);
});

t.test('export --event gives one event’s records; --trace one trace’s', async (t) => {
  const store = new MemoryStore();
  const w = new AuditWriter(store.audit);
  await w.write(entry({ eventId: 'e1', traceId: 't1', outcome: 'pending' }));
  await w.write(entry({ eventId: 'e2', traceId: 't2', outcome: 'pending' }));
  await w.write(entry({ category: 'outcome', eventId: 'e1', traceId: 't1', outcome: 'delivered' }));
  const j = io();
  t.equal(await auditCommand(['export', '--event', 'e1'], j.cli, keep(store)), 0);
  const got = j
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { eventId: string; category: string });
  t.same(
    got.map((r) => [r.eventId, r.category]),
    [
      ['e1', 'decision'],
      ['e1', 'outcome'],
    ],
    'the decision record and its outcome record, oldest first',
  );
  const tr = io();
  t.equal(await auditCommand(['export', '--trace', 't2'], tr.cli, keep(store)), 0);
  const traced = tr.out().trim().split('\n');
  t.equal(traced.length, 1, 'only the second event’s trace');
  t.match(JSON.parse(traced[0] ?? '{}'), { eventId: 'e2' });
});
