// Compile a policy document once into an index, so that deciding an event looks up a
// handful of candidate rules instead of scanning them all.
//
// The index: for every (event kind, sender zone, recipient zone) the rules that could match
// are known at compile time. Rules whose every clause is settled by kind and zones alone
// ("partners may talk", "no calls to consumers") are decided at compile time for that
// bucket. The rest are checked per event; those that name domains are filed under the
// domain (exact or `*.suffix`) so that a block list of a thousand domains costs a few map
// lookups. evaluate.ts turns the matching rules into a Decision.
import { RE2JS } from 're2js';
import { type Address, parseAddress } from '../address.js';
import { type CanonicalEvent, EVENT_KINDS, type EventKind } from '../model.js';
import { hasNetworkScheme, uriForms } from '../network.js';
import { DAYS, type DIRECTIONS, type PartyMatch, type PolicyDocument, type Rule } from './schema.js';
import type { Classification, PresenceLevel } from './types.js';

// ---------------------------------------------------------------------------------------
// Small parsers shared with the loader (which reports their errors with line numbers).

const DOMAIN_RE = /^[a-z0-9](?:[a-z0-9\-_]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-_]*[a-z0-9])?)*$/;

/** Null when `p` is a valid domain pattern: `example.com`, `*.example.com` or `*`. */
export function domainPatternError(p: string): string | null {
  if (p === '*') return null;
  const host = p.startsWith('*.') ? p.slice(2) : p;
  if (host.includes('*'))
    return `"${p}": a wildcard may only be "*" or a leading "*." (e.g. "*.example.com")`;
  if (host !== host.toLowerCase()) return `"${p}": write domains in lower case`;
  if (!DOMAIN_RE.test(host)) return `"${p}" is not a valid domain`;
  return null;
}

export interface HoursWindow {
  /** Minutes after local midnight, inclusive. */
  start: number;
  /** Minutes after local midnight, exclusive; less than start when the window wraps midnight. */
  end: number;
}

const HOURS_RE = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/;

/** Parse `HH:MM-HH:MM`; returns an error message instead when malformed. */
export function parseHours(s: string): HoursWindow | string {
  const m = HOURS_RE.exec(s.replace(/\s+/g, ''));
  if (!m) return `"${s}" is not a time window: write "HH:MM-HH:MM", e.g. "09:00-17:30" or "22:00-06:00"`;
  const [sh, sm, eh, em] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
  if (sh > 23 || sm > 59 || em > 59 || eh > 24 || (eh === 24 && em !== 0)) {
    return `"${s}" has an impossible time: hours run 00-23 (24:00 only as an end), minutes 00-59`;
  }
  const start = sh * 60 + sm;
  const end = (eh * 60 + em) % 1440;
  if (start === end) return `"${s}" is empty: start and end are the same time`;
  return { start, end };
}

/** Null when `tz` is an IANA time zone this runtime knows. */
export function timeZoneError(tz: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return null;
  } catch {
    return `unknown time zone "${tz}" (use an IANA name such as "Europe/Berlin" or "UTC")`;
  }
}

export interface RateLimit {
  limit: number;
  windowMs: number;
}

const WINDOWS: Record<string, number> = { s: 1000, min: 60_000, h: 3_600_000 };

/** Parse `N/s`, `N/min` or `N/h`; returns an error message instead when malformed. */
export function parseRateLimit(s: string): RateLimit | string {
  const m = /^\s*(\d{1,9})\s*\/\s*(s|min|h)\s*$/.exec(s);
  if (!m || Number(m[1]) < 1)
    return `"${s}" is not a rate limit: write "N/s", "N/min" or "N/h" with N >= 1, e.g. "30/min"`;
  return { limit: Number(m[1]), windowMs: WINDOWS[m[2]!]! };
}

/** A compiled `content.pattern`: matching and literal replacement, both linear in the body. */
export interface ContentPattern {
  readonly source: string;
  /** Whether the body contains a match. */
  test(body: string): boolean;
  /** Every match replaced with `replacement`, taken literally (`$` and `\\` are plain text). */
  replaceAll(body: string, replacement: string): string;
}

// Why RE2 and not RegExp: patterns run on text any outside sender chooses, and a backtracking
// engine takes exponential time on patterns like `(a+)+$` (one message would stall the event
// loop). RE2 matches in time linear in the body, which rules out the two features below.
const LINEAR_HINT =
  'content patterns run on a linear-time engine (RE2) so that no message can stall the gateway';

