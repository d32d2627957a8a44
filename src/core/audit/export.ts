// Audit exports, streamed chunk by chunk:
//  - jsonl: one record per line, every field (a JSONL export verifies like the log itself);
//  - csv: RFC 4180 (CRLF line ends, quoted fields), a header row, and cells that a
//    spreadsheet would run as a formula (= + - @ as the first character after any leading
//    blanks, or a leading tab or CR) prefixed with ';
//  - eml: one RFC 5322 message per conversation (the unordered pair of parties), the
//    conversation's records listed in order in a text/plain body (quoted-printable,
//    UTF-8). The messages are concatenated as an mboxrd stream: each starts with a
//    `From parley@parley.invalid <asctime>` separator line, lines of a message matching
//    /^>*From / get one more '>', and each message ends with an empty line. Line ends are
//    LF, as in mbox files. Admin records belong to no conversation and are left out.
//    A conversation's lines wait in memory until it is written: at most EML_MAX_LINES,
//    then the conversations so far are written and go on in new messages.
import { tryParseAddress } from '../address.js';
import type { AuditLog } from '../store.js';
import { compileFilter } from './query.js';
import type { AuditRecord } from './record.js';
import type { AuditFilter, ExportFormat } from './types.js';
import { readLog } from './verify.js';

/**
 * How far a record's time may be behind one appended before it: records are appended in
 * the order they are written, each with the time it was written, but a batch waits for the
 * append before it (or re-chains after another replica's), and replicas' clocks differ a
 * little. A time-range export reads from this much before its start and stops this much
 * after its end, so that it finds every record in the range while reading little else.
 */
export const TIME_ORDER_SLACK_MS = 5 * 60_000;

/**
 * The seq to read records written at or after `fromMs` from: a binary search on range()
 * for the first record written at or after `fromMs - TIME_ORDER_SLACK_MS` (records are in
 * time order within that slack). A record without a readable time counts as late enough.
 */
