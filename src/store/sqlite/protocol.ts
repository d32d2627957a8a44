// Messages between the main thread and the writer thread (writer-thread.ts), which holds
// the only connection that writes. Plain data: it crosses threads by structured clone.
import type { AuditHead } from '../../core/store.js';

/**
 * Records to write, as parallel arrays (one entry per record, ascending seq): the JSON
 * text as the chain made it, the `time` field, the kept body (content mode `full`) or null,
 * and the field terms (terms.ts) separated by spaces.
 */
export interface RecordBatch {
  seqs: number[];
  texts: string[];
  times: string[];
  bodies: (string | null)[];
  terms: string[];
}

/** Kept state written behind the main thread's view of it (state.ts). */
export type StateOp =
  | [op: 'set', key: string, value: string, expiresAt: number]
  | [op: 'del', key: string]
  | [op: 'hset', key: string, field: string, value: string]
  | [op: 'hdel', key: string, field: string]
  | [op: 'lease', name: string, owner: string, expiresAt: number]
  | [op: 'unlease', name: string];

export type QueueOp =
  | { op: 'enqueue'; queue: string; payload: string; maxLen: number }
  | { op: 'dequeue'; queue: string; count: number }
  | { op: 'peek'; queue: string; count: number }
  | { op: 'ack'; queue: string; items: string[] }
  | { op: 'length'; queue: string };

/** A request that gets a reply (by `id`). */
export type Request =
  | {
      type: 'append';
      id: number;
      /** What the first record follows: its seq - 1 and its prev. */
      prevSeq: number;
      prevHash: string;
      last: AuditHead;
      batch: RecordBatch;
    }
  | { type: 'restore'; id: number; anchor: AuditHead; held: RecordBatch }
  | { type: 'trim'; id: number; before: number; keep: number[] }
  | { type: 'queue'; id: number; q: QueueOp }
  | { type: 'close'; id: number };

/** State writes (no reply; `committed` follows once they are in the file). */
export interface StateMessage {
  type: 'state';
  /** The number of the last op in `ops` (they are numbered 1, 2, 3, ... from the first). */
  upto: number;
  ops: StateOp[];
}

export type ToWriter = Request | StateMessage;

export type Reply =
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: string; code: string }
  | { type: 'committed'; upto: number }
  | { type: 'state-error'; error: string }
  | { type: 'fatal'; error: string };

/** The append's answer: as AppendResult. */
export type AppendReply = { ok: true } | { ok: false; head: AuditHead | null };
