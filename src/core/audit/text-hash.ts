// A record's hash straight from its JSON text, without building the record: what verify
// spends most of its time on otherwise is JSON.parse and the garbage it leaves. Only for
// the simple form, which is how a store writes records (recordJson: JSON.stringify's
// text): no backslash, control character or surrogate anywhere (so every `"` starts or
// ends a string, and a string's text is its canonical encoding), record fields only, each
// once, numbers in their canonical form. Any other text gets null, and the caller parses it
// (JSON.parse, hashRecord): never a different answer, only a slower one (a property test
// holds this to hashRecord over random and damaged texts).
import { canonicalJson, sha256Hex } from './hash.js';

/** What verify needs of a record: its chain fields, and the hash computed from its text. */
export interface HashedText {
  seq: number;
  prev: string;
  hash: string;
  computed: string;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters
const NOT_SIMPLE = /[\\\u0000-\u001f\ud800-\udfff]/;

// The record's fields in canonical (sorted) order.
const KEYS = [
  'actor',
  'category',
  'content',
  'decision',
  'details',
  'direction',
  'eventId',
  'eventTime',
  'from',
  'fromNetwork',
  'hash',
  'kind',
  'outcome',
  'outcomeReason',
  'policyVersion',
  'prev',
  'reason',
  'rule',
  'seq',
  'sourceAdapter',
  'targetAdapter',
  'time',
  'to',
  'toNetwork',
  'traceId',
  'transforms',
] as const;
const SLOTS = KEYS.length;
const SLOT = new Map<string, number>(KEYS.map((k, i) => [k, i]));
const HASH = SLOT.get('hash') as number;
const PREV = SLOT.get('prev') as number;
const SEQ = SLOT.get('seq') as number;
const CONTENT = SLOT.get('content') as number;
/** `"key":` of each slot, and the same with a leading comma. */
const MEMBER = KEYS.map((k) => `"${k}":`);
const NEXT_MEMBER = KEYS.map((k) => `,"${k}":`);
// The order JSON.stringify writes a record chainEntries made (chain.ts): each key's slot
// is guessed from the one before, so a key is compared once instead of looked up.
const JSON_ORDER = [
  'seq',
  'prev',
  'hash',
  'category',
  'time',
  'traceId',
  'eventId',
  'kind',
  'from',
  'to',
  'fromNetwork',
  'toNetwork',
  'direction',
  'decision',
  'rule',
  'reason',
  'policyVersion',
  'content',
  'sourceAdapter',
  'targetAdapter',
  'actor',
  'details',
  'eventTime',
  'transforms',
  'outcome',
  'outcomeReason',
].map((k) => SLOT.get(k) as number);
/** The slot JSON_ORDER puts after each slot (-1: none). */
const AFTER = new Int32Array(SLOTS).fill(-1);
for (let i = 0; i + 1 < JSON_ORDER.length; i++) AFTER[JSON_ORDER[i] as number] = JSON_ORDER[i + 1] as number;

const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

// Where each slot's value is in the text (reused: one record at a time).
const start = new Int32Array(SLOTS);
const stop = new Int32Array(SLOTS);

/** The index of the bracket closing the one at `i`, or -1 (strings hold no quote here). */
function closing(t: string, i: number, end: number): number {
  let depth = 0;
  for (let j = i; j < end; j++) {
    const c = t.charCodeAt(j);
    if (c === 34) {
      j = t.indexOf('"', j + 1);
      if (j < 0 || j >= end) return -1;
    } else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) {
      depth -= 1;
      if (depth === 0) return j;
    }
  }
  return -1;
}

/** The slot of the key at `t[i]` (its opening quote), or -1. */
function slotAt(t: string, i: number, guess: number): number {
  if (guess >= 0 && t.startsWith(MEMBER[guess] as string, i)) return guess;
  const e = t.indexOf('"', i + 1);
  if (e < 0 || t.charCodeAt(e + 1) !== 58) return -1;
  return SLOT.get(t.slice(i + 1, e)) ?? -1;
}

/** The canonical encoding of a value's text (a nested value re-encoded), or null. */
function canonicalValue(t: string, s: number, e: number, slot: number): string | null {
  const c = t.charCodeAt(s);
  if (c === 34) return t.slice(s, e);
  if (c === 123 || c === 91) {
    const raw = t.slice(s, e);
    if (slot === CONTENT) {
      // The content shapes a record has, written in their JSON.stringify order.
      if (raw === '{"mode":"none"}') return raw;
      if (raw.startsWith('{"mode":"full","body":"') && raw.indexOf('"', 23) === raw.length - 2)
        return `{"body":${raw.slice(22, -1)},"mode":"full"}`;
      if (raw.startsWith('{"mode":"hash","sha256":"') && raw.indexOf('"', 25) === raw.length - 2) return raw;
    }
    try {
      return canonicalJson(JSON.parse(raw));
    } catch {
      return null;
    }
  }
  const raw = t.slice(s, e);
  if (raw === 'null' || raw === 'true' || raw === 'false') return raw;
  return NUMBER.test(raw) && String(Number(raw)) === raw ? raw : null;
}

/**
 * The hash of the record `text` holds (as hashRecord(JSON.parse(text)) gives it) with its
 * seq, prev and stored hash; null when the text is not in the simple form (parse it).
 */
export function hashRecordText(t: string): HashedText | null {
  const end = t.length - 1;
  if (end < 2 || t.charCodeAt(0) !== 123 || t.charCodeAt(end) !== 125 || NOT_SIMPLE.test(t)) return null;
  start.fill(-1);
  let i = 1;
  let guess = JSON_ORDER[0] as number;
  for (;;) {
    if (t.charCodeAt(i) !== 34) return null;
    const slot = slotAt(t, i, guess);
    if (slot < 0 || (start[slot] as number) >= 0) return null;
    const s = i + (MEMBER[slot] as string).length;
    const c = t.charCodeAt(s);
    let e: number;
    if (c === 34) {
      e = t.indexOf('"', s + 1) + 1;
      if (e === 0 || e > end) return null;
    } else if (c === 123 || c === 91) {
      e = closing(t, s, end) + 1;
      if (e === 0) return null;
    } else {
      e = t.indexOf(',', s);
      if (e < 0 || e > end) e = end;
    }
    start[slot] = s;
    stop[slot] = e;
    if (e === end) break;
    if (t.charCodeAt(e) !== 44) return null;
    i = e + 1;
    guess = AFTER[slot] as number;
  }
  const hashAt = start[HASH] as number;
  const prevAt = start[PREV] as number;
  const seqAt = start[SEQ] as number;
  if (hashAt < 0 || prevAt < 0 || seqAt < 0) return null;
  // seq a number, prev and hash strings (else the parsed record says what is wrong).
  const d = t.charCodeAt(seqAt);
  if (!((d >= 48 && d <= 57) || d === 45) || t.charCodeAt(hashAt) !== 34 || t.charCodeAt(prevAt) !== 34)
    return null;
  let out = '';
  for (let k = 0; k < SLOTS; k++) {
    const s = start[k] as number;
    if (s < 0 || k === HASH) continue;
    const v = canonicalValue(t, s, stop[k] as number, k);
    if (v === null) return null;
    out += (out === '' ? MEMBER[k] : NEXT_MEMBER[k]) + v;
  }
  const seq = Number(t.slice(seqAt, stop[SEQ]));
  return {
    seq,
    prev: t.slice(prevAt + 1, (stop[PREV] as number) - 1),
    hash: t.slice(hashAt + 1, (stop[HASH] as number) - 1),
    computed: sha256Hex(`{${out}}`),
  };
}
