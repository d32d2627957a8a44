// The trail the search benchmark loads: a realistic mix made fast and deterministically,
// record by record (record i is the same on every run, so a load can resume). People of an
// enterprise and its partners on XMPP, Matrix and SIP; message bodies drawn from a
// Zipf-distributed vocabulary; decisions followed by their outcome records; a few admin
// actions; a year of traffic, in time order.
import type { AuditEntry } from '../src/core/audit/record.js';

/** The year the trail spans, from its first record. */
export const TRAIL_START = Date.UTC(2025, 0, 1);
export const TRAIL_SPAN_MS = 365 * 86_400_000;

const NETWORKS = ['xmpp', 'matrix', 'sip'] as const;
type Network = (typeof NETWORKS)[number];

/** A hash of two integers to 32 random bits (splitmix-like). */
function mix(a: number, b: number): number {
  let x = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b)) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A small generator seeded by (seed, i): the random draws of one record. */
function draws(seed: number, i: number): () => number {
  let s = mix(seed, i) | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = [
  'ka',
  'lo',
  'mi',
  'ra',
  'den',
  'sto',
  'vi',
  'ne',
  'tor',
  'ba',
  'ul',
  'qui',
  'sen',
  'fa',
  'gre',
  'po',
];

function pseudoWord(r: () => number, min: number, max: number): string {
  const n = min + Math.floor(r() * (max - min + 1));
  let w = '';
  for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(r() * SYLLABLES.length)];
  return w;
}

export interface Person {
  user: string;
  domain: string;
  network: Network;
}

export interface TrailModel {
  people: Person[];
  /** Vocabulary, most frequent first. */
  words: string[];
  /** Cumulative Zipf weights of `words` (last = 1). */
  cumulative: Float64Array;
}

const COMMON = [
  'the',
  'and',
  'to',
  'of',
  'a',
  'in',
  'is',
  'for',
  'on',
  'we',
  'you',
  'it',
  'with',
  'please',
  'thanks',
  'meeting',
  'invoice',
  'contract',
  'report',
  'call',
  'tomorrow',
  'today',
  'order',
  'delivery',
  'price',
  'offer',
  'draft',
  'review',
  'signed',
  'budget',
  'quarterly',
  'shipment',
];

/** People and vocabulary, the same for a seed. */
export function trailModel(seed = 42, people = 20_000, vocabulary = 20_000): TrailModel {
  const r = draws(seed, -1);
  const domains = [
    'corp.example',
    'eu.corp.example',
    ...Array.from({ length: 30 }, (_, i) => `partner${i}.example`),
    ...Array.from({ length: 8 }, (_, i) => `hs${i}.example`),
  ];
  const seen = new Set<string>();
  const ps: Person[] = [];
  while (ps.length < people) {
    const user = `${pseudoWord(r, 1, 2)}.${pseudoWord(r, 1, 3)}`;
    // Half the people are the enterprise's.
    const domain =
      r() < 0.5
        ? (domains[Math.floor(r() * 2)] as string)
        : (domains[2 + Math.floor(r() * (domains.length - 2))] as string);
    const key = `${user}@${domain}`;
    if (seen.has(key)) continue;
    seen.add(key);
    ps.push({ user, domain, network: NETWORKS[Math.floor(r() * 3)] as Network });
  }
  const words: string[] = [...COMMON];
  const known = new Set(words);
  while (words.length < vocabulary) {
    const w = pseudoWord(r, 1, 4);
    if (known.has(w)) continue;
    known.add(w);
    words.push(w);
  }
  const cumulative = new Float64Array(words.length);
  let total = 0;
  for (let k = 0; k < words.length; k++) {
    total += 1 / (k + 1);
    cumulative[k] = total;
  }
  for (let k = 0; k < words.length; k++) cumulative[k] = (cumulative[k] as number) / total;
  return { people: ps, words, cumulative };
}

/** A word drawn by its Zipf weight. */
export const zipfWord = (m: TrailModel, u: number): string => m.words[zipfRank(m, u)] as string;