/** Null when `src` uses no feature RE2 cannot match in linear time; otherwise why and what instead. */
function nonLinearFeature(src: string): string | null {
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    const at = `(character ${i + 1})`;
    if (c === '\\') {
      const n = src[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(n)) {
        const ref = /^\\\d+/.exec(src.slice(i))![0];
        return `backreference "${ref}" ${at} is not supported: ${LINEAR_HINT}, and a backreference cannot be matched in linear time; write the repeated text out instead (e.g. "(ab)\\1" becomes "abab" or "(ab){2}")`;
      }
      if (!inClass && n === 'k' && src[i + 2] === '<') {
        return `named backreference "\\k<...>" ${at} is not supported: ${LINEAR_HINT}, and a backreference cannot be matched in linear time; write the repeated text out instead`;
      }
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
    } else if (c === '(') {
      const look = /^\(\?(?:=|!|<=|<!)/.exec(src.slice(i, i + 4));
      if (look) {
        const kind = look[0].includes('<') ? 'lookbehind' : 'lookahead';
        return `${kind} "${look[0]}" ${at} is not supported: ${LINEAR_HINT}; match the neighbouring text as part of the pattern instead (e.g. "card(?= number)" becomes "card number"), or split the condition into two rules`;
      }
    }
  }
  return null;
}

/**
 * Compile a `content.pattern` (JavaScript regular-expression syntax, run by RE2); `(?i)` at
 * the start makes it case-insensitive. Throws with a message for the loader when the pattern
 * is malformed or needs backtracking (backreferences, lookahead, lookbehind).
 */
export function compilePattern(src: string): ContentPattern {
  const bad = nonLinearFeature(src);
  if (bad !== null) throw new Error(bad);
  let re: RE2JS;
  try {
    // translateRegExp maps JavaScript-only spellings (`\u00e9`, `\cA`, `(?<name>`) to RE2's.
    re = RE2JS.compile(RE2JS.translateRegExp(src));
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(msg.replace(/^error parsing regexp: /, ''));
  }
  return {
    source: src,
    test: (body) => re.test(body),
    replaceAll: (body, replacement) => re.matcher(body).replaceAll(RE2JS.quoteReplacement(replacement)),
  };
}

/** Lower-cased `network|user|domain` key of a member URI or party. */
const canonKey = (a: Address): string => `${a.network}|${a.user.toLowerCase()}|${hostOf(a.domain)}`;
const bareKey = (user: string, domain: string): string => `${user.toLowerCase()}@${hostOf(domain)}`;
/** Domain without a `:port`. */
const hostOf = (domain: string): string => {
  if (domain.startsWith('[')) return domain;
  const c = domain.lastIndexOf(':');
  return c < 0 ? domain : domain.slice(0, c);
};

/** A segment member or `user` entry: `alice`, `alice@corp.example` or a URI. */
export type MemberRef =
  | { kind: 'local'; key: string }
  | { kind: 'bare'; key: string }
  | { kind: 'uri'; key: string };

