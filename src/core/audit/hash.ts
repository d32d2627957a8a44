// Canonical encoding and record hashing. The encoding is JSON with object keys sorted by
// UTF-16 code units, no whitespace, ECMAScript number and string serialisation: RFC 8785
// (JCS) for the value types an audit record holds (strings, finite numbers, booleans,
// null, arrays, plain objects). `undefined` object members are omitted, as JSON does.
import * as crypto from 'node:crypto';
import type { AuditEntry, AuditRecord } from './record.js';

export class CanonicalEncodingError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalEncodingError';
  }
}

// Strings without quotes, backslashes, control characters or surrogates encode as
// themselves in quotes; testing for that is about twice as fast as JSON.stringify.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
/** True when `s` does not encode as itself in quotes. */
export const needsEscape = (s: string): boolean => NEEDS_ESCAPE.test(s);

/** The canonical encoding of a string, which is also JSON.stringify's. */
export function encodeString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

function encodeNumber(n: number): string {
  if (!Number.isFinite(n)) throw new CanonicalEncodingError(`cannot encode non-finite number ${n}`);
  return JSON.stringify(n);
}

function encodeMembers(o: Record<string, unknown>, keys: readonly string[], skip: string | null): string {
  let out = '{';
  let first = true;
  for (const k of keys) {
    if (k === skip) continue;
    const v = o[k];
    if (v === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += encodeString(k);
    out += ':';
    out += typeof v === 'string' ? encodeString(v) : encodeValue(v);
  }
  return `${out}}`;
}

// A member's value: strings, the most common, without the call through encodeValue.
const encodeMember = (v: unknown): string => (typeof v === 'string' ? encodeString(v) : encodeValue(v));

/** `content` as its canonical encoding, the three shapes a record has written directly. */
function encodeAnyContent(c: unknown): string {
  if (c !== null && typeof c === 'object' && !Array.isArray(c)) {
    const o = c as Record<string, unknown>;
    const mode = o.mode;
    if (mode === 'full') {
      if (typeof o.body === 'string' && Object.keys(o).length === 2)
        return `{"body":${encodeString(o.body)},"mode":"full"}`;
    } else if (mode === 'hash') {
      if (typeof o.sha256 === 'string' && Object.keys(o).length === 2)
        return `{"mode":"hash","sha256":${encodeString(o.sha256)}}`;
    } else if (mode === 'none' && Object.keys(o).length === 1) return '{"mode":"none"}';
  }
  return encodeValue(c);
}

/**
 * The fast path for a record (what verify hashes, some millions of times): each field of
 * AuditRecord looked up by name, in canonical order (records of one shape share a hidden
 * class, so each lookup is a cached load, where a loop over the key names was a generic
 * keyed lookup each). Null when the object has an own key that is not a record field.
 */
function encodeRecordFast(o: Record<string, unknown>): string | null {
  let n = 0;
  let s = '';
  let v: unknown;
  v = o.actor;
  if (v !== undefined) {
    n++;
    s += `,"actor":${encodeMember(v)}`;
  }
  v = o.category;
  if (v !== undefined) {
    n++;
    s += `,"category":${encodeMember(v)}`;
  }
  v = o.content;
  if (v !== undefined) {
    n++;
    s += `,"content":${encodeAnyContent(v)}`;
  }
  v = o.decision;
  if (v !== undefined) {
    n++;
    s += `,"decision":${encodeMember(v)}`;
  }
  v = o.details;
  if (v !== undefined) {
    n++;
    s += `,"details":${encodeMember(v)}`;
  }
  v = o.direction;
  if (v !== undefined) {
    n++;
    s += `,"direction":${encodeMember(v)}`;
  }
  v = o.eventId;
  if (v !== undefined) {
    n++;
    s += `,"eventId":${encodeMember(v)}`;
  }
  v = o.eventTime;
  if (v !== undefined) {
    n++;
    s += `,"eventTime":${encodeMember(v)}`;
  }
  v = o.from;
  if (v !== undefined) {
    n++;
    s += `,"from":${encodeMember(v)}`;
  }
  v = o.fromNetwork;
  if (v !== undefined) {
    n++;
    s += `,"fromNetwork":${encodeMember(v)}`;
  }
  if (o.hash !== undefined) n++;
  v = o.kind;
  if (v !== undefined) {
    n++;
    s += `,"kind":${encodeMember(v)}`;
  }
  v = o.outcome;
  if (v !== undefined) {
    n++;
    s += `,"outcome":${encodeMember(v)}`;
  }
  v = o.outcomeReason;
  if (v !== undefined) {
    n++;
    s += `,"outcomeReason":${encodeMember(v)}`;
  }
  v = o.policyVersion;
  if (v !== undefined) {
    n++;
    s += `,"policyVersion":${encodeMember(v)}`;
  }
  v = o.prev;
  if (v !== undefined) {
    n++;
    s += `,"prev":${encodeMember(v)}`;
  }
  v = o.reason;
  if (v !== undefined) {
    n++;
    s += `,"reason":${encodeMember(v)}`;
  }
  v = o.rule;
  if (v !== undefined) {
    n++;
    s += `,"rule":${encodeMember(v)}`;
  }
  v = o.seq;
  if (v !== undefined) {
    n++;
    s += `,"seq":${encodeMember(v)}`;
  }
  v = o.sourceAdapter;
  if (v !== undefined) {
    n++;
    s += `,"sourceAdapter":${encodeMember(v)}`;
  }
  v = o.targetAdapter;
  if (v !== undefined) {
    n++;
    s += `,"targetAdapter":${encodeMember(v)}`;
  }
  v = o.time;
  if (v !== undefined) {
    n++;
    s += `,"time":${encodeMember(v)}`;
  }
  v = o.to;
  if (v !== undefined) {
    n++;
    s += `,"to":${encodeMember(v)}`;
  }
  v = o.toNetwork;
  if (v !== undefined) {
    n++;
    s += `,"toNetwork":${encodeMember(v)}`;
  }
  v = o.traceId;
  if (v !== undefined) {
    n++;
    s += `,"traceId":${encodeMember(v)}`;
  }
  v = o.transforms;
  if (v !== undefined) {
    n++;
    s += `,"transforms":${encodeMember(v)}`;
  }
  if (Object.keys(o).length !== n) return null;
  return s === '' ? '{}' : `{${s.slice(1)}}`;
}

function encodeObject(o: Record<string, unknown>, skip: string | null): string {
  if (skip === 'hash') {
    const fast = encodeRecordFast(o);
    if (fast !== null) return fast;
  }
  const keys = Object.keys(o);
  return encodeMembers(o, keys.length > 1 ? keys.sort() : keys, skip);
}

export function encodeValue(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return encodeString(v);
    case 'number':
      return encodeNumber(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) {
          if (i > 0) out += ',';
          const item: unknown = v[i];
          out += item === undefined ? 'null' : encodeValue(item);
        }
        return `${out}]`;
      }
      if (v instanceof Date) return JSON.stringify(v.toISOString());
      return encodeObject(v as Record<string, unknown>, null);
    }
    default:
      throw new CanonicalEncodingError(`cannot encode a value of type ${typeof v}`);
  }
}

