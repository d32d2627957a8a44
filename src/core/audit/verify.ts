// Verification of the hash chain. Streaming: constant memory whatever the log's length.
//
// What is checked, record by record, in ascending order:
//  - order: each seq is greater than the previous one (reordering shows);
//  - integrity: `hash` is SHA-256 over the canonical encoding of the other fields (edits show);
//  - continuity: above the trim anchor, seqs have no gap and each `prev` is the previous
//    record's hash (deletions in the middle show); the first record after the anchor
//    follows the anchor (or the genesis hash when the log was never trimmed);
//  - completeness: the last record read is the head the store keeps separately from the
//    records (written atomically with every append), so deleting the tail shows.
// Records at or below the anchor are ones a legal hold kept when their neighbours were
// trimmed: each is checked on its own (hash) and against a kept predecessor when there is one.
import type { AuditHead, AuditLog } from '../store.js';
import { GENESIS_HASH } from './genesis.js';
import { hashRecord } from './hash.js';
import type { AuditRecord } from './record.js';
import type { VerifyResult } from './types.js';

export interface VerifyOptions {
  /** The trim anchor: the (seq, hash) the first record above it follows. Null: never trimmed. */
  anchor?: AuditHead | null;
  /** The head the log claims (kept apart from the records): the last record must be it. */
  head?: AuditHead | null;
  /**
   * A head recorded earlier outside the store (e.g. printed by a previous verify and kept
   * by the compliance team): the chain must still contain that record with that hash.
   */
  knownHead?: AuditHead | null;
  /** Stop after the record with this seq (records appended during the verify are not read). */
  untilSeq?: number;
}

type Input = AsyncIterable<AuditRecord> | Iterable<AuditRecord>;

const bad = (records: number, firstBad: number, problem: string): VerifyResult => ({
  ok: false,
  records,
  firstBad,
  problem,
});

const short = (h: string): string => (typeof h === 'string' ? h.slice(0, 16) : String(h));

/**
 * Where a verifier stands after the records it was fed: how many, the last one, and whether
 * the known head was among them. Parallel verify checks ranges apart and carries this
 * from one range to the next (parallel-verify.ts).
 */
export interface VerifierPosition {
  count: number;
  last: AuditHead | null;
  knownSeen: boolean;
}

/** Incremental verifier: feed records in ascending order, then finish(). */
export class ChainVerifier {
  private readonly base: number;
  private readonly until: number;
  #count = 0;
  private lastSeq = 0;
  private lastHash = '';
  private hasLast = false;
  private knownSeen = false;
  /** Set once a record failed; later records are ignored. */
  failure: VerifyResult | null = null;
  /** True once a record past `untilSeq` was seen: stop feeding. */
  done = false;

  constructor(
    private readonly anchor: AuditHead | null,
    private readonly opts: Omit<VerifyOptions, 'anchor'> = {},
  ) {
    this.base = anchor ? anchor.seq : 0;
    this.until = opts.untilSeq ?? Number.POSITIVE_INFINITY;
  }

  /** Records checked so far (the failing one included). */
  get count(): number {
    return this.#count;
  }

  position(): VerifierPosition {
    return {
      count: this.#count,
      last: this.hasLast ? { seq: this.lastSeq, hash: this.lastHash } : null,
      knownSeen: this.knownSeen,
    };
  }

  /**
   * Continue as if the records up to `p` had been pushed here: they were checked elsewhere
   * (another thread), each against the one before it.
   */
  continueFrom(p: VerifierPosition): void {
    this.#count = p.count;
    this.hasLast = p.last !== null;
    this.lastSeq = p.last ? p.last.seq : 0;
    this.lastHash = p.last ? p.last.hash : '';
    this.knownSeen = p.knownSeen;
  }

