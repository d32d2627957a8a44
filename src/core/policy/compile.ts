// Compile a policy document once into an index, so that deciding an event looks up a
// handful of candidate rules instead of scanning them all.
//
// The index: for every (event kind, sender zone, recipient zone) the rules that could match
// are known at compile time. Rules whose every clause is settled by kind and zones alone
// ("partners may talk", "no calls to consumers") are decided at compile time for that
// bucket. The rest are checked per event; those that name domains are filed under the
// domain (exact or `*.suffix`) so that a block list of a thousand domains costs a few map
// lookups. evaluate.ts turns the matching rules into a Decision.
import { EVENT_KINDS } from '../model.js';
import { clauseCompiler } from './clauses.js';
import { and, type Clause, type Direction, type EvalContext, type Party, type Tri } from './context.js';
import { list } from './lists.js';
import { compileSegments } from './members.js';
import { partyMatchers, partyResolver } from './parties.js';
import { type ContentPattern, compilePattern } from './patterns.js';
import type { PartyMatch, PolicyDocument, Rule } from './schema.js';
import type { Classification, PresenceLevel } from './types.js';
import { compileZones } from './zones.js';

// The index's parts live by concern: zones.ts, members.ts (domains, members, segments),
// parties.ts, clauses.ts, patterns.ts (content, attachments), time.ts (time windows).
export { type ContentPattern, compilePattern } from './patterns.js';

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

// ---------------------------------------------------------------------------------------
// Compilation.

export function buildIndex(doc: PolicyDocument): PolicyIndex {
  const zones = compileZones(doc);
  const zoneNames = zones.names;
  const { enterprise, direction } = zones;
  const zoneOfHost = zones.ofHost;
  const segmentNames = Object.keys(doc.segments ?? {});
  const scope = { zoneNames, segmentNames, segments: compileSegments(doc, segmentNames), zoneOfHost };
  const party = partyResolver(scope);
  const compileClauses = clauseCompiler(partyMatchers(scope));

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
