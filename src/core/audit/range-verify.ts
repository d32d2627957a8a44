// One range of a parallel verify (parallel-verify.ts), as a worker thread runs it: read the
// records from `lo` on, check each one's hash and its link to the one before it, up to the
// first record past `hi`. The first record read is only reported: what it must follow is
// the end of the range before, which the main thread knows when it joins the ranges.
import type { AuditHead, AuditReader } from '../store.js';
import type { AuditRecord } from './record.js';
import { hashRecordText } from './text-hash.js';
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

/** A record's JSON text as range() gives it: a text that is not a JSON object has no seq. */
export function recordOfText(text: string): AuditRecord {
  try {
    const v: unknown = JSON.parse(text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as AuditRecord;
  } catch {
    // below
  }
  return { hash: 'unreadable record' } as unknown as AuditRecord;
}

/** One page as the reader gives it: records, or their texts (AuditReader.rangeText). */
interface Pages<T> {
  read(fromSeq: number, limit: number): Promise<T[]>;
  record(item: T): AuditRecord;
  /** Check `item` with `v` (as v.push). */
  push(v: ChainVerifier, item: T): boolean;
  seq(item: T): unknown;
}

const objectPages = (reader: Pick<AuditReader, 'range'>): Pages<AuditRecord> => ({
  read: (from, limit) => reader.range(from, limit),
  record: (r) => r,
  push: (v, r) => v.push(r),
  seq: (r) => r?.seq,
});

const textPages = (rangeText: (from: number, limit: number) => Promise<string[]>): Pages<string> => ({
  read: rangeText,
  record: recordOfText,
  push(v, text) {
    const h = hashRecordText(text);
    if (h === null) return v.push(recordOfText(text));
    return v.push({ seq: h.seq, prev: h.prev, hash: h.hash } as AuditRecord, h.computed);
  },
  seq: (text) => hashRecordText(text)?.seq ?? recordOfText(text).seq,
});

export function verifyRange(
  reader: Pick<AuditReader, 'range' | 'rangeText'>,
  ctx: RangeContext,
  task: RangeTask,
): Promise<RangeReport> {
  const rangeText = reader.rangeText?.bind(reader);
  return rangeText ? check(textPages(rangeText), ctx, task) : check(objectPages(reader), ctx, task);
}

async function check<T>(pages: Pages<T>, ctx: RangeContext, task: RangeTask): Promise<RangeReport> {
  const { id, hi } = task;
  const pageSize = ctx.pageSize;
  let page = await pages.read(task.lo, pageSize);
  if (page.length === 0) return { id, kind: 'empty' };
  const first = pages.record(page[0] as T);
  if (!validSeq(first) || first.seq > hi) return { id, kind: 'after', first };
  const v = new ChainVerifier(ctx.anchor, { knownHead: ctx.knownHead, untilSeq: hi });
  v.continueFrom({ count: 0, last: { seq: first.seq, hash: first.hash }, knownSeen: false });
  let i = 1;
  for (;;) {
    for (; i < page.length; i++) {
      const item = page[i] as T;
      if (pages.push(v, item)) continue;
      if (v.failure && !v.failure.ok) return { id, kind: 'failed', first, failure: v.failure };
      // Past hi: the next range's.
      return { id, kind: 'checked', first, position: v.position(), next: pages.record(item) };
    }
    const lastSeq = pages.seq(page[page.length - 1] as T);
    if (page.length < pageSize || typeof lastSeq !== 'number') break;
    page = await pages.read(lastSeq + 1, pageSize);
    i = 0;
    if (page.length === 0) break;
  }
  return { id, kind: 'checked', first, position: v.position(), next: null };
}
