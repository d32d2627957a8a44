// Exports stream from the store: a page of records at a time, a time range read from near
// its first record to soon after its last, and an EML export that writes its conversations
// when too many lines wait (issue 17.6).
import t from 'tap';
import { chainEntries } from '../../../src/core/audit/chain.js';
import { exportRecords, iterateLog, seqAtTime, TIME_ORDER_SLACK_MS } from '../../../src/core/audit/export.js';
import { compileFilter } from '../../../src/core/audit/query.js';
import type { AuditRecord } from '../../../src/core/audit/record.js';
import type { AuditLog } from '../../../src/core/store.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { entry } from './fixtures.js';

const T0 = Date.UTC(2026, 0, 1);
const N = 20_000;

/** A log whose records were written one a second from T0, and how many records it read. */
async function counted(n = N) {
  const store = new MemoryStore();
  const all = chainEntries(
    null,
    Array.from({ length: n }, (_, i) =>
      entry({
        time: new Date(T0 + i * 1000).toISOString(),
        from: `xmpp:user${i % 7}@corp.example`,
        to: `sip:peer${i % 5}@partner.example`,
      }),
    ),
  );
  await store.audit.append(all);
  const read = { records: 0, calls: 0 };
  const log: AuditLog = Object.create(store.audit, {
    range: {
      value: async (from: number, limit: number) => {
        const page = await store.audit.range(from, limit);
        read.calls += 1;
        read.records += page.length;
        return page;
      },
    },
  });
  return { store, log, all, read };
}

const iso = (ms: number) => new Date(ms).toISOString();

t.test('a JSONL export is read a page at a time as it is consumed', async (t) => {
  const { store, log, read } = await counted();
  t.teardown(() => store.close());
  const chunks = exportRecords(iterateLog(log, {}, 1000), 'jsonl');
  const first = await chunks.next();
  t.notOk(first.done);
  t.ok((first.value as string).length >= 65536, 'a first chunk of 64 KiB');
  t.ok(read.records <= 2000, `read ${read.records} records of ${N} for the first chunk`);
  let lines = (first.value as string).split('\n').length - 1;
  let most = 0;
  for await (const c of chunks) {
    lines += c.split('\n').length - 1;
    // Read ahead of what was consumed: at most the page being handed out and the next.
    most = Math.max(most, read.records - lines);
  }
  t.equal(lines, N, 'every record exported');
  t.ok(most <= 2000, `never more than two pages read ahead (at most ${most})`);
});

t.test('a time range is read from near its first record to soon after its last', async (t) => {
  const { store, log, all, read } = await counted();
  t.teardown(() => store.close());
  const from = iso(T0 + 15_000 * 1000);
  const to = iso(T0 + 16_000 * 1000);
  const got: AuditRecord[] = [];
  for await (const r of iterateLog(log, { from, to }, 500)) got.push(r);
  const match = compileFilter({ from, to });
  t.same(
    got.map((r) => r.seq),
    all.filter(match).map((r) => r.seq),
    'exactly the records in the range',
  );
  t.equal(got.length, 1000);
  const slack = TIME_ORDER_SLACK_MS / 1000;
  t.ok(read.records <= 1000 + 2 * slack + 2 * 500 + 32, `read ${read.records} records of ${N}`);

  t.equal(await seqAtTime(log, T0 + 15_000 * 1000), 15_001 - slack, 'starts the slack before');
  t.equal(await seqAtTime(log, T0 - 1000), 1, 'before the first record: from the start');
  t.equal(await seqAtTime(log, T0 + N * 2000), N + 1, 'after the last: nothing to read');
});

t.test('records a little out of time order are still found', async (t) => {
  // Two replicas: one's records arrive up to a minute late in the chain.
  const store = new MemoryStore();
  t.teardown(() => store.close());
  const all = chainEntries(
    null,
    Array.from({ length: 2000 }, (_, i) =>
      entry({ time: iso(T0 + i * 1000 - (i % 2 ? 60_000 : 0)), from: 'xmpp:a@corp.example' }),
    ),
  );
  await store.audit.append(all);
  const from = iso(T0 + 1000 * 1000);
  const to = iso(T0 + 1200 * 1000);
  const got: number[] = [];
  for await (const r of iterateLog(store.audit, { from, to })) got.push(r.seq);
  t.same(
    got,
    all.filter(compileFilter({ from, to })).map((r) => r.seq),
  );
});

t.test('an EML export writes its conversations when too many lines wait', async (t) => {
  const { store, log, all, read } = await counted(5000);
  t.teardown(() => store.close());
  const chunks = exportRecords(iterateLog(log, {}, 500), 'eml', { emlMaxLines: 1000 });
  const first = await chunks.next();
  t.ok(read.records <= 1500, `the first message after ${read.records} of 5000 records`);
  let text = first.value as string;
  for await (const c of chunks) text += c;
  const messages = text.split(/^From parley@parley\.invalid /m).slice(1);
  // 35 conversations (7 senders x 5 peers), written after each 1000 lines.
  t.equal(messages.length, 35 * 5, 'each conversation goes on in a new message');
  const listed = [...text.matchAll(/^X-Parley-Records: (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  t.equal(listed, all.length, 'every record in one message');

  const whole = await (async () => {
    let out = '';
    for await (const c of exportRecords(all, 'eml')) out += c;
    return out;
  })();
  t.equal(whole.split(/^From parley@parley\.invalid /m).length - 1, 35, 'below the bound: one message each');
});
