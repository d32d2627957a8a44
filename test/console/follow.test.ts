// The live view's source: followLog polls the log head and yields what was appended.
import t from 'tap';
import { followLog } from '../../src/admin-services.js';
import type { AuditRecord } from '../../src/core/audit/record.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { MemoryStore } from '../../src/store/memory.js';
import { entry } from '../core/audit/fixtures.js';

t.test(
  'follows appended records (filtered), from the head or after a given seq, until aborted',
  async (t) => {
    const store = new MemoryStore();
    t.teardown(() => store.close());
    const writer = new AuditWriter(store.audit);
    await writer.write(entry({ decision: 'allow' }));
    await writer.write(entry({ decision: 'deny', rule: 'block-rival' }));

    const ac = new AbortController();
    const seen: AuditRecord[] = [];
    const done = (async () => {
      for await (const r of followLog(store.audit, { decision: 'deny' }, null, ac.signal, 10)) seen.push(r);
    })();
    await new Promise((r) => setTimeout(r, 30));
    t.same(seen, [], 'records before the head are not replayed');
    await writer.write(entry({ decision: 'allow' }));
    await writer.write(entry({ decision: 'deny', rule: 'block-rival' }));
    for (let i = 0; i < 600; i++) {
      await writer.write(entry({ decision: 'deny', rule: 'bulk' }));
    }
    const deadline = Date.now() + 3000;
    while (seen.length < 601 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    t.equal(seen.length, 601, 'every new deny, across pages');
    t.same(
      seen.slice(0, 2).map((r) => [r.seq, r.decision]),
      [
        [4, 'deny'],
        [5, 'deny'],
      ],
    );
    t.ok(
      seen.every((r, i) => i === 0 || r.seq === (seen[i - 1] as AuditRecord).seq + 1),
      'in order, none twice',
    );
    ac.abort();
    await done;
    t.pass('ends when aborted');

    // Resuming after a seq replays what came after it.
    const again = new AbortController();
    const replay: number[] = [];
    const it = followLog(store.audit, {}, 602, again.signal, 10);
    for await (const r of it) {
      replay.push(r.seq);
      if (replay.length === 2) again.abort();
    }
    t.same(replay, [603, 604]);
  },
);