export async function seqAtTime(log: AuditLog, fromMs: number): Promise<number> {
  const head = await log.head();
  if (!head) return 1;
  const start = fromMs - TIME_ORDER_SLACK_MS;
  let lo = 1;
  let hi = head.seq + 1;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const r = (await log.range(mid, 1))[0];
    const time = r ? Date.parse(r.time) : Number.NaN;
    if (r && time < start) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Records of the log matching `filter`, oldest first, read in pages: one page in memory
 * at a time. With a time range, reading starts near its first record and ends soon after
 * its last (seqAtTime).
 */
export async function* iterateLog(
  log: AuditLog,
  filter: AuditFilter = {},
  pageSize = 1000,
): AsyncGenerator<AuditRecord> {
  const match = compileFilter(filter);
  const fromSeq = filter.from === undefined ? 1 : await seqAtTime(log, Date.parse(filter.from));
  const stopAt =
    filter.to === undefined ? Number.POSITIVE_INFINITY : Date.parse(filter.to) + TIME_ORDER_SLACK_MS;
  for await (const r of readLog(log, pageSize, fromSeq)) {
    if (Date.parse(r.time) >= stopAt) return;
    if (match(r)) yield r;
  }
}

/** Export options: the most lines an EML export keeps before it writes its conversations. */
export interface ExportOptions {
  emlMaxLines?: number;
}

export function exportRecords(
  records: AsyncIterable<AuditRecord> | Iterable<AuditRecord>,
  format: ExportFormat,
  opts: ExportOptions = {},
): AsyncGenerator<string> {
  switch (format) {
    case 'jsonl':
      return exportJsonl(records);
    case 'csv':
      return exportCsv(records);
    case 'eml':
      return exportEml(records, opts.emlMaxLines);
  }
}

/** Content type and file extension of each format. */
export const EXPORT_MEDIA: Record<ExportFormat, { contentType: string; extension: string }> = {
  jsonl: { contentType: 'application/x-ndjson; charset=utf-8', extension: 'jsonl' },
  csv: { contentType: 'text/csv; charset=utf-8; header=present', extension: 'csv' },
  eml: { contentType: 'application/mbox', extension: 'mbox' },
};

type Source = AsyncIterable<AuditRecord> | Iterable<AuditRecord>;

async function* batched(records: Source, render: (r: AuditRecord) => string): AsyncGenerator<string> {
  let buf = '';
  for await (const r of records as AsyncIterable<AuditRecord>) {
    buf += render(r);
    if (buf.length >= 65536) {
      yield buf;
      buf = '';
    }
  }
  if (buf.length > 0) yield buf;
}

export function exportJsonl(records: Source): AsyncGenerator<string> {
  return batched(records, (r) => `${JSON.stringify(r)}\n`);
}

// ---------------------------------------------------------------------------------------
// CSV

export const CSV_COLUMNS = [
  'seq',
  'time',
  'category',
  'kind',
  'from',
  'to',
  'fromNetwork',
  'toNetwork',
  'direction',
  'decision',
  'rule',
  'reason',
  'transforms',
  'outcome',
  'outcomeReason',
  'policyVersion',
  'contentMode',
  'content',
  'sourceAdapter',
  'targetAdapter',
  'actor',
  'details',
  'eventId',
  'eventTime',
  'traceId',
  'prev',
  'hash',
] as const;

/**
 * Text a spreadsheet would evaluate: a formula sign as the first character that is not a
 * blank (spreadsheets skip leading spaces, so ` =1+2` is a formula too), or a leading tab
 * or CR. Blanks: every Unicode space (\s) and the zero-width space.
 */
const FORMULA = /^(?:[\t\r]|[\s\u200b]*[=+\-@])/;

/** One CSV cell: formula-injection safe, quoted when needed (RFC 4180). */
export function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  let s = String(value);
  if (typeof value === 'string' && FORMULA.test(s)) s = `'${s}`;
  if (/[",\r\n]/.test(s)) return `"${s.replace(/"/g, '""')}"`;
  return s;
}

function csvRow(r: AuditRecord): string {
  const content =
    r.content.mode === 'full' ? r.content.body : r.content.mode === 'hash' ? r.content.sha256 : '';
  const cells = [
    r.seq,
    r.time,
    r.category,
    r.kind,
    r.from,
    r.to,
    r.fromNetwork,
    r.toNetwork,
    r.direction,
    r.decision,
    r.rule,
    r.reason,
    r.transforms === undefined ? undefined : JSON.stringify(r.transforms),
    r.outcome,
    r.outcomeReason,
    r.policyVersion,
    r.content.mode,
    content,
    r.sourceAdapter,
    r.targetAdapter,
    r.actor,
    r.details === undefined ? undefined : JSON.stringify(r.details),
    r.eventId,
    r.eventTime,
    r.traceId,
    r.prev,
    r.hash,
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

export async function* exportCsv(records: Source): AsyncGenerator<string> {
  yield `${CSV_COLUMNS.join(',')}\r\n`;
  yield* batched(records, csvRow);
}

// ---------------------------------------------------------------------------------------
// EML (mboxrd)

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number): string => String(n).padStart(2, '0');

const toDate = (iso: string): Date => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? new Date(0) : d;
};

/** RFC 5322 date-time in UTC: `Thu, 01 Jan 2026 10:00:00 +0000`. */
export function rfc5322Date(d: Date): string {
  return `${DAYS[d.getUTCDay()]}, ${p2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
}

/** The asctime date of an mbox separator line: `Thu Jan  1 10:00:00 2026`. */
function asctime(d: Date): string {
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to remove control characters
const stripControls = (s: string): string => s.replace(/[\u0000-\u001f\u007f]/g, ' ');

/** A header value: printable ASCII as is, anything else as an RFC 2047 encoded-word. */
function headerText(s: string): string {
  const clean = stripControls(s);
  if (/^[\x20-\x7e]*$/.test(clean)) return clean;
  return `=?UTF-8?B?${Buffer.from(clean, 'utf8').toString('base64')}?=`;
}

/** A mailbox for a party: the URI as display name and user@domain as address. */
export function mailbox(uri: string): string {
  const a = tryParseAddress(uri);
  const local = a ? a.user.replace(/[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]/g, '_').replace(/^\.+|\.+$/g, '') : '';
  const domain = a ? a.domain.replace(/:\d+$/, '').replace(/[^A-Za-z0-9.\-[\]:]/g, '_') : '';
  const addr = local && domain ? `${local}@${domain}` : 'unknown@parley.invalid';
  const clean = stripControls(uri);
  const display = /^[\x20-\x7e]*$/.test(clean)
    ? `"${clean.replace(/[\\"]/g, (c) => `\\${c}`)}"`
    : headerText(clean);
  return `${display} <${addr}>`;
}

/** Quoted-printable (RFC 2045) of UTF-8 text, LF line ends, lines at most 76 characters. */
export function quotedPrintable(text: string): string {
  const out: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    const bytes = Buffer.from(line, 'utf8');
    let cur = '';
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as number;
      const lastOfLine = i === bytes.length - 1;
      let tok: string;
      if ((b === 32 || b === 9) && lastOfLine) tok = `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
      else if ((b >= 33 && b <= 126 && b !== 61) || b === 32 || b === 9) tok = String.fromCharCode(b);
      else tok = `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
      // Never let a line start with "From " or "." (mbox and SMTP trouble).
      if (cur.length === 0 && (b === 0x46 || b === 0x2e)) tok = `=${b.toString(16).toUpperCase()}`;
      if (cur.length + tok.length > 75) {
        out.push(`${cur}=`);
        cur = '';
        if (b === 0x46 || b === 0x2e) tok = `=${b.toString(16).toUpperCase()}`;
      }
      cur += tok;
    }
    out.push(cur);
  }
  return out.join('\n');
}

/** mboxrd quoting of a message's lines: /^>*From / gets one more '>'. */
export function mboxrdQuote(message: string): string {
  return message.replace(/^(>*From )/gm, '>$1');
}

interface ConvLine {
  seq: number;
  /** The last record folded into this line (its outcome record), for X-Parley-Seq. */
  lastSeq: number;
  time: string;
  from: string;
  to: string;
  kind: string;
  decision: string;
  rule: string | null;
  reason: string | null;
  transforms: AuditRecord['transforms'];
  outcome: { seq: number; outcome: string; reason: string | null } | null;
  /** An outcome record whose decision record is not in the export: no content line. */
  outcomeOnly: boolean;
  text: string;
}

interface Conversation {
  a: string;
  b: string;
  lines: ConvLine[];
  /** Lines of decision records by event id, waiting for their outcome record. */
  byEvent: Map<string, ConvLine>;
}

function describe(r: AuditRecord): string {
  switch (r.content.mode) {
    case 'full':
      return r.content.body;
    case 'hash':
      return `(content not kept; sha256 ${r.content.sha256})`;
    case 'none':
      return '(content not kept)';
  }
}

function renderConversation(c: Conversation): string {
  const first = c.lines[0] as ConvLine;
  const last = c.lines[c.lines.length - 1] as ConvLine;
  const date = toDate(first.time);
  const body: string[] = [
    `Parley conversation between ${c.a} and ${c.b}`,
    `${c.lines.length} record(s), ${first.time} to ${last.time}`,
    '',
  ];
  for (const l of c.lines) {
    const rule = l.rule ? `, rule ${l.rule}` : '';
    const reason = l.reason ? ` (${l.reason})` : '';
    const changed = (l.transforms ?? [])
      .map((t) => `; ${t.effect} by rule ${t.rule}${t.reason ? ` (${t.reason})` : ''}`)
      .join('');
    const o = l.outcome;
    const outcome = o
      ? `; outcome ${o.outcome}${o.reason ? ` (${o.reason})` : ''}${o.seq !== l.seq ? ` #${o.seq}` : ''}`
      : '';
    body.push(
      `[${l.time}] #${l.seq} ${l.from} -> ${l.to} ${l.kind} ${l.decision}${rule}${reason}${changed}${outcome}`,
    );
    if (!l.outcomeOnly) for (const t of l.text.split(/\r\n|\r|\n/)) body.push(`    ${t}`);
    body.push('');
  }
  const headers = [
    `From: ${mailbox(c.a)}`,
    `To: ${mailbox(c.b)}`,
    `Date: ${rfc5322Date(date)}`,
    `Subject: ${headerText(`Parley conversation ${c.a} <-> ${c.b}`)}`,
    `Message-ID: <parley-${first.seq}-${last.seq}@parley.invalid>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    `X-Parley-Seq: ${first.seq}-${c.lines.reduce((m, l) => Math.max(m, l.lastSeq), first.seq)}`,
    `X-Parley-Records: ${c.lines.length}`,
    `X-Parley-Last-Date: ${rfc5322Date(toDate(last.time))}`,
  ];
  const message = `${headers.join('\n')}\n\n${quotedPrintable(body.join('\n'))}\n`;
  return `From parley@parley.invalid ${asctime(date)}\n${mboxrdQuote(message)}\n`;
}

/** The most event lines an EML export holds before it writes the conversations it has. */
export const EML_MAX_LINES = 50_000;

/**
 * One message per conversation, its lines in order. A conversation's message is written
 * once all its records were read, so the lines wait in memory: when `maxLines` wait, the
 * conversations so far are written and each goes on in a message of its own (memory
 * stays bounded whatever the range; a small export is one message per conversation).
 */
export async function* exportEml(records: Source, maxLines = EML_MAX_LINES): AsyncGenerator<string> {
  let convs = new Map<string, Conversation>();
  let lines = 0;
  for await (const r of records as AsyncIterable<AuditRecord>) {
    if (r.category !== 'decision' && r.category !== 'outcome') continue;
    const [a, b] = r.from <= r.to ? [r.from, r.to] : [r.to, r.from];
    const key = `${a}\u0000${b}`;
    let c = convs.get(key);
    const outcome =
      r.outcome === undefined ? null : { seq: r.seq, outcome: r.outcome, reason: r.outcomeReason ?? null };
    if (c && r.category === 'outcome') {
      // An outcome completes the line of its event's decision record.
      const decided = c.byEvent.get(r.eventId);
      if (decided) {
        decided.outcome = outcome;
        decided.lastSeq = r.seq;
        c.byEvent.delete(r.eventId);
        continue;
      }
    }
    if (lines >= maxLines) {
      for (const open of convs.values()) yield renderConversation(open);
      convs = new Map();
      lines = 0;
      c = undefined;
    }
    if (!c) {
      c = { a, b, lines: [], byEvent: new Map() };
      convs.set(key, c);
    }
    const line: ConvLine = {
      seq: r.seq,
      lastSeq: r.seq,
      // The event's own time where the record has it.
      time: r.eventTime ?? r.time,
      from: r.from,
      to: r.to,
      kind: r.kind,
      decision: r.decision,
      rule: r.rule,
      reason: r.reason,
      transforms: r.transforms,
      outcome,
      outcomeOnly: r.category === 'outcome',
      text: describe(r),
    };
    c.lines.push(line);
    lines += 1;
    if (r.category === 'decision' && r.outcome === 'pending') c.byEvent.set(r.eventId, line);
  }
  for (const c of convs.values()) yield renderConversation(c);
}
