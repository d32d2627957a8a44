// Two replicas in two OS processes append to one archive chain at the same time: every
// record is there exactly once, seqs run 1..N without a gap, the chain verifies, and the
// two writers really raced (appends lost to the other writer were re-chained and retried).
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { verifyLog } from '../../src/core/audit/verify.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { PostgresAuditLog } from '../../src/store/postgres/log.js';
import { entry } from '../core/audit/fixtures.js';
import { startPostgres } from '../harness/postgres.js';
import { track } from '../harness/processes.js';

const WRITER = fileURLToPath(new URL('../fixtures/archive-writer.ts', import.meta.url));
const PER_WRITER = 1500;

interface Report {
  name: string;
  seqs: number[];
  conflicts: number;
}

function startWriter(
  url: string,
  name: string,
): { proc: ChildProcess; ready: Promise<void>; done: Promise<Report> } {
  const proc = track(
    spawn(process.execPath, ['--import', 'tsx', WRITER, url, name, String(PER_WRITER)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  let err = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.startsWith('ready\n')) onReady();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const done = new Promise<Report>((resolve, reject) =>
    proc.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || !line) reject(new Error(`writer ${name} exited ${code}: ${err.slice(-2000)}`));
      else resolve(JSON.parse(line) as Report);
    }),
  );
  return { proc, ready, done };
}

t.test('two processes append to one chain: all records once, no gaps, a valid chain', async (t) => {
  const pg = await startPostgres({ fast: true });
  t.teardown(() => pg.destroy());
  // The schema first, so that the writers race on appends, not on creating it.
  const log = new PostgresAuditLog({ url: pg.url });
  t.teardown(() => log.close());
  t.equal(await log.open(), true);

  const a = startWriter(pg.url, 'alpha');
  const b = startWriter(pg.url, 'beta');
  await Promise.all([a.ready, b.ready]);
  a.proc.stdin?.end('go\n');
  b.proc.stdin?.end('go\n');
  const [ra, rb] = await Promise.all([a.done, b.done]);

  const total = 2 * PER_WRITER;
  t.equal(await log.length(), total, 'every record kept');
  const records = await log.range(1, total + 10);
  t.same(
    records.map((r) => r.seq),
    Array.from({ length: total }, (_, i) => i + 1),
    'seqs 1..N, contiguous',
  );
  const ids = records.map((r) => r.eventId);
  t.equal(new Set(ids).size, total, 'no record twice');
  for (const w of [ra, rb]) {
    const mine = records.filter((r) => r.sourceAdapter === w.name);
    t.equal(mine.length, PER_WRITER, `${w.name}: all its records`);
    t.same(
      w.seqs,
      Array.from({ length: PER_WRITER }, (_, i) => records.find((r) => r.eventId === `${w.name}-${i}`)?.seq),
      `${w.name}: each write resolved with the seq its record has`,
    );
  }
  let switches = 0;
  for (let i = 1; i < records.length; i++)
    if (records[i]?.sourceAdapter !== records[i - 1]?.sourceAdapter) switches += 1;
  t.ok(switches >= 3, `the writers interleaved (${switches} switches along the chain)`);
  t.ok(
    ra.conflicts + rb.conflicts > 0,
    `appends lost the race and were retried (${ra.conflicts + rb.conflicts})`,
  );
  t.match(await verifyLog(log), { ok: true, records: total, head: { seq: total } });
});

t.test('a replica that loses the race gets the next turn: no starving under a busy peer', async (t) => {
  const pg = await startPostgres({ fast: true });
  t.teardown(() => pg.destroy());
  const busy = new PostgresAuditLog({ url: pg.url });
  const quiet = new PostgresAuditLog({ url: pg.url });
  t.teardown(() => Promise.all([busy.close(), quiet.close()]).then(() => {}));
  await busy.open();
  await quiet.open();
  // The busy replica appends large batches back to back; the quiet one may retry once.
  const hammer = new AuditWriter(busy, { maxBatch: 1000 });
  const patient = new AuditWriter(quiet, { maxBatch: 1000, maxConflictRetries: 2 });
  let running = true;
  const load = (async () => {
    while (running)
      await Promise.all(Array.from({ length: 1000 }, () => hammer.write(entry({ sourceAdapter: 'busy' }))));
  })();
  await new Promise((r) => setTimeout(r, 200));
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, async () => {
      await new Promise((r) => setTimeout(r, Math.random() * 500));
      return Promise.all(Array.from({ length: 500 }, () => patient.write(entry({ sourceAdapter: 'quiet' }))));
    }),
  );
  running = false;
  await load;
  const failed = results
    .filter((r) => r.status === 'rejected')
    .map((r) => String((r as PromiseRejectedResult).reason));
  t.same(failed, [], 'every batch of the quiet replica was written within two attempts');
  t.match(await verifyLog(busy), { ok: true });
});
