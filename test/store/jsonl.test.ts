// The JSONL audit log (a trail in a file: migrate's carrier, verify's test source): reads
// by seq through a binary search over a file of any size, head and anchor from the
// records, appends and restore into an empty file.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { chainEntries, recordJson } from '../../src/core/audit/chain.js';
import type { AuditRecord } from '../../src/core/audit/record.js';
import { verifyLog } from '../../src/core/audit/verify.js';
import { JsonlAuditLog, JsonlFileError } from '../../src/store/jsonl.js';
import { LineFile, openAuditReader, seqOfLine } from '../../src/store/jsonl-reader.js';
import { entries, entry } from '../core/audit/fixtures.js';
import { tempDir } from '../fixtures/file-log.js';

const dir = tempDir(t, 'parley-jsonl-');
let n = 0;
const write = (lines: string[], end = '\n') => {
  const path = join(dir, `f${++n}.jsonl`);
  writeFileSync(path, lines.join(end) + end);
  return path;
};
const seqs = (rs: AuditRecord[]) => rs.map((r) => r.seq);

t.test('seq from the line text, else from parsing it', async (t) => {
  t.equal(seqOfLine('{"seq":42,"prev":"x"}'), 42);
  t.equal(seqOfLine('{"prev":"x","seq":7}'), 7);
  t.equal(seqOfLine('{"seq":07}'), undefined, 'not JSON');
  t.equal(seqOfLine('{"seq":"3"}'), undefined);
  t.equal(seqOfLine('garbage'), undefined);
});

t.test('range by seq: a binary search over a large file, then lines in order', async (t) => {
  // 6,000 records with gaps (held records below a trim): about 3 MB, many search windows.
  const recs = chainEntries(null, entries(8000)).filter((r) => r.seq % 4 !== 1 || r.seq > 2000);
  const path = write(recs.map(recordJson));
  const file = new LineFile(path);
  t.teardown(() => file.close());
  for (const from of [1, 2, 3, 999, 1000, 1001, 1997, 2001, 2002, 4567, 7999, 8000, 8001, 9000]) {
    const want = recs.filter((r) => r.seq >= from).slice(0, 25);
    t.same(seqs(file.range(from, 25)), seqs(want), `from ${from}`);
  }
  // Continuing where the last range stopped, and going back.
  const a = file.range(3000, 10);
  t.same(seqs(file.range(3010, 5)), [3010, 3011, 3012, 3013, 3014]);
  t.same(seqs(file.range(3000, 10)), seqs(a));
  t.same(file.range(1, 0), []);
  const reader = await openAuditReader({ path });
  t.same(seqs(await reader.range(5000, 3)), [5000, 5001, 5002]);
  await reader.close();
  await t.rejects(openAuditReader({}), /options\.path is not set/);
});

t.test('lines: CRLF ends, no final line end, a line longer than the buffer', async (t) => {
  const recs = chainEntries(null, [
    entry(),
    entry({ content: { mode: 'full', body: 'x'.repeat(3 << 20) } }),
    entry(),
  ]);
  const crlf = new LineFile(write(recs.map(recordJson), '\r\n'));
  t.same(crlf.range(1, 10), recs);
  crlf.close();
  const path = join(dir, 'no-end.jsonl');
  writeFileSync(path, recs.map(recordJson).join('\n'));
  const open = new LineFile(path);
  t.same(seqs(open.range(2, 10)), [2, 3]);
  t.same(seqs(open.linesBefore(open.size(), 10).map((l) => JSON.parse(l.text) as AuditRecord)), [3, 2, 1]);
  open.close();
});

t.test('the log: head, anchor and held records from the file', async (t) => {
  const recs = chainEntries(null, entries(30));
  const at = (seq: number) => recs[seq - 1] as AuditRecord;
  const plain = JsonlAuditLog.open(write(recs.map(recordJson)));
  t.same(await plain.head(), { seq: 30, hash: at(30).hash });
  t.equal(await plain.anchor(), null);
  t.equal(await plain.length(), 30);
  t.same(seqs(await plain.reverseRange(12, 3)), [12, 11, 10]);
  t.same(seqs(await plain.reverseRange(1000, 2)), [30, 29]);
  t.same(await plain.reverseRange(0, 2), []);
  t.same(await verifyLog(plain), { ok: true, records: 30, head: { seq: 30, hash: at(30).hash } });
  plain.close();

  // Held 2, 5, 6; trimmed up to 20.
  const trimmed = JsonlAuditLog.open(
    write([2, 5, 6, ...recs.slice(20).map((r) => r.seq)].map((s) => recordJson(at(s)))),
  );
  t.same(await trimmed.anchor(), { seq: 20, hash: at(20).hash }, 'what the run that ends the file follows');
  t.equal((await verifyLog(trimmed)).ok, true);
  t.same(seqs(await trimmed.reverseRange(21, 10)), [21, 6, 5, 2]);
  await t.rejects(trimmed.trim(), /not trimmed in place/);
  trimmed.close();

  t.throws(() => JsonlAuditLog.open(join(dir, 'none.jsonl')), JsonlFileError);
  t.throws(() => JsonlAuditLog.open(dir), /not a file/);
  t.throws(
    () => JsonlAuditLog.open(write([recordJson(at(1)), 'oops'])),
    /line at byte \d+ is not an audit record/,
  );
});

t.test('appends and restore write the file; a reopened file reads the same', async (t) => {
  const recs = chainEntries(null, entries(12));
  const at = (seq: number) => recs[seq - 1] as AuditRecord;
  const path = join(dir, 'written.jsonl');
  const log = JsonlAuditLog.open(path, { create: true });
  t.equal(await log.head(), null);
  t.same(await log.range(1, 5), []);
  const anchor = { seq: 8, hash: at(8).hash };
  await log.restore(anchor, [at(3)]);
  t.same(await log.head(), anchor);
  await t.rejects(log.restore(anchor, []), /not empty/);
  t.same(await log.append(recs.slice(0, 2)), { ok: false, head: anchor }, 'must follow the head');
  t.same(await log.append(recs.slice(8, 10)), { ok: true });
  t.same(seqs(await log.range(1, 10)), [3, 9, 10], 'read back after writing');
  t.same(await log.append(recs.slice(10)), { ok: true });
  t.same(await log.append([at(12)]), { ok: false, head: { seq: 12, hash: at(12).hash } }, 'a record again');
  log.close();
  t.equal(readFileSync(path, 'utf8').split('\n').length, 6);
  const again = JsonlAuditLog.open(path);
  t.same([await again.head(), await again.anchor()], [{ seq: 12, hash: at(12).hash }, anchor]);
  t.same(await verifyLog(again), { ok: true, records: 5, head: { seq: 12, hash: at(12).hash } });
  again.close();
  appendFileSync(path, '\n\n');
  const blank = JsonlAuditLog.open(path);
  t.equal(await blank.length(), 5, 'empty lines are not records');
  blank.close();
});
