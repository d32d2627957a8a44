// Turning entries into chained records: each record carries its seq, the previous record's
// hash and its own hash. Each field is encoded once per record, for two texts: the
// canonical encoding the hash covers (keys sorted) and the record's JSON as a store keeps
// it (JSON.stringify's text of the record, key for key and byte for byte), so that the
// store does not encode the record a second time (`recordJson`).
import type { AuditHead } from '../store.js';
import {
  CanonicalEncodingError,
  encodeContent,
  encodeString,
  encodeValue,
  needsEscape,
  sha256Hex,
} from './hash.js';
import { type AuditEntry, type AuditRecord, GENESIS_HASH } from './record.js';

/**
 * Chain `entries` after `head` (null: an empty log). Returns new records holding the
 * AuditEntry fields of each entry (an unknown member is not carried); the entries are not
 * modified. The records are frozen: each keeps the JSON text it was chained with
 * (`recordJson`), so a changed record is a copy (`{ ...r, field }`), with a text of its own.
 */
export function chainEntries(head: AuditHead | null, entries: readonly AuditEntry[]): AuditRecord[] {
  let seq = head ? head.seq : 0;
  let prev = head ? head.hash : GENESIS_HASH;
  if (!Number.isSafeInteger(seq)) throw new CanonicalEncodingError(`cannot chain after seq ${seq}`);
  const out: AuditRecord[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    seq += 1;
    const r = chainOne(entries[i] as AuditEntry, seq, prev);
    out[i] = r;
    prev = r.hash;
  }
  return out;
}

/**
 * The record's JSON text, as `JSON.stringify(record)` writes it: the text made when it was
 * chained when `r` is a record chainEntries made, else JSON.stringify's.
 */
export function recordJson(r: AuditRecord): string {
  return ChainedRecord.json(r);
}

/** A record chainEntries made, with its JSON text (not a member: no copy or encoding sees it). */
class ChainedRecord {
  declare seq: number;
  declare prev: string;
  declare hash: string;
  declare category: AuditRecord['category'];
  declare time: string;
  declare traceId: string;
  declare eventId: string;
  declare kind: string;
  declare from: string;
  declare to: string;
  declare fromNetwork: string;
  declare toNetwork: string;
  declare direction: string;
  declare decision: AuditRecord['decision'];
  declare rule: string | null;
  declare reason: string | null;
  declare policyVersion: string;
  declare content: AuditRecord['content'];
  declare sourceAdapter: string;
  declare targetAdapter: string | null;
  declare actor?: string;
  declare details?: AuditRecord['details'];
  declare eventTime?: string;
  declare transforms?: AuditRecord['transforms'];
  declare outcome?: AuditRecord['outcome'];
  declare outcomeReason?: string | null;
  readonly #json: string;

  static json(r: AuditRecord): string {
    return #json in r ? (r as ChainedRecord).#json : JSON.stringify(r);
  }

  constructor(e: AuditEntry, seq: number, prev: string, hash: string, json: string) {
    this.#json = json;
    // Every field assigned in one order: one object shape for all records of a kind, and
    // the member order JSON.stringify follows (the order of `json`).
    this.seq = seq;
    this.prev = prev;
    this.hash = hash;
    this.category = e.category;
    this.time = e.time;
    this.traceId = e.traceId;
    this.eventId = e.eventId;
    this.kind = e.kind;
    this.from = e.from;
    this.to = e.to;
    this.fromNetwork = e.fromNetwork;
    this.toNetwork = e.toNetwork;
    this.direction = e.direction;
    this.decision = e.decision;
    this.rule = e.rule;
    this.reason = e.reason;
    this.policyVersion = e.policyVersion;
    this.content = e.content;
    this.sourceAdapter = e.sourceAdapter;
    this.targetAdapter = e.targetAdapter;
    // Optional fields are carried only when set, so records without them hash as before.
    if (e.actor !== undefined) this.actor = e.actor;
    if (e.details !== undefined) this.details = e.details;
    if (e.eventTime !== undefined) this.eventTime = e.eventTime;
    if (e.transforms !== undefined) this.transforms = e.transforms;
    if (e.outcome !== undefined) this.outcome = e.outcome;
    if (e.outcomeReason !== undefined) this.outcomeReason = e.outcomeReason;
    // Its text must stay what it says.
    Object.freeze(this);
  }
}

