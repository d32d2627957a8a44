// Messages between the main thread and the writer thread (writer-thread.ts), which holds
// the only connection that writes. Plain data: it crosses threads by structured clone.
import type { AuditHead } from '../../core/store.js';

/**
 * Records to write (ascending seq), packed into a few strings: copying one long string to
 * the other thread costs far less than copying hundreds of short ones.
 * - `texts`: each record's JSON text as the chain made it, in UTF-8, one after another, and
 *   `textEnds` where each ends: bytes the main thread writes once and hands over (transferred,
 *   not copied), which the writer inserts as they are;
 * - `times`: each `time` field, joined by line breaks (one that has a line break is sent
 *   empty: it is no instant either way);
 * - `bodies` and `bodyLengths`: the kept bodies (content mode `full`) one after another, and
 *   the length of each (-1: nothing kept);
 * - `terms`: the field terms of each record (terms.ts), separated by spaces, records by line breaks.
 */
export interface RecordBatch {
  count: number;
  /** The first seq; the others follow it one by one unless `seqs` lists them. */
  first: number;
  seqs: number[] | null;
  texts: Uint8Array;
  textEnds: Uint32Array;
  times: string;
  bodies: string;
  bodyLengths: number[];
  terms: string;
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
  /** Answered at once, outside any transaction: the thread is up and has the file open. */
  | { type: 'ping'; id: number }
  | { type: 'close'; id: number };

/** State writes (no reply; `committed` follows once they are in the file). */
export interface StateMessage {
  type: 'state';
  /** The number of the last op in `ops` (they are numbered 1, 2, 3, ... from the first). */
  upto: number;
  ops: StateOp[];
}

export type ToWriter = Request | StateMessage;

/** A request before it gets its id. */
export type RequestBody = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

/** The buffers of a request to hand over with it (postMessage's transfer list). */
export function transferables(r: RequestBody): ArrayBuffer[] {
  const b = r.type === 'append' ? r.batch : r.type === 'restore' ? r.held : null;
  return b ? [b.texts.buffer as ArrayBuffer, b.textEnds.buffer as ArrayBuffer] : [];
}

export type Reply =
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: string; code: string }
  | { type: 'committed'; upto: number }
  | { type: 'state-error'; error: string }
  | { type: 'fatal'; error: string };

/** The append's answer: as AppendResult. */
export type AppendReply = { ok: true } | { ok: false; head: AuditHead | null };