/** Parse a member reference; returns an error message instead when malformed. */
export function parseMemberRef(s: string, allowLocal: boolean): MemberRef | string {
  if (hasNetworkScheme(s)) {
    try {
      return { kind: 'uri', key: canonKey(parseAddress(s)) };
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }
  const at = s.lastIndexOf('@');
  if (at < 0) {
    if (allowLocal && s.length > 0 && !/\s/.test(s)) return { kind: 'local', key: s.toLowerCase() };
    return `"${s}" is not a valid member: write user@domain (any network) or a URI (${uriForms()})`;
  }
  const user = s.slice(0, at);
  const domain = s.slice(at + 1).toLowerCase();
  if (!user || /\s/.test(user) || domainPatternError(domain) !== null || domain.includes('*')) {
    return `"${s}" is not a valid member: write user@domain (any network) or a URI (${uriForms()})`;
  }
  return { kind: 'bare', key: bareKey(user, domain) };
}

// ---------------------------------------------------------------------------------------
// Parties and the evaluation context.

/** One end of an event as the policy sees it (cached per address string). */
export interface Party {
  uri: string;
  valid: boolean;
  error: string | null;
  network: string;
  /** Lower-cased user part. */
  user: string;
  /** Host without port, lower case. */
  host: string;
  bare: string;
  canon: string;
  /** Zone index, -1 when no zone matches. */
  zone: number;
  /** Membership per segment index. */
  segs: Uint8Array;
  /** Domain index keys: the host, then `*.` + each proper suffix. */
  domainKeys: string[];
}

export interface EvalContext {
  event: CanonicalEvent;
  kind: number;
  from: Party;
  to: Party;
  direction: Direction;
  /** The decision time when given; otherwise the event's own time is used. */
  now: Date | undefined;
  /** Milliseconds since the epoch of the decision time; NaN until a time clause needs it. */
  nowMs: number;
}

/** The decision time of `ctx` (computed once, only when a rule looks at the clock). */
export function nowOf(ctx: EvalContext): number {
  if (Number.isNaN(ctx.nowMs)) {
    const t = ctx.now ? ctx.now.getTime() : Date.parse(ctx.event.time);
    ctx.nowMs = Number.isNaN(t) ? Date.now() : t;
  }
  return ctx.nowMs;
}

export type Direction = (typeof DIRECTIONS)[number];

/** Tri-state for compile-time bucketing: 0 never, 1 maybe (check per event), 2 always. */
type Tri = 0 | 1 | 2;

export interface Clause {
  name: string;
  test(ctx: EvalContext): boolean;
  /** Plain words for `explain`, given whether the clause held. */
  explain(ctx: EvalContext, held: boolean): string;
  /** What the clause is for an event of this kind between these zones (before looking closer). */
  tri(kind: number, fromZone: number, toZone: number, direction: Direction): Tri;
}

export interface CompiledRule {
  index: number;
  id: string;
  effect: 'allow' | 'deny' | 'redact';
  reason: string | null;
  source: Rule;
  clauses: Clause[];
  test(ctx: EvalContext): boolean;
  /** For redact rules: global pattern and replacement. */
  redact: { re: ContentPattern; replacement: string } | null;
  /** The rule's presence level (obligations.presence), or null. */
  presence: PresenceLevel | null;
  disclaimer: string | null;
  rateLimit: (RateLimit & { text: string }) | null;
  /** Domain index placement for per-event rules. */
  domainKey: { side: 'from' | 'to' | 'any'; keys: string[] } | null;
}

export interface Lists {
  deny: CompiledRule[];
  pass: CompiledRule[];
}

export interface Bucket {
  /** First deny rule settled at compile time for this bucket. */
  staticDeny: CompiledRule | null;
  /**
   * Allow/redact rules settled at compile time, in file order: the first one (it decides
   * when nothing earlier matches) and every later one that adds obligations or transforms
   * (the others cannot change the outcome, so they are not visited per event).
   */
  staticPass: CompiledRule[];
  /** Rules to check per event that are not filed under a domain. */
  dyn: Lists;
  from: Map<string, Lists>;
  to: Map<string, Lists>;
  any: Map<string, Lists>;
}

export interface PolicyIndex {
  doc: PolicyDocument;
  zoneNames: string[];
  enterprise: number;
  segmentNames: string[];
  rules: CompiledRule[];
  /** Indexed by kind * Z1 * Z1 + (fromZone+1) * Z1 + (toZone+1), Z1 = zones + 1. */
  buckets: Bucket[];
  z1: number;
  party(uri: string): Party;
  zoneOfHost(host: string): number;
  direction(fromZone: number, toZone: number): Direction;
  classify(from: Party, to: Party): Classification;
}

const KIND_INDEX: Record<string, number> = Object.fromEntries(EVENT_KINDS.map((k, i) => [k, i]));
export const kindIndex = (k: EventKind): number => KIND_INDEX[k] ?? -1;

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const fmtList = (xs: readonly string[]): string => `[${xs.join(', ')}]`;

// ---------------------------------------------------------------------------------------
// Domains.

interface DomainMatcher {
  any: boolean;
  exact: Set<string>;
  /** `.suffix` strings. */
  suffixes: string[];
  patterns: string[];
}

function domainMatcher(patterns: string[]): DomainMatcher {
  const m: DomainMatcher = { any: false, exact: new Set(), suffixes: [], patterns };
  for (const p of patterns) {
    const q = p.toLowerCase();
    if (q === '*') m.any = true;
    else if (q.startsWith('*.')) m.suffixes.push(q.slice(1));
    else m.exact.add(q);
  }
  return m;
}

const domainMatches = (m: DomainMatcher, host: string): boolean => {
  if (m.any || m.exact.has(host)) return true;
  for (const s of m.suffixes) if (host.endsWith(s)) return true;
  return false;
};

// ---------------------------------------------------------------------------------------
// Time.

interface LocalTime {
  /** 0 = Monday. */
  weekday: number;
  /** Minutes after local midnight. */
  minute: number;
}

const WEEKDAY: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

/** Local weekday and minute in `tz`, cached for the current minute (offsets are whole minutes). */
function localClock(tz: string): (ms: number) => LocalTime {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
  });
  let lastKey = Number.NaN;
  let last: LocalTime = { weekday: 0, minute: 0 };
  return (ms) => {
    const key = Math.floor(ms / 60_000);
    if (key === lastKey) return last;
    let weekday = 0;
    let hour = 0;
    let minute = 0;
    for (const part of fmt.formatToParts(new Date(ms))) {
      if (part.type === 'weekday') weekday = WEEKDAY[part.value] ?? 0;
      else if (part.type === 'hour') hour = Number(part.value) % 24;
      else if (part.type === 'minute') minute = Number(part.value);
    }
    lastKey = key;
    last = { weekday, minute: hour * 60 + minute };
    return last;
  };
}