// `,"key":value` with the canonical encoding of the value ('' when undefined). A string
// encodes the same in both texts. Members are concatenated, not joined: V8 builds the text
// as a tree of the pieces and copies it once, when it is hashed or written.
function member(prefix: string, v: unknown): string {
  if (v === undefined) return '';
  return prefix + (typeof v === 'string' ? encodeString(v) : encodeValue(v));
}

// `member` for a value that differs in each record (an id, an address, a time): the quotes
// folded into the pieces around it, one piece fewer to copy in each text.
// (`open` is the prefix with the opening quote.)
function own(open: string, v: unknown): string {
  return typeof v === 'string' && !needsEscape(v) ? `${open}${v}"` : member(open.slice(0, -1), v);
}

// The member in JSON.stringify's text: an object keeps its own key order there.
function jsonMember(prefix: string, v: unknown, canonical: string): string {
  return typeof v === 'object' && v !== null ? prefix + JSON.stringify(v) : canonical;
}

/**
 * `s` as one flat string. A text made by concatenation is a tree of its pieces, copied into
 * one string each time it is hashed or written (at some 10–20 ns a piece): a member used
 * in every record is kept flat.
 */
const flat = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

/**
 * The members of a field with few distinct values (a kind, a network, a rule, an adapter),
 * each encoded once: most of a record's members, and the same in every record.
 */
class FewValues {
  readonly #prefix: string;
  readonly #null: string;
  #known = new Map<string, string>();

  constructor(key: string) {
    this.#prefix = `,"${key}":`;
    this.#null = `${this.#prefix}null`;
  }

