// Reading a JSONL file of audit records (an export: one record per line, ascending seq)
// by seq, without reading it all: a binary search over byte offsets finds where a range
// starts, then lines are read in order from a buffer. Synchronous reads: the file is local
// and the callers (a verify worker, the migrate command) do nothing else meanwhile.
//
// This is also the module a JSONL log names as its source (AuditLogSource): verify's
// workers import it and call openAuditReader({ path }).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { AuditRecord } from '../core/audit/record.js';
import type { AuditReader } from '../core/store.js';

/** How much is read at a time (a longer line grows the buffer). */
const CHUNK = 1 << 20;
/** The binary search stops when the range left is this small; the rest is read in order. */
const WINDOW = 64 * 1024;

/** One line of the file: its text (without the line end) and where the next line starts. */
export interface Line {
  text: string;
  start: number;
  next: number;
}

/**
 * The seq a line's record has, read from the text `JSON.stringify` writes (`{"seq":N,...`)
 * without parsing the rest; undefined when the line has none (it is parsed to find out).
 */
export function seqOfLine(text: string): number | undefined {
  if (text.startsWith('{"seq":')) {
    let i = 7;
    let n = 0;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
      i++;
    }
    const end = text.charCodeAt(i);
    if (i > 7 && (end === 44 || end === 125) && Number.isSafeInteger(n) && text.charCodeAt(7) !== 48)
      return n;
  }
  try {
    const seq = (JSON.parse(text) as { seq?: unknown }).seq;
    return typeof seq === 'number' ? seq : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A line as a record. A line that is not a JSON object comes back as a record that cannot
 * verify (no seq, a hash naming the line), so a damaged file fails verification there.
 */
export function parseLine(line: Line): AuditRecord {
  try {
    const v: unknown = JSON.parse(line.text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as AuditRecord;
  } catch {
    // below
  }
  return { hash: `unreadable line at byte ${line.start}` } as unknown as AuditRecord;
}

/** Lines of a file by byte offset, through one reused buffer. */
export class LineFile {
  readonly #fd: number;
  #buf = Buffer.allocUnsafe(CHUNK);
  #bufStart = 0;
  #bufLen = 0;
  /** Where range() stopped, to continue without a search when asked for what follows. */
  #cursor: { pos: number; nextSeq: number } | null = null;

  constructor(readonly path: string) {
    this.#fd = openSync(path, 'r');
  }

  size(): number {
    return fstatSync(this.#fd).size;
  }

  /** Forget what was read (the file was written to). */
  invalidate(): void {
    this.#bufLen = 0;
    this.#cursor = null;
  }

  #fill(pos: number): void {
    this.#bufStart = pos;
    this.#bufLen = readSync(this.#fd, this.#buf, 0, this.#buf.length, pos);
  }

  /** The line starting at byte `pos` (empty lines included), or null at the end of the file. */
  lineAt(pos: number): Line | null {
    for (;;) {
      if (pos < this.#bufStart || pos >= this.#bufStart + this.#bufLen) {
        this.#fill(pos);
        if (this.#bufLen === 0) return null;
      }
      const i = pos - this.#bufStart;
      const nl = this.#buf.indexOf(10, i);
      if (nl !== -1 && nl < this.#bufLen) {
        const end = nl > i && this.#buf[nl - 1] === 13 ? nl - 1 : nl;
        return { text: this.#buf.toString('utf8', i, end), start: pos, next: this.#bufStart + nl + 1 };
      }
      if (this.#bufStart !== pos) {
        // Read again from the line's start: more room, and bytes written since.
        this.#fill(pos);
        continue;
      }
      if (this.#bufLen < this.#buf.length) {
        // The last line, without a line end.
        return { text: this.#buf.toString('utf8', 0, this.#bufLen), start: pos, next: pos + this.#bufLen };
      }
      this.#buf = Buffer.allocUnsafe(this.#buf.length * 2);
      this.#fill(pos);
    }
  }

  /** The start of the first line that starts at or after `pos`. */
  #lineStartFrom(pos: number): number {
    if (pos === 0) return 0;
    // The "line" from byte pos - 1 ends at the first line end at or after it.
    return this.lineAt(pos - 1)?.next ?? pos;
  }

  /**
   * Where the first line with seq >= `fromSeq` starts (lines are in ascending seq order);
   * a line whose seq cannot be read counts as one (it is returned, and fails verify).
   */
  seek(fromSeq: number): number {
    let lo = 0;
    let hi = this.size();
    while (hi - lo > WINDOW) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const start = this.#lineStartFrom(mid);
      const line = start < hi ? this.lineAt(start) : null;
      const seq = line === null || line.text === '' ? undefined : seqOfLine(line.text);
      if (line !== null && seq !== undefined && seq < fromSeq) lo = line.next;
      else hi = mid;
    }
    // Every line starting before `lo` has a smaller seq: read on from there.
    let pos = lo;
    for (;;) {
      const line = this.lineAt(pos);
      if (line === null) return pos;
      if (line.text !== '') {
        const seq = seqOfLine(line.text);
        if (seq === undefined || seq >= fromSeq) return pos;
      }
      pos = line.next;
    }
  }

  /** Lines from byte `pos` on, up to `limit` non-empty ones, and where the next starts. */
  linesFrom(pos: number, limit: number): { lines: Line[]; next: number } {
    const lines: Line[] = [];
    let at = pos;
    while (lines.length < limit) {
      const line = this.lineAt(at);
      if (line === null) break;
      at = line.next;
      if (line.text !== '') lines.push(line);
    }
    return { lines, next: at };
  }

  /** The lines range() reads: from the first with seq >= fromSeq, in file order. */
  #rangeLines(fromSeq: number, limit: number): Line[] {
    if (limit <= 0) return [];
    const cursor = this.#cursor;
    const pos = cursor !== null && cursor.nextSeq === fromSeq ? cursor.pos : this.seek(fromSeq);
    const { lines, next } = this.linesFrom(pos, limit);
    const last = lines[lines.length - 1];
    const lastSeq = last === undefined ? undefined : seqOfLine(last.text);
    this.#cursor = lastSeq !== undefined ? { pos: next, nextSeq: lastSeq + 1 } : null;
    return lines;
  }

  /** As AuditLog.range: records with seq >= fromSeq in file order, at most `limit`. */
  range(fromSeq: number, limit: number): AuditRecord[] {
    return this.#rangeLines(fromSeq, limit).map(parseLine);
  }

  /** As AuditReader.rangeText: range()'s lines as they are in the file. */
  rangeText(fromSeq: number, limit: number): string[] {
    return this.#rangeLines(fromSeq, limit).map((l) => l.text);
  }

  /** Up to `limit` non-empty lines that start before byte `end` (a line start), last first. */
  linesBefore(end: number, limit: number): Line[] {
    const out: Line[] = [];
    let stop = end;
    let window = WINDOW;
    while (out.length < limit && stop > 0) {
      const from = Math.max(0, stop - window);
      let pos = this.#lineStartFrom(from);
      if (pos >= stop) {
        // One line longer than the window: look further back.
        window *= 2;
        continue;
      }
      const lines: Line[] = [];
      const first = pos;
      while (pos < stop) {
        const line = this.lineAt(pos);
        if (line === null) break;
        lines.push(line);
        pos = line.next;
      }
      for (let i = lines.length - 1; i >= 0 && out.length < limit; i--) {
        const line = lines[i] as Line;
        if (line.text !== '') out.push(line);
      }
      stop = first;
      window = WINDOW;
    }
    return out;
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/** The reader verify's workers open (AuditLogSource.options: `{ path }`). */
export async function openAuditReader(options: Record<string, unknown>): Promise<AuditReader> {
  const path = options.path;
  if (typeof path !== 'string' || path === '') throw new Error('JSONL audit reader: options.path is not set');
  const file = new LineFile(path);
  return {
    range: async (fromSeq, limit) => file.range(fromSeq, limit),
    rangeText: async (fromSeq, limit) => file.rangeText(fromSeq, limit),
    close: async () => file.close(),
  };
}