const DAY_NAMES = DAYS as readonly string[];

// ---------------------------------------------------------------------------------------
// Compilation.

export function buildIndex(doc: PolicyDocument): PolicyIndex {
  const zoneNames = Object.keys(doc.zones);
  const enterprise = zoneNames.indexOf('enterprise');
  const exactZone = new Map<string, number>();
  const suffixZone = new Map<string, number>();
  let starZone = -1;
  zoneNames.forEach((name, zi) => {
    for (const raw of doc.zones[name]!.domains) {
      const p = raw.toLowerCase();
      if (p === '*') starZone = zi;
      else if (p.startsWith('*.')) suffixZone.set(p.slice(2), zi);
      else exactZone.set(p, zi);
    }
  });
  const zoneOfHost = (host: string): number => {
    const exact = exactZone.get(host);
    if (exact !== undefined) return exact;
    // The longest suffix is the most specific; `*.x` matches subdomains of x only.
    for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) {
      const z = suffixZone.get(host.slice(dot + 1));
      if (z !== undefined) return z;
    }
    return starZone;
  };

  const segmentNames = Object.keys(doc.segments ?? {});
  const segments = segmentNames.map((name) => {
    const bare = new Set<string>();
    const uris = new Set<string>();
    for (const member of doc.segments![name]!.users) {
      const ref = parseMemberRef(member, false);
      if (typeof ref === 'string') throw new Error(`segment ${name}: ${ref}`);
      (ref.kind === 'uri' ? uris : bare).add(ref.key);
    }
    return { bare, uris };
  });

  const direction = (fz: number, tz: number): Direction => {
    const fin = enterprise >= 0 && fz === enterprise;
    const tin = enterprise >= 0 && tz === enterprise;
    return fin ? (tin ? 'internal' : 'outbound') : tin ? 'inbound' : 'external';
  };

  // Parties, cached per address string (bounded, oldest out). Sized for a gateway's working
  // set of correspondents (a few hundred bytes each): a cache smaller than the working set
  // misses on every event under FIFO eviction and parses every address again.
  const cache = new Map<string, Party>();
  const CACHE_MAX = 100_000;
  const noSegs = new Uint8Array(segmentNames.length);
  const party = (uri: string): Party => {
    const hit = cache.get(uri);
    if (hit) return hit;
    let p: Party;
    try {
      const a = parseAddress(uri);
      const host = hostOf(a.domain);
      const user = a.user.toLowerCase();
      const bare = `${user}@${host}`;
      const canon = canonKey(a);
      const segs = new Uint8Array(segmentNames.length);
      segments.forEach((s, i) => {
        if (s.bare.has(bare) || s.uris.has(canon)) segs[i] = 1;
      });
      const domainKeys = [host];
      for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) {
        domainKeys.push(`*${host.slice(dot)}`);
      }
      p = {
        uri,
        valid: true,
        error: null,
        network: a.network,
        user,
        host,
        bare,
        canon,
        zone: zoneOfHost(host),
        segs,
        domainKeys,
      };
    } catch (err) {
      p = {
        uri,
        valid: false,
        error: err instanceof Error ? err.message : String(err),
        network: '',
        user: '',
        host: '',
        bare: '',
        canon: '',
        zone: -1,
        segs: noSegs,
        domainKeys: [],
      };
    }
    if (cache.size >= CACHE_MAX) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(uri, p);
    return p;
  };

  const zoneName = (z: number): string => (z < 0 ? '(none)' : zoneNames[z]!);

  // --- party matchers --------------------------------------------------------------------
  interface PartyMatcher {
    test(p: Party): boolean;
    explain(p: Party): string;
    tri(zone: number): Tri;
    domains: DomainMatcher | null;
  }

  const partyMatcher = (pm: PartyMatch): PartyMatcher => {
    const zones = new Set(list(pm.zone).map((z) => zoneNames.indexOf(z)));
    const hasZone = pm.zone !== undefined;
    const domains = pm.domain !== undefined ? domainMatcher(list(pm.domain)) : null;
    const networks = pm.network !== undefined ? new Set<string>(list(pm.network)) : null;
    let users: { local: Set<string>; bare: Set<string>; uri: Set<string> } | null = null;
    if (pm.user !== undefined) {
      users = { local: new Set(), bare: new Set(), uri: new Set() };
      for (const u of list(pm.user)) {
        const ref = parseMemberRef(u, true);
        if (typeof ref === 'string') throw new Error(ref);
        users[ref.kind === 'local' ? 'local' : ref.kind === 'bare' ? 'bare' : 'uri'].add(ref.key);
      }
    }
    const segIdx = list(pm.segment).map((s) => segmentNames.indexOf(s));
    const hasSeg = pm.segment !== undefined;
    // Exact domains settle the zone at compile time.
    const exactOnly = domains && !domains.any && domains.suffixes.length === 0;
    const exactZones = exactOnly ? new Set([...domains.exact].map((d) => zoneOfHost(d))) : null;
    const userOk = (p: Party): boolean =>
      users !== null && (users.local.has(p.user) || users.bare.has(p.bare) || users.uri.has(p.canon));
    const segOk = (p: Party): boolean => {
      for (const i of segIdx) if (p.segs[i] === 1) return true;
      return false;
    };
    return {
      domains,
      test(p) {
        if (hasZone && !zones.has(p.zone)) return false;
        if (domains && !domainMatches(domains, p.host)) return false;
        if (networks && !networks.has(p.network)) return false;
        if (users && !userOk(p)) return false;
        if (hasSeg && !segOk(p)) return false;
        return true;
      },
      explain(p) {
        const parts: string[] = [];
        if (hasZone) {
          const ok = zones.has(p.zone);
          parts.push(`zone ${zoneName(p.zone)} ${ok ? 'is' : 'is not'} one of ${fmtList(list(pm.zone))}`);
        }
        if (domains) {
          const ok = domainMatches(domains, p.host);
          parts.push(`domain ${p.host} ${ok ? 'matches' : 'does not match'} ${fmtList(domains.patterns)}`);
        }
        if (networks) {
          const ok = networks.has(p.network);
          parts.push(`network ${p.network} ${ok ? 'is' : 'is not'} one of ${fmtList([...networks])}`);
        }
        if (users) {
          parts.push(`user ${p.bare} ${userOk(p) ? 'is' : 'is not'} one of ${fmtList(list(pm.user))}`);
        }
        if (hasSeg) {
          parts.push(`${p.bare} ${segOk(p) ? 'is' : 'is not'} in segment ${fmtList(list(pm.segment))}`);
        }
        return parts.length ? parts.join(', ') : 'anyone';
      },
      tri(zone) {
        if (hasZone && !zones.has(zone)) return 0;
        if (exactZones && !exactZones.has(zone)) return 0;
        if (domains && !domains.any) return 1;
        if (networks || users || hasSeg) return 1;
        return 2;
      },
    };
  };

  const and = (a: Tri, b: Tri): Tri => (a < b ? a : b);
  const or = (a: Tri, b: Tri): Tri => (a > b ? a : b);

  // --- clauses -------------------------------------------------------------------------
  const compileClauses = (rule: Rule): Clause[] => {
    const m = rule.match;
    const out: Clause[] = [];
    if (m.kind !== undefined) {
      const kinds = list(m.kind);
      const set = new Set(kinds.map((k) => KIND_INDEX[k]!));
      out.push({
        name: 'kind',
        test: (c) => set.has(c.kind),
        explain: (c, ok) => `kind ${c.event.kind} ${ok ? 'is' : 'is not'} one of ${fmtList(kinds)}`,
        tri: (k) => (set.has(k) ? 2 : 0),
      });
    }
    if (m.from) {
      const pm = partyMatcher(m.from);
      out.push({
        name: 'from',
        test: (c) => pm.test(c.from),
        explain: (c) => `from ${c.from.uri}: ${pm.explain(c.from)}`,
        tri: (_k, fz) => pm.tri(fz),
      });
    }
    if (m.to) {
      const pm = partyMatcher(m.to);
      out.push({
        name: 'to',
        test: (c) => pm.test(c.to),
        explain: (c) => `to ${c.to.uri}: ${pm.explain(c.to)}`,
        tri: (_k, _fz, tz) => pm.tri(tz),
      });
    }
    if (m.party) {
      const pm = partyMatcher(m.party);
      out.push({
        name: 'party',
        test: (c) => pm.test(c.from) || pm.test(c.to),
        explain: (c, ok) =>
          `party (either end) ${ok ? 'matches' : 'does not match'}: from ${pm.explain(c.from)}; to ${pm.explain(c.to)}`,
        tri: (_k, fz, tz) => or(pm.tri(fz), pm.tri(tz)),
      });
    }
    if (m.between) {
      const a = partyMatcher(m.between[0]!);
      const b = partyMatcher(m.between[1]!);
      out.push({
        name: 'between',
        test: (c) => (a.test(c.from) && b.test(c.to)) || (b.test(c.from) && a.test(c.to)),
        explain: (c) => {
          const side = (m: PartyMatcher, p: Party, who: string, n: number) =>
            `${who} ${m.test(p) ? 'matches' : 'does not match'} side ${n} (${m.explain(p)})`;
          if (a.test(c.from) && b.test(c.to)) {
            return `between holds: ${side(a, c.from, 'from', 1)} and ${side(b, c.to, 'to', 2)}`;
          }
          if (b.test(c.from) && a.test(c.to)) {
            return `between holds: ${side(b, c.from, 'from', 2)} and ${side(a, c.to, 'to', 1)}`;
          }
          return `between does not hold: ${side(a, c.from, 'from', 1)}, ${side(b, c.to, 'to', 2)}; reversed, ${side(b, c.from, 'from', 2)}, ${side(a, c.to, 'to', 1)}`;
        },
        tri: (_k, fz, tz) => or(and(a.tri(fz), b.tri(tz)), and(b.tri(fz), a.tri(tz))),
      });
    }
    if (m.direction !== undefined) {
      const dirs = list(m.direction);
      const set = new Set<string>(dirs);
      out.push({
        name: 'direction',
        test: (c) => set.has(c.direction),
        explain: (c, ok) => `direction ${c.direction} ${ok ? 'is' : 'is not'} one of ${fmtList(dirs)}`,
        tri: (_k, _fz, _tz, d) => (set.has(d) ? 2 : 0),
      });
    }
    if (m.callAction !== undefined) {
      const actions = list(m.callAction);
      const set = new Set<string>(actions);
      const callKind = KIND_INDEX.call!;
      out.push({
        name: 'callAction',
        test: (c) => c.event.kind === 'call' && set.has(c.event.action),
        explain: (c, ok) =>
          c.event.kind === 'call'
            ? `call action ${c.event.action} ${ok ? 'is' : 'is not'} one of ${fmtList(actions)}`
            : `callAction applies to calls only, this is a ${c.event.kind}`,
        tri: (k) => (k === callKind ? 1 : 0),
      });
    }
    const messageKind = KIND_INDEX.message!;
    if (m.content) {
      const re = m.content.pattern !== undefined ? compilePattern(m.content.pattern) : null;
      const longer = m.content.longerThan;
      const lengthOk = (body: string): boolean => {
        if (longer === undefined) return true;
        if (body.length <= longer) return false;
        let n = 0;
        for (const _ of body) if (++n > longer) return true;
        return false;
      };
      out.push({
        name: 'content',
        test: (c) =>
          c.event.kind === 'message' && (re === null || re.test(c.event.body)) && lengthOk(c.event.body),
        explain: (c) => {
          if (c.event.kind !== 'message')
            return `content applies to messages only, this is a ${c.event.kind}`;
          const parts: string[] = [];
          if (re)
            parts.push(
              `body ${re.test(c.event.body) ? 'contains' : 'does not contain'} /${m.content!.pattern}/`,
            );
          if (longer !== undefined) {
            parts.push(
              `body (${[...c.event.body].length} characters) is ${lengthOk(c.event.body) ? '' : 'not '}longer than ${longer}`,
            );
          }
          return parts.join(', ') || 'content: no condition';
        },
        tri: (k) => (k === messageKind ? 1 : 0),
      });
    }
    if (m.attachment) {
      const mimes = list(m.attachment.mime).map((x) => x.toLowerCase());
      const larger = m.attachment.largerThan;
      const mimeOk = (mime: string): boolean => {
        if (mimes.length === 0) return true;
        const lm = mime.toLowerCase();
        for (const p of mimes) {
          if (p === lm || p === '*/*') return true;
          if (p.endsWith('*') && lm.startsWith(p.slice(0, -1))) return true;
        }
        return false;
      };
      const one = (a: { mime: string; size?: number }): boolean =>
        mimeOk(a.mime) && (larger === undefined || (a.size !== undefined && a.size > larger));
      out.push({
        name: 'attachment',
        test: (c) => c.event.kind === 'message' && (c.event.attachments?.some(one) ?? false),
        explain: (c, ok) => {
          if (c.event.kind !== 'message')
            return `attachment applies to messages only, this is a ${c.event.kind}`;
          const n = c.event.attachments?.length ?? 0;
          const want = [
            mimes.length ? `of type ${fmtList(mimes)}` : '',
            larger !== undefined ? `larger than ${larger} bytes` : '',
          ]
            .filter(Boolean)
            .join(' and ');
          return `${ok ? 'an' : 'no'} attachment${want ? ` ${want}` : ''} (message has ${n})`;
        },
        tri: (k) => (k === messageKind ? 1 : 0),
      });
    }
    if (m.time) {
      const tz = m.time.tz ?? 'UTC';
      const clock = localClock(tz);
      const days =
        m.time.days !== undefined ? new Set(list(m.time.days).map((d) => DAY_NAMES.indexOf(d))) : null;
      let hours: HoursWindow | null = null;
      if (m.time.hours !== undefined) {
        const h = parseHours(m.time.hours);
        if (typeof h === 'string') throw new Error(h);
        hours = h;
      }
      const inWindow = (ms: number): boolean => {
        const t = clock(ms);
        if (!hours) return days === null || days.has(t.weekday);
        const { start, end } = hours;
        if (start < end) return t.minute >= start && t.minute < end && (days === null || days.has(t.weekday));
        // Wraps midnight: the part after midnight belongs to the day the window started.
        if (t.minute >= start) return days === null || days.has(t.weekday);
        if (t.minute < end) return days === null || days.has((t.weekday + 6) % 7);
        return false;
      };
      out.push({
        name: 'time',
        test: (c) => inWindow(nowOf(c)),
        explain: (c, ok) => {
          const t = clock(nowOf(c));
          const hhmm = `${String(Math.floor(t.minute / 60)).padStart(2, '0')}:${String(t.minute % 60).padStart(2, '0')}`;
          const want = [
            days ? `days ${fmtList(list(m.time!.days))}` : '',
            m.time!.hours ? `hours ${m.time!.hours}` : '',
          ]
            .filter(Boolean)
            .join(', ');
          return `time ${DAY_NAMES[t.weekday]} ${hhmm} ${tz} is ${ok ? '' : 'not '}within ${want || 'any time'}`;
        },
        tri: () => 1,
      });
    }
    return out;
  };

  const rules: CompiledRule[] = doc.rules.map((rule, index) => {
    const clauses = compileClauses(rule);
    const n = clauses.length;
    const test =
      n === 0
        ? () => true
        : n === 1
          ? clauses[0]!.test
          : (ctx: EvalContext): boolean => {
              for (let i = 0; i < n; i++) if (!clauses[i]!.test(ctx)) return false;
              return true;
            };
    let redact: CompiledRule['redact'] = null;
    if (rule.effect === 'redact') {
      const pattern = rule.match.content?.pattern;
      if (pattern === undefined)
        throw new Error(`rule ${rule.id}: a redact rule needs match.content.pattern`);
      redact = { re: compilePattern(pattern), replacement: rule.replacement ?? '[redacted]' };
    }
    let rateLimit: CompiledRule['rateLimit'] = null;
    if (rule.obligations?.rateLimit !== undefined) {
      const r = parseRateLimit(rule.obligations.rateLimit);
      if (typeof r === 'string') throw new Error(`rule ${rule.id}: ${r}`);
      rateLimit = { ...r, text: rule.obligations.rateLimit.replace(/\s+/g, '') };
    }
    // Domain placement: a rule that names domains (none of them `*`) is filed under them.
    const m = rule.match;
    const usable = (pm: PartyMatch | undefined): string[] | null => {
      if (!pm?.domain) return null;
      const ds = list(pm.domain).map((d) => d.toLowerCase());
      return ds.includes('*') ? null : ds;
    };
    let domainKey: CompiledRule['domainKey'] = null;
    const fromDs = usable(m.from);
    const toDs = usable(m.to);
    const partyDs = usable(m.party);
    const betweenDs =
      m.between && usable(m.between[0]) && usable(m.between[1])
        ? [...usable(m.between[0])!, ...usable(m.between[1])!]
        : null;
    if (fromDs) domainKey = { side: 'from', keys: fromDs };
    else if (toDs) domainKey = { side: 'to', keys: toDs };
    else if (partyDs) domainKey = { side: 'any', keys: partyDs };
    else if (betweenDs) domainKey = { side: 'any', keys: [...new Set(betweenDs)] };
    return {
      index,
      id: rule.id,
      effect: rule.effect,
      reason: rule.reason ?? null,
      source: rule,
      clauses,
      test,
      redact,
      presence: rule.obligations?.presence ?? null,
      disclaimer: rule.obligations?.disclaimer ?? null,
      rateLimit,
      domainKey,
    };
  });

  // --- buckets -------------------------------------------------------------------------
  const hasEffect = (r: CompiledRule): boolean =>
    r.redact !== null || r.presence !== null || r.disclaimer !== null || r.rateLimit !== null;
  const z1 = zoneNames.length + 1;
  const buckets: Bucket[] = [];
  const emptyMap = new Map<string, Lists>();
  for (let k = 0; k < EVENT_KINDS.length; k++) {
    for (let fz = -1; fz < zoneNames.length; fz++) {
      for (let tz = -1; tz < zoneNames.length; tz++) {
        const dir = direction(fz, tz);
        const b: Bucket = {
          staticDeny: null,
          staticPass: [],
          dyn: { deny: [], pass: [] },
          from: emptyMap,
          to: emptyMap,
          any: emptyMap,
        };
        for (const r of rules) {
          let t: Tri = 2;
          for (const c of r.clauses) {
            t = and(t, c.tri(k, fz, tz, dir));
            if (t === 0) break;
          }
          if (t === 0) continue;
          const lane = r.effect === 'deny' ? 'deny' : 'pass';
          if (t === 2) {
            if (lane === 'deny') b.staticDeny ??= r;
            else b.staticPass.push(r);
            continue;
          }
          if (r.domainKey) {
            const side = r.domainKey.side;
            if (b[side] === emptyMap) b[side] = new Map();
            for (const key of r.domainKey.keys) {
              let l = b[side].get(key);
              if (!l) {
                l = { deny: [], pass: [] };
                b[side].set(key, l);
              }
              l[lane].push(r);
            }
          } else {
            b.dyn[lane].push(r);
          }
        }
        b.staticPass = b.staticPass.filter((r, i) => i === 0 || hasEffect(r));
        // A dynamic deny after the static deny can never decide; drop it.
        if (b.staticDeny) {
          const cut = b.staticDeny.index;
          b.dyn.deny = b.dyn.deny.filter((r) => r.index < cut);
        }
        buckets.push(b);
      }
    }
  }

  return {
    doc,
    zoneNames,
    enterprise,
    segmentNames,
    rules,
    buckets,
    z1,
    party,
    zoneOfHost,
    direction,
    classify(from, to) {
      return {
        fromZone: from.zone < 0 ? null : zoneNames[from.zone]!,
        toZone: to.zone < 0 ? null : zoneNames[to.zone]!,
        direction: direction(from.zone, to.zone),
      };
    },
  };
}
