// Copying an audit trail into another store (`parley audit migrate`): the same records,
// seqs and hashes, so the copy verifies with the source's head. A trimmed source's anchor
// and the records legal holds kept below it go first (AuditLog.restore); then the chain
// above the anchor, page by page (one page in memory at a time), up to the head read when
// the copy started: records appended after that are not copied.
import type { AuditHead, AuditLog } from '../store.js';
import type { AuditRecord } from './record.js';

export class MigrateError extends Error {
  constructor(
    message: string,
    /** `destination`: it is not empty (nothing was written); `source`: its chain cannot be copied. */
    readonly reason: 'destination' | 'source',
  ) {
    super(message);
    this.name = 'MigrateError';
  }
}

export interface MigrateOptions {
  /** Records per read and append (default 1000). */
  pageSize?: number;
  /** Told after each page: records copied so far, and how many the chain above the anchor has. */
  onProgress?: (copied: number, total: number) => void;
}

export interface MigrateResult {
  /** The source's head and anchor when the copy started (the copy ends at that head). */
  head: AuditHead | null;
  anchor: AuditHead | null;
  /** Records at or below the anchor carried over by restore. */
  held: number;
  /** Records above the anchor appended. */
  copied: number;
}

/** Throws MigrateError when the destination holds anything (a record, a head or an anchor). */
export async function assertEmpty(log: AuditLog): Promise<void> {
  const [head, anchor, length] = await Promise.all([log.head(), log.anchor(), log.length()]);
  if (head || anchor || length > 0) {
    const what = head ? `, head ${head.seq}` : anchor ? `, anchor ${anchor.seq}` : '';
    throw new MigrateError(
      `it is not empty (${length} records${what}); migrate into an empty store`,
      'destination',
    );
  }
}

/** Copy `from` into the empty log `to`. */
export async function migrateLog(
  from: AuditLog,
  to: AuditLog,
  opts: MigrateOptions = {},
): Promise<MigrateResult> {
  const pageSize = Math.max(1, Math.floor(opts.pageSize ?? 1000));
  await assertEmpty(to);
  const head = await from.head();
  const anchor = await from.anchor();
  if (!head) {
    if ((await from.length()) > 0) throw new MigrateError('it has records but no head marker', 'source');
    return { head, anchor, held: 0, copied: 0 };
  }
  let next = 1;
  let held: AuditRecord[] = [];
  if (anchor) {
    // The held records: the few legal holds kept below the anchor.
    for (;;) {
      const page = await from.range(next, pageSize);
      const below = page.filter((r) => r.seq <= anchor.seq);
      held = held.concat(below);
      const last = page[page.length - 1];
      if (below.length < page.length || page.length < pageSize || !last) break;
      if (!(last.seq >= next)) throw new MigrateError(`its records are out of order at ${next}`, 'source');
      next = last.seq + 1;
    }
    await to.restore(anchor, held);
    next = anchor.seq + 1;
  }
  const total = head.seq - (anchor ? anchor.seq : 0);
  let copied = 0;
  while (next <= head.seq) {
    const page = (await from.range(next, Math.min(pageSize, head.seq - next + 1))).filter(
      (r) => r.seq <= head.seq,
    );
    const first = page[0];
    if (first === undefined)
      throw new MigrateError(`records ${next}..${head.seq} are missing (head is ${head.seq})`, 'source');
    let res: Awaited<ReturnType<AuditLog['append']>>;
    try {
      res = await to.append(page);
    } catch (err) {
      const msg = (err as Error).message;
      if (/append rejected/.test(msg)) throw new MigrateError(`its chain is broken: ${msg}`, 'source');
      throw err;
    }
    if (!res.ok) {
      const after = res.head ? `record ${res.head.seq}` : 'the start';
      throw new MigrateError(
        `record ${first.seq} does not follow ${after} (a record missing or changed)`,
        'source',
      );
    }
    copied += page.length;
    next = (page[page.length - 1] as AuditRecord).seq + 1;
    opts.onProgress?.(copied, total);
  }
  return { head, anchor, held: held.length, copied };
}