  member(v: unknown): string {
    if (typeof v !== 'string') return v === null ? this.#null : member(this.#prefix, v);
    let m = this.#known.get(v);
    if (m === undefined) {
      m = flat(this.#prefix + encodeString(v));
      // Bounded: a field with many values (a free-text reason) only stops being cached.
      if (this.#known.size >= 256) this.#known = new Map();
      if (v.length <= 256) this.#known.set(v, m);
    }
    return m;
  }
}

const few = {
  category: new FewValues('category'),
  decision: new FewValues('decision'),
  direction: new FewValues('direction'),
  fromNetwork: new FewValues('fromNetwork'),
  kind: new FewValues('kind'),
  outcome: new FewValues('outcome'),
  outcomeReason: new FewValues('outcomeReason'),
  policyVersion: new FewValues('policyVersion'),
  reason: new FewValues('reason'),
  rule: new FewValues('rule'),
  sourceAdapter: new FewValues('sourceAdapter'),
  targetAdapter: new FewValues('targetAdapter'),
  toNetwork: new FewValues('toNetwork'),
};

// The content members of the last frozen "none" content (every outcome record's): encoded
// once, as it cannot change.
let frozenContent: object | null = null;
let frozenContentC = '';
let frozenContentJ = '';

// The last `time` member: records written in the same millisecond share it.
let lastTime: string | undefined;
let lastTimeMember = '';

function chainOne(e: AuditEntry, seq: number, prev: string): ChainedRecord {
  const actor = member(',"actor":', e.actor);
  const category = e.category === undefined ? '' : few.category.member(e.category);
  const content = e.content as AuditEntry['content'] | undefined;
  let contentC = '';
  let contentJ = '';
  if (content !== undefined && content === frozenContent) {
    contentC = frozenContentC;
    contentJ = frozenContentJ;
  } else if (content !== undefined) {
    contentC = `,"content":${encodeContent(content)}`;
    contentJ = jsonMember(',"content":', content, contentC);
    if (content.mode === 'none' && Object.isFrozen(content)) {
      frozenContent = content;
      frozenContentC = flat(contentC);
      frozenContentJ = flat(contentJ);
    }
  }
  const decision = e.decision === undefined ? '' : few.decision.member(e.decision);
  const details = member(',"details":', e.details);
  const direction = e.direction === undefined ? '' : few.direction.member(e.direction);
  const eventId = own(',"eventId":"', e.eventId);
  const eventTime = own(',"eventTime":"', e.eventTime);
  const from = own(',"from":"', e.from);
  const fromNetwork = e.fromNetwork === undefined ? '' : few.fromNetwork.member(e.fromNetwork);
  const kind = e.kind === undefined ? '' : few.kind.member(e.kind);
  const outcome = e.outcome === undefined ? '' : few.outcome.member(e.outcome);
  const outcomeReason = e.outcomeReason === undefined ? '' : few.outcomeReason.member(e.outcomeReason);
  const policyVersion = e.policyVersion === undefined ? '' : few.policyVersion.member(e.policyVersion);
  const prevM = own(',"prev":"', prev);
  const reason = e.reason === undefined ? '' : few.reason.member(e.reason);
  const rule = e.rule === undefined ? '' : few.rule.member(e.rule);
  // An integer (chainEntries checks the head's), which encodes as its digits.
  const seqM = `,"seq":${seq}`;
  const sourceAdapter = e.sourceAdapter === undefined ? '' : few.sourceAdapter.member(e.sourceAdapter);
  const targetAdapter = e.targetAdapter === undefined ? '' : few.targetAdapter.member(e.targetAdapter);
  if (typeof e.time !== 'string' || e.time !== lastTime) {
    lastTimeMember = own(',"time":"', e.time);
    lastTime = e.time;
  }
  const time = lastTimeMember;
  const to = own(',"to":"', e.to);
  const toNetwork = e.toNetwork === undefined ? '' : few.toNetwork.member(e.toNetwork);
  const traceId = own(',"traceId":"', e.traceId);
  const transforms = member(',"transforms":', e.transforms);

  // The canonical encoding without `hash`: keys sorted. `prev` and `seq` are always there,
  // so the first member is one before `prev` (usually `category`); its comma goes.
  const rest =
    contentC +
    decision +
    details +
    direction +
    eventId +
    eventTime +
    from +
    fromNetwork +
    kind +
    outcome +
    outcomeReason +
    policyVersion +
    prevM;
  const head =
    actor === '' && category !== ''
      ? `{${category.slice(1)}${rest}`
      : `{${(actor + category + rest).slice(1)}`;
  const hash = sha256Hex(
    `${head}${reason}${rule}${seqM}${sourceAdapter}${targetAdapter}${time}${to}${toNetwork}${traceId}${transforms}}`,
  );

  // JSON.stringify's text of the record the constructor builds: its members in that order.
  const json =
    `{${seqM.slice(1)}${prevM},"hash":"${hash}"` +
    jsonMember(',"category":', e.category, category) +
    jsonMember(',"time":', e.time, time) +
    jsonMember(',"traceId":', e.traceId, traceId) +
    jsonMember(',"eventId":', e.eventId, eventId) +
    jsonMember(',"kind":', e.kind, kind) +
    jsonMember(',"from":', e.from, from) +
    jsonMember(',"to":', e.to, to) +
    jsonMember(',"fromNetwork":', e.fromNetwork, fromNetwork) +
    jsonMember(',"toNetwork":', e.toNetwork, toNetwork) +
    jsonMember(',"direction":', e.direction, direction) +
    jsonMember(',"decision":', e.decision, decision) +
    jsonMember(',"rule":', e.rule, rule) +
    jsonMember(',"reason":', e.reason, reason) +
    jsonMember(',"policyVersion":', e.policyVersion, policyVersion) +
    contentJ +
    jsonMember(',"sourceAdapter":', e.sourceAdapter, sourceAdapter) +
    jsonMember(',"targetAdapter":', e.targetAdapter, targetAdapter) +
    jsonMember(',"actor":', e.actor, actor) +
    jsonMember(',"details":', e.details, details) +
    jsonMember(',"eventTime":', e.eventTime, eventTime) +
    jsonMember(',"transforms":', e.transforms, transforms) +
    jsonMember(',"outcome":', e.outcome, outcome) +
    jsonMember(',"outcomeReason":', e.outcomeReason, outcomeReason) +
    '}';
  return new ChainedRecord(e, seq, prev, hash, json);
}