/** The canonical encoding of a JSON-like value. */
export function canonicalJson(value: unknown): string {
  return encodeValue(value);
}

// crypto.hash (Node >= 20.12) is several times faster than createHash for small inputs.
type OneShotHash = (algorithm: string, data: string, encoding: 'hex') => string;
const oneShot = (crypto as unknown as { hash?: OneShotHash }).hash;

export function sha256Hex(text: string): string {
  if (oneShot) return oneShot('sha256', text, 'hex');
  return crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

// A member `"key":value,` of the direct encoding; undefined members are omitted.
function member(prefix: string, v: unknown): string {
  if (v === undefined) return '';
  return `${prefix}${typeof v === 'string' ? encodeString(v) : encodeValue(v)},`;
}

export function encodeContent(c: AuditEntry['content']): string {
  // Keys in canonical order: body < mode < sha256.
  if (c.mode === 'none') return '{"mode":"none"}';
  if (c.mode === 'hash') return `{"mode":"hash","sha256":${encodeString(c.sha256)}}`;
  if (c.mode === 'full') return `{"body":${encodeString(c.body)},"mode":"full"}`;
  return encodeValue(c);
}

/**
 * The canonical encoding of the record `entry` becomes at `seq` after `prev`, written field
 * by field in canonical order, without building an intermediate object or looking its keys
 * up. Only the AuditEntry fields are encoded; the equality with canonicalRecord is a
 * property test, and so is the equality of what chainEntries hashes with this.
 */
export function canonicalEntryRecord(e: AuditEntry, seq: number, prev: string): string {
  const content = e.content as AuditEntry['content'] | undefined;
  const s =
    `{${member('"actor":', e.actor)}${member('"category":', e.category)}` +
    `${content === undefined ? '' : `"content":${encodeContent(content)},`}` +
    `${member('"decision":', e.decision)}${member('"details":', e.details)}` +
    `${member('"direction":', e.direction)}${member('"eventId":', e.eventId)}` +
    `${member('"eventTime":', e.eventTime)}` +
    `${member('"from":', e.from)}${member('"fromNetwork":', e.fromNetwork)}` +
    `${member('"kind":', e.kind)}${member('"outcome":', e.outcome)}` +
    `${member('"outcomeReason":', e.outcomeReason)}${member('"policyVersion":', e.policyVersion)}` +
    `"prev":${encodeString(prev)},${member('"reason":', e.reason)}${member('"rule":', e.rule)}` +
    `"seq":${encodeNumber(seq)},${member('"sourceAdapter":', e.sourceAdapter)}` +
    `${member('"targetAdapter":', e.targetAdapter)}${member('"time":', e.time)}` +
    `${member('"to":', e.to)}${member('"toNetwork":', e.toNetwork)}${member('"traceId":', e.traceId)}` +
    `${member('"transforms":', e.transforms)}`;
  // Drop the trailing comma.
  return `${s.slice(0, -1)}}`;
}

/** The canonical encoding of a record without its `hash` member (what the hash covers). */
export function canonicalRecord(record: Omit<AuditRecord, 'hash'> | AuditRecord): string {
  return encodeObject(record as unknown as Record<string, unknown>, 'hash');
}

/** SHA-256 hex over the canonical encoding of every field of the record except `hash` (`prev` included). */
export function hashRecord(record: Omit<AuditRecord, 'hash'> | AuditRecord): string {
  return sha256Hex(canonicalRecord(record));
}
