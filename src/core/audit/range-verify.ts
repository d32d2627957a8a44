// One range of a parallel verify (parallel-verify.ts), as a worker thread runs it: read the
// records from `lo` on, check each one's hash and its link to the one before it, up to the
// first record past `hi`. The first record read is only reported: what it must follow is
// the end of the range before, which the main thread knows when it joins the ranges.
import type { AuditHead, AuditReader } from '../store.js';
import type { AuditRecord } from './record.js';
import type { VerifyResult } from './types.js';
import { ChainVerifier, type VerifierPosition } from './verify.js';

export type FailedResult = Extract<VerifyResult, { ok: false }>;

/** What every range of one verify shares. */
export interface RangeContext {
  anchor: AuditHead | null;
  knownHead: AuditHead | null;
  pageSize: number;
}

/** Records with lo <= seq <= hi. */
export interface RangeTask {
  id: number;
  lo: number;
  hi: number;
}

export type RangeReport =
  /** No record from `lo` on: the log ends before the range. */
  | { id: number; kind: 'empty' }
  /** The first record read is past `hi`, or has no valid seq: nothing of this range was read. */
  | { id: number; kind: 'after'; first: AuditRecord }
  /**
   * Every record after the first checked. `position` counts them (not the first); `next`
   * is the record after the range (read, not checked), null when the log ended.
   */
  | { id: number; kind: 'checked'; first: AuditRecord; position: VerifierPosition; next: AuditRecord | null }
  /** A record after the first failed; `failure.records` counts from the one after the first. */
  | { id: number; kind: 'failed'; first: AuditRecord; failure: FailedResult };

export const validSeq = (r: AuditRecord): boolean => {
  const seq = r?.seq;
  return typeof seq === 'number' && Number.isInteger(seq) && seq >= 1;
};

export async function verifyRange(
  reader: Pick<AuditReader, 'range'>,
  ctx: RangeContext,
  task: RangeTask,
): Promise<RangeReport> {
  const { id, hi } = task;
  const pageSize = ctx.pageSize;
  let page = await reader.range(task.lo, pageSize);
  const first = page[0];
  if (first === undefined) return { id, kind: 'empty' };
  if (!validSeq(first) || first.seq > hi) return { id, kind: 'after', first };
  const v = new ChainVerifier(ctx.anchor, { knownHead: ctx.knownHead, untilSeq: hi });
  v.continueFrom({ count: 0, last: { seq: first.seq, hash: first.hash }, knownSeen: false });
  let i = 1;
  for (;;) {
    for (; i < page.length; i++) {
      const r = page[i] as AuditRecord;
      if (v.push(r)) continue;
      if (v.failure && !v.failure.ok) return { id, kind: 'failed', first, failure: v.failure };
      // Past hi: the next range's.
      return { id, kind: 'checked', first, position: v.position(), next: r };
    }
    const lastSeq = page[page.length - 1]?.seq;
    if (page.length < pageSize || typeof lastSeq !== 'number') break;
    page = await reader.range(lastSeq + 1, pageSize);
    i = 0;
    if (page.length === 0) break;
  }
  return { id, kind: 'checked', first, position: v.position(), next: null };
}