  /**
   * Check one record; false when the verification is over (failed or past untilSeq).
   * `computed`: its hash, when the caller has it already (from the record's text).
   */
  push(r: AuditRecord, computed?: string): boolean {
    if (this.failure || this.done) return false;
    const base = this.base;
    const anchor = this.anchor;
    const prevSeq = this.hasLast ? this.lastSeq : base;
    const seq = r?.seq;
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1) {
      this.failure = bad(this.count, prevSeq + 1, `record after ${prevSeq} has no valid seq`);
      return false;
    }
    if (seq > this.until) {
      this.done = true;
      return false;
    }
    this.#count += 1;
    const count = this.#count;
    if (this.hasLast && seq <= this.lastSeq) {
      this.failure = bad(count, seq, `out of order: record ${seq} comes after record ${this.lastSeq}`);
      return false;
    }
    if (computed === undefined) {
      try {
        computed = hashRecord(r);
      } catch (err) {
        this.failure = bad(count, seq, `record cannot be encoded: ${(err as Error).message}`);
        return false;
      }
    }
    if (computed !== r.hash) {
      this.failure = bad(
        count,
        seq,
        `hash mismatch: stored ${short(r.hash)}…, computed ${short(computed)}… (record edited)`,
      );
      return false;
    }
    if (seq <= base) {
      // Held below the anchor: linked only to a kept predecessor.
      if (this.hasLast && this.lastSeq === seq - 1 && r.prev !== this.lastHash) {
        this.failure = bad(count, seq, `prev mismatch: does not follow record ${this.lastSeq}`);
        return false;
      }
      if (seq === base && anchor && r.hash !== anchor.hash) {
        this.failure = bad(count, seq, 'record does not match the trim anchor');
        return false;
      }
    } else {
      const chained = this.hasLast && this.lastSeq >= base;
      const expectedSeq = chained ? this.lastSeq + 1 : base + 1;
      const expectedPrev = chained ? this.lastHash : anchor ? anchor.hash : GENESIS_HASH;
      if (seq !== expectedSeq) {
        const missing = seq - expectedSeq === 1 ? `${expectedSeq}` : `${expectedSeq}..${seq - 1}`;
        this.failure = bad(
          count,
          expectedSeq,
          `record ${missing} missing (deleted or moved): next record is ${seq}`,
        );
        return false;
      }
      if (r.prev !== expectedPrev) {
        const what = chained ? `record ${seq - 1}` : anchor ? 'the trim anchor' : 'the genesis hash';
        this.failure = bad(count, seq, `prev mismatch: does not follow ${what}`);
        return false;
      }
    }
    const known = this.opts.knownHead;
    if (known && seq === known.seq) {
      if (r.hash !== known.hash) {
        this.failure = bad(count, seq, 'record differs from the known head recorded earlier');
        return false;
      }
      this.knownSeen = true;
    }
    this.hasLast = true;
    this.lastSeq = seq;
    this.lastHash = r.hash;
    return true;
  }

  finish(): VerifyResult {
    if (this.failure) return this.failure;
    const count = this.#count;
    const base = this.base;
    const anchor = this.anchor;
    // Where the chain ends: the last record read, or the anchor when every record read
    // (if any) is one held below it.
    const atAnchor = anchor !== null && (!this.hasLast || this.lastSeq <= base);
    const end: AuditHead | null = atAnchor
      ? { seq: anchor.seq, hash: anchor.hash }
      : this.hasLast
        ? { seq: this.lastSeq, hash: this.lastHash }
        : null;
    const lastSeq = end ? end.seq : 0;
    if (this.opts.head !== undefined) {
      const head = this.opts.head;
      if (head === null) {
        if (this.hasLast) return bad(count, this.lastSeq, 'the log has records but no head marker');
      } else if (lastSeq < head.seq) {
        const what = lastSeq === head.seq - 1 ? `record ${head.seq}` : `records ${lastSeq + 1}..${head.seq}`;
        return bad(count, lastSeq + 1, `truncated: ${what} missing at the end (head is ${head.seq})`);
      } else if (lastSeq > head.seq) {
        return bad(count, head.seq + 1, `records after the head marker (${head.seq}): head rolled back`);
      } else if (end && end.hash !== head.hash) {
        return atAnchor
          ? bad(count, head.seq, 'head marker does not match the trim anchor')
          : bad(count, end.seq, 'last record does not match the head marker');
      }
    }
    const known = this.opts.knownHead;
    if (known && !this.knownSeen && known.seq > base && lastSeq < known.seq) {
      return bad(count, lastSeq + 1, `truncated: the log ends before the known head ${known.seq}`);
    }
    return { ok: true, records: count, head: end };
  }
}

/**
 * Verify records given in ascending order. `anchor` is the trim anchor (or null); pass
 * `head` (the log's separately kept head) to detect truncation of the tail.
 */
export async function verifyRecords(
  records: Input,
  anchor: AuditHead | null = null,
  opts: Omit<VerifyOptions, 'anchor'> = {},
): Promise<VerifyResult> {
  const v = new ChainVerifier(anchor, opts);
  for await (const r of records as AsyncIterable<AuditRecord>) if (!v.push(r)) break;
  return v.finish();
}

/** All records of a log in ascending order, read in pages of `pageSize`. */
export async function* readLog(log: AuditLog, pageSize = 2000, fromSeq = 1): AsyncGenerator<AuditRecord> {
  let next = fromSeq;
  for (;;) {
    const page = await log.range(next, pageSize);
    if (page.length === 0) return;
    for (const r of page) yield r;
    const lastSeq = page[page.length - 1]?.seq;
    if (typeof lastSeq !== 'number' || page.length < pageSize) return;
    next = lastSeq + 1;
  }
}

/** How verifyLog reads: page size, and a head recorded earlier outside the store. */
export interface VerifyLogOptions {
  pageSize?: number;
  knownHead?: AuditHead | null;
}

/**
 * Verify a whole log: reads its head and anchor first, then every record up to that head
 * in pages (records appended meanwhile are left for the next verify).
 */
export async function verifyLog(log: AuditLog, opts: VerifyLogOptions = {}): Promise<VerifyResult> {
  const head = await log.head();
  const anchor = await log.anchor();
  return verifyLogAt(log, head, anchor, opts);
}

/** verifyLog against a head and anchor read earlier. */
export async function verifyLogAt(
  log: Pick<AuditLog, 'range'>,
  head: AuditHead | null,
  anchor: AuditHead | null,
  opts: VerifyLogOptions = {},
): Promise<VerifyResult> {
  const untilSeq = head ? head.seq : Number.POSITIVE_INFINITY;
  const v = new ChainVerifier(anchor, { head, untilSeq, knownHead: opts.knownHead ?? null });
  // Page by page (not record by record through an async generator: that costs a promise each).
  const pageSize = opts.pageSize ?? 2000;
  let next = 1;
  for (;;) {
    const page = await log.range(next, pageSize);
    let go = true;
    for (const r of page) {
      if (!v.push(r)) {
        go = false;
        break;
      }
    }
    const lastSeq = page[page.length - 1]?.seq;
    if (!go || page.length < pageSize || typeof lastSeq !== 'number') break;
    next = lastSeq + 1;
  }
  return v.finish();
}