/** The rank (0: the commonest) of a word drawn by its Zipf weight. */
export function zipfRank(m: TrailModel, u: number): number {
  let lo = 0;
  let hi = m.cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((m.cumulative[mid] as number) < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export const uriOf = (p: Person): string =>
  p.network === 'xmpp'
    ? `xmpp:${p.user}@${p.domain}`
    : p.network === 'matrix'
      ? `matrix:u/${p.user}:${p.domain}`
      : `sip:${p.user}@${p.domain}`;

const RULES = ['partners-talk', 'block-rival', 'redact-cards', 'consumer-disclaimer', null];
const OUTCOMES = ['delivered', 'delivered', 'delivered', 'delivered', 'refused', 'failed', 'queued'] as const;
const FROZEN_NONE = Object.freeze({ mode: 'none' as const });
const PUNCT = [' ', ' ', ' ', ' ', ', ', '. ', '? ', '! ', ' - '];

/**
 * Record i of a trail of `count` (0-based): even i is an event's decision record, odd i
 * its outcome record when the event was allowed, else another event's decision.
 */
export function entryAt(m: TrailModel, count: number, i: number, seed = 42): AuditEntry {
  const event = i >> 1;
  const r = draws(seed, i & ~1);
  const time = new Date(
    TRAIL_START + Math.floor((TRAIL_SPAN_MS * i) / count) + Math.floor(r() * 1000),
  ).toISOString();
  if (r() < 0.005) {
    const actor = r() < 0.5 ? 'auditor' : 'admin';
    return {
      category: 'admin',
      time,
      traceId: `adm-${i}`,
      eventId: `adm-${i}`,
      kind: r() < 0.5 ? 'audit.search' : 'session.sign-in',
      from: actor,
      to: '',
      fromNetwork: '',
      toNetwork: '',
      direction: 'internal',
      decision: 'allow',
      rule: null,
      reason: null,
      policyVersion: '2025.1',
      content: FROZEN_NONE,
      sourceAdapter: 'api',
      targetAdapter: null,
      actor,
      details: { n: i },
    };
  }
  const from = m.people[Math.floor(r() * m.people.length)] as Person;
  const to = m.people[Math.floor(r() * m.people.length)] as Person;
  const deny = r() < 0.1;
  const decision = deny ? 'deny' : r() < 0.1 ? 'redact' : 'allow';
  const rule = deny ? 'block-rival' : (RULES[Math.floor(r() * RULES.length)] ?? null);
  const kindDraw = r();
  const kind =
    kindDraw < 0.75 ? 'message' : kindDraw < 0.85 ? 'call' : kindDraw < 0.95 ? 'presence' : 'receipt';
  const modeDraw = r();
  let body = '';
  if (kind === 'message') {
    const n = 3 + Math.floor(r() * 28);
    for (let w = 0; w < n; w++) body += (w ? PUNCT[Math.floor(r() * PUNCT.length)] : '') + zipfWord(m, r());
  } else {
    body = kind === 'call' ? '{"action":"invite","media":["audio"]}' : '{"show":"away"}';
  }
  const content: AuditEntry['content'] =
    modeDraw < 0.8
      ? { mode: 'full', body }
      : modeDraw < 0.9
        ? { mode: 'hash', sha256: 'ab'.repeat(32) }
        : FROZEN_NONE;
  const base: AuditEntry = {
    category: 'decision',
    time,
    eventTime: time,
    traceId: `tr-${event}`,
    eventId: `ev-${event}`,
    kind,
    from: uriOf(from),
    to: uriOf(to),
    fromNetwork: from.network,
    toNetwork: to.network,
    direction: from.domain.endsWith('corp.example') ? 'outbound' : 'inbound',
    decision,
    rule,
    reason: deny ? 'Communication with competitors is prohibited' : null,
    policyVersion: '2025.1',
    content,
    sourceAdapter: from.network,
    targetAdapter: deny ? null : to.network,
    outcome: deny ? 'denied' : 'pending',
  };
  if ((i & 1) === 0) return base;
  if (deny)
    return {
      ...entryAt(m, count, i + 1, seed ^ 0x5bd1e995),
      time,
      eventId: `ev-${event}b`,
      traceId: `tr-${event}b`,
    };
  const outcome = OUTCOMES[Math.floor(r() * OUTCOMES.length)] as (typeof OUTCOMES)[number];
  return {
    ...base,
    category: 'outcome',
    content: FROZEN_NONE,
    outcome,
    outcomeReason: outcome === 'delivered' ? null : 'M_FORBIDDEN',
  };
}
