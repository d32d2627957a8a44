// An audit log in a JSONL file: the records as a JSONL export writes them, one per line in
// ascending seq. It is how a trail travels between stores (`parley audit migrate`, the
// in-memory store's snapshot) and what verify reads when it checks an export.
//
// The file keeps no head or anchor apart from the records, so both come from the records:
// the head is the last record, and the chain is the run of consecutive seqs that ends with
// it; records before that run are ones legal holds kept below the trim anchor, and the
// anchor is what the run's first record follows (its seq - 1 and its prev). A truncated
// tail therefore does not show in a file alone: compare its head with one kept elsewhere.
import { closeSync, existsSync, openSync, statSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { recordJson } from '../core/audit/chain.js';
import { type AuditRecord, GENESIS_HASH } from '../core/audit/record.js';
import type { AppendResult, AuditHead, AuditLog, AuditLogSource } from '../core/store.js';
import { chainProblem, restoreProblem } from './chain-check.js';
import { type Line, LineFile, parseLine, seqOfLine } from './jsonl-reader.js';

/** The reader module a JSONL log names as its source (run from source, the .ts file). */
export const JSONL_READER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './jsonl-reader.ts' : './jsonl-reader.js',
  import.meta.url,
).href;

export class JsonlFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonlFileError';
  }
}

interface Derived {
  head: AuditHead | null;
  anchor: AuditHead | null;
  count: number;
}

function readable(file: LineFile, line: Line): AuditRecord {
  const r = parseLine(line);
  if (typeof r.seq !== 'number' || typeof r.hash !== 'string' || typeof r.prev !== 'string')
    throw new JsonlFileError(`${file.path}: the line at byte ${line.start} is not an audit record`);
  return r;
}

/** Head, anchor and record count of a file, from one pass over its lines. */
function derive(file: LineFile): Derived {
  let count = 0;
  let lastSeq: number | undefined;
  let last: Line | null = null;
  // The first line of the run of consecutive seqs that ends the file.
  let runStart: Line | null = null;
  let pos = 0;
  for (;;) {
    const line = file.lineAt(pos);
    if (line === null) break;
    pos = line.next;
    if (line.text === '') continue;
    count += 1;
    const seq = seqOfLine(line.text);
    if (seq === undefined)
      throw new JsonlFileError(`${file.path}: the line at byte ${line.start} is not an audit record`);
    if (lastSeq === undefined || seq !== lastSeq + 1) runStart = line;
    lastSeq = seq;
    last = line;
  }
  if (last === null || runStart === null) return { head: null, anchor: null, count: 0 };
  const lastRecord = readable(file, last);
  const first = readable(file, runStart);
  const head = { seq: lastRecord.seq, hash: lastRecord.hash };
  // A run from seq 1 follows the genesis hash (verify says so when it does not).
  const anchor = first.seq > 1 ? { seq: first.seq - 1, hash: first.prev } : null;
  return { head, anchor, count };
}

export class JsonlAuditLog implements AuditLog {
  readonly kind = 'jsonl';
  readonly source: AuditLogSource;
  readonly path: string;
  #file: LineFile | null;
  #writer: number | null = null;
  #head: AuditHead | null;
  #anchor: AuditHead | null;
  #count: number;

  private constructor(path: string, file: LineFile | null, d: Derived) {
    this.path = path;
    this.#file = file;
    this.#head = d.head;
    this.#anchor = d.anchor;
    this.#count = d.count;
    this.source = { module: JSONL_READER_URL, options: { path } };
  }

  /**
   * Open the file at `path`. `create`: a missing file is an empty log (written on the
   * first append or restore); else a missing file is an error.
   */
  static open(path: string, opts: { create?: boolean } = {}): JsonlAuditLog {
    const abs = resolve(path);
    if (!existsSync(abs)) {
      if (!opts.create) throw new JsonlFileError(`${abs}: no such file`);
      return new JsonlAuditLog(abs, null, { head: null, anchor: null, count: 0 });
    }
    if (!statSync(abs).isFile()) throw new JsonlFileError(`${abs}: not a file`);
    const file = new LineFile(abs);
    try {
      return new JsonlAuditLog(abs, file, derive(file));
    } catch (err) {
      file.close();
      throw err;
    }
  }

  #write(records: readonly AuditRecord[]): void {
    if (records.length === 0) return;
    if (this.#writer === null) this.#writer = openSync(this.path, 'a');
    let text = '';
    for (const r of records) text += `${recordJson(r)}\n`;
    writeSync(this.#writer, text);
    if (this.#file === null) this.#file = new LineFile(this.path);
    this.#file.invalidate();
    this.#count += records.length;
  }

  async append(records: readonly AuditRecord[]): Promise<AppendResult> {
    if (records.length === 0) return { ok: true };
    const first = records[0] as AuditRecord;
    const head = this.#head;
    if (first.seq !== (head ? head.seq : 0) + 1 || first.prev !== (head ? head.hash : GENESIS_HASH)) {
      return { ok: false, head: head ? { ...head } : null };
    }
    const problem = chainProblem(head, records);
    if (problem) throw new Error(`audit append rejected: ${problem}`);
    this.#write(records);
    const last = records[records.length - 1] as AuditRecord;
    this.#head = { seq: last.seq, hash: last.hash };
    return { ok: true };
  }

  async head(): Promise<AuditHead | null> {
    return this.#head ? { ...this.#head } : null;
  }

  async anchor(): Promise<AuditHead | null> {
    return this.#anchor ? { ...this.#anchor } : null;
  }

  async range(fromSeq: number, limit: number): Promise<AuditRecord[]> {
    return this.#file ? this.#file.range(fromSeq, limit) : [];
  }

  async reverseRange(beforeSeq: number, limit: number): Promise<AuditRecord[]> {
    const file = this.#file;
    if (!file || limit <= 0 || beforeSeq < 1) return [];
    return file.linesBefore(file.seek(Math.floor(beforeSeq) + 1), limit).map(parseLine);
  }

  async length(): Promise<number> {
    return this.#count;
  }

  async trim(): Promise<number> {
    throw new Error('audit trim: a JSONL file is not trimmed in place (migrate it into a store first)');
  }

  async restore(anchor: AuditHead, held: readonly AuditRecord[]): Promise<void> {
    if (this.#head || this.#count > 0) throw new Error('audit restore: the log is not empty');
    const problem = restoreProblem(anchor, held);
    if (problem) throw new Error(`audit restore rejected: ${problem}`);
    this.#write(held);
    this.#anchor = { ...anchor };
    this.#head = { ...anchor };
  }

  close(): void {
    this.#file?.close();
    this.#file = null;
    if (this.#writer !== null) closeSync(this.#writer);
    this.#writer = null;
  }
}
