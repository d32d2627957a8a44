// The index must not change any decision: over random policies and events, the compiled
// (indexed) evaluation gives the same decision and deciding rule as a naive reference
// that checks every rule in file order, written here independently from the semantics
// of docs/policy.md, "Semantics" (any deny wins, else any allow or redact, else the default).
import fc from 'fast-check';
import t from 'tap';
import { type CanonicalEvent, EVENT_KINDS } from '../../../src/core/model.js';
import { networkNames } from '../../../src/core/network.js';
import { compilePolicy } from '../../../src/core/policy/evaluate.js';
import type { PartyMatch, PolicyDocument, Rule } from '../../../src/core/policy/schema.js';

const DOMAINS = ['corp.test', 'a.test', 'x.a.test', 'y.x.a.test', 'b.test', 'd.b.test', 'c.test', 'e.test'];
const PATTERNS = [...DOMAINS, '*.a.test', '*.x.a.test', '*.b.test', '*.test', '*'];
const USERS = ['alice', 'bob', 'carol'];
const NETS = networkNames();
const uriOf = (net: string, user: string, domain: string) =>
  net === 'matrix' ? `matrix:u/${user}:${domain}` : `${net}:${user}@${domain}`;

// ---- the naive reference -------------------------------------------------------------
interface Who {
  net: string;
  user: string;
  domain: string;
}
const parse = (uri: string): Who => {
  const [scheme, rest] = [uri.slice(0, uri.indexOf(':')), uri.slice(uri.indexOf(':') + 1)];
  if (scheme === 'matrix') {
    const [user, domain] = rest.slice(2).split(':') as [string, string];
    return { net: 'matrix', user, domain };
  }
  const [user, domain] = rest.split('@') as [string, string];
  return { net: scheme, user, domain };
};
const patternMatches = (p: string, d: string) =>
  p === '*' || p === d || (p.startsWith('*.') && d.endsWith(p.slice(1)));
function refZone(doc: PolicyDocument, d: string): string | null {
  let best: string | null = null;
  let score = -1;
  for (const [name, z] of Object.entries(doc.zones)) {
    for (const p of z.domains) {
      if (!patternMatches(p, d)) continue;
      const s = p === '*' ? 0 : p.startsWith('*.') ? p.length : 10_000;
      if (s > score) {
        score = s;
        best = name;
      }
    }
  }
  return best;
}
const arr = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
function refParty(doc: PolicyDocument, pm: PartyMatch, w: Who): boolean {
  if (pm.zone !== undefined && !arr(pm.zone).includes(refZone(doc, w.domain) as string)) return false;
  if (pm.domain !== undefined && !arr(pm.domain).some((p) => patternMatches(p, w.domain))) return false;
  if (pm.network !== undefined && !(arr(pm.network) as string[]).includes(w.net)) return false;
  if (pm.segment !== undefined) {
    const inSeg = arr(pm.segment).some((s) =>
      doc.segments![s]!.users.some((m) =>
        m.includes(':') ? m === uriOf(w.net, w.user, w.domain) : m === `${w.user}@${w.domain}`,
      ),
    );
    if (!inSeg) return false;
  }
  return true;
}
function refMatch(doc: PolicyDocument, r: Rule, e: CanonicalEvent): boolean {
  const m = r.match;
  const f = parse(e.from);
  const to = parse(e.to);
  if (m.kind !== undefined && !(arr(m.kind) as string[]).includes(e.kind)) return false;
  if (m.from && !refParty(doc, m.from, f)) return false;
  if (m.to && !refParty(doc, m.to, to)) return false;
  if (m.party && !refParty(doc, m.party, f) && !refParty(doc, m.party, to)) return false;
  if (m.between) {
    const [a, b] = m.between as [PartyMatch, PartyMatch];
    const fwd = refParty(doc, a, f) && refParty(doc, b, to);
    const rev = refParty(doc, b, f) && refParty(doc, a, to);
    if (!fwd && !rev) return false;
  }
  if (m.direction !== undefined) {
    const fin = refZone(doc, f.domain) === 'enterprise';
    const tin = refZone(doc, to.domain) === 'enterprise';
    const dir = fin && tin ? 'internal' : fin ? 'outbound' : tin ? 'inbound' : 'external';
    if (!(arr(m.direction) as string[]).includes(dir)) return false;
  }
  if (
    m.callAction !== undefined &&
    !(e.kind === 'call' && (arr(m.callAction) as string[]).includes(e.action))
  ) {
    return false;
  }
  if (m.content?.pattern !== undefined && !(e.kind === 'message' && e.body.includes(m.content.pattern)))
    return false;
  return true;
}
function reference(doc: PolicyDocument, e: CanonicalEvent): { decision: string; rule: string | null } {
  const deny = doc.rules.find((r) => r.effect === 'deny' && refMatch(doc, r, e));
  if (deny) return { decision: 'deny', rule: deny.id };
  const pass = doc.rules.find((r) => r.effect !== 'deny' && refMatch(doc, r, e));
  if (pass) return { decision: 'allow', rule: pass.id };
  return { decision: doc.defaults.decision, rule: null };
}

// ---- generators ---------------------------------------------------------------------
const oneOrMany = <T>(a: fc.Arbitrary<T>) =>
  fc.oneof(a, fc.uniqueArray(a, { minLength: 1, maxLength: 3 })) as fc.Arbitrary<T | T[]>;
const zoneNames = ['enterprise', 'partner', 'consumer', 'other'];
/** A record with at most `max` of the given fields (few clauses, so rules do match). */
function some<T extends Record<string, unknown>>(
  fields: { [K in keyof T]: fc.Arbitrary<T[K]> },
  max: number,
) {
  const keys = Object.keys(fields) as (keyof T)[];
  return fc
    .tuple(fc.record(fields as { [K in keyof T]: fc.Arbitrary<T[K]> }), fc.subarray(keys, { maxLength: max }))
    .map(([all, chosen]) => {
      const out: Partial<T> = {};
      for (const k of chosen) out[k] = all[k];
      return out;
    });
}
const partyArb: fc.Arbitrary<PartyMatch> = some(
  {
    zone: oneOrMany(fc.constantFrom(...zoneNames)),
    domain: oneOrMany(fc.constantFrom(...PATTERNS)),
    network: oneOrMany(fc.constantFrom(...NETS)),
    segment: oneOrMany(fc.constantFrom('s1', 's2')),
  },
  2,
);
const ruleArb = fc.record(
  {
    match: some(
      {
        from: partyArb,
        to: partyArb,
        party: partyArb,
        between: fc.tuple(partyArb, partyArb),
        kind: oneOrMany(fc.constantFrom(...EVENT_KINDS)),
        direction: oneOrMany(fc.constantFrom('inbound', 'outbound', 'internal', 'external' as const)),
        callAction: oneOrMany(fc.constantFrom('invite', 'hangup' as const)),
        content: fc.record({ pattern: fc.constant('secret') }),
      },
      3,
    ),
    effect: fc.constantFrom('allow', 'deny', 'redact' as const),
  },
  { requiredKeys: ['match', 'effect'] },
);
const memberArb = fc
  .tuple(fc.constantFrom(...NETS), fc.constantFrom(...USERS), fc.constantFrom(...DOMAINS), fc.boolean())
  .map(([n, u, d, uri]) => (uri ? uriOf(n, u, d) : `${u}@${d}`));

const docArb: fc.Arbitrary<PolicyDocument> = fc
  .record({
    assign: fc.array(fc.constantFrom(...zoneNames), {
      minLength: PATTERNS.length,
      maxLength: PATTERNS.length,
    }),
    use: fc.array(fc.boolean(), { minLength: PATTERNS.length, maxLength: PATTERNS.length }),
    s1: fc.uniqueArray(memberArb, { minLength: 1, maxLength: 4 }),
    s2: fc.uniqueArray(memberArb, { minLength: 1, maxLength: 4 }),
    rules: fc.array(ruleArb, { maxLength: 25 }),
    fallback: fc.constantFrom('allow', 'deny' as const),
  })
  .map(({ assign, use, s1, s2, rules, fallback }) => {
    const zones: PolicyDocument['zones'] = { enterprise: { domains: ['corp.test'] } };
    PATTERNS.forEach((p, i) => {
      if (p === 'corp.test' || !use[i]) return;
      const z = assign[i]!;
      zones[z] ??= { domains: [] };
      zones[z].domains.push(p);
    });
    for (const z of zoneNames) if (zones[z]?.domains.length === 0) delete zones[z];
    const names = Object.keys(zones);
    const fix = (pm: PartyMatch | undefined) => {
      if (pm?.zone === undefined) return;
      const zs = arr(pm.zone).filter((z) => names.includes(z));
      if (zs.length === 0) delete pm.zone;
      else pm.zone = zs;
    };
    const out: Rule[] = rules.map((r, i) => {
      const rule = { id: `r${i}`, ...structuredClone(r) } as Rule;
      if (rule.effect === 'redact' && !rule.match.content) rule.effect = 'allow';
      fix(rule.match.from);
      fix(rule.match.to);
      fix(rule.match.party);
      rule.match.between?.forEach(fix);
      return rule;
    });
    return {
      apiVersion: 'parley/v1',
      kind: 'Policy',
      metadata: { name: 'random', version: '1' },
      zones,
      segments: { s1: { users: s1 }, s2: { users: s2 } },
      defaults: { decision: fallback },
      rules: out,
    } satisfies PolicyDocument;
  });

const eventArb: fc.Arbitrary<CanonicalEvent> = fc
  .record({
    kind: fc.constantFrom(...EVENT_KINDS),
    from: fc.tuple(fc.constantFrom(...NETS), fc.constantFrom(...USERS), fc.constantFrom(...DOMAINS)),
    to: fc.tuple(fc.constantFrom(...NETS), fc.constantFrom(...USERS), fc.constantFrom(...DOMAINS)),
    body: fc.constantFrom('hi', 'a secret'),
    action: fc.constantFrom('invite', 'hangup', 'answer' as const),
  })
  .map(({ kind, from, to, body, action }) => {
    const base = {
      id: 'e',
      time: '2026-11-25T10:00:00Z',
      adapter: 'test',
      traceId: 't',
      from: uriOf(...from),
      to: uriOf(...to),
    };
    switch (kind) {
      case 'message':
        return { ...base, kind, body };
      case 'presence':
        return { ...base, kind, show: 'available' as const };
      case 'chatstate':
        return { ...base, kind, state: 'composing' as const };
      case 'receipt':
        return { ...base, kind, receipt: 'delivered' as const, messageId: 'm' };
      default:
        return { ...base, kind: 'call' as const, action, callId: 'c' };
    }
  });

t.test('indexed evaluation == naive linear reference (decision and deciding rule)', async (t) => {
  let checked = 0;
  fc.assert(
    fc.property(docArb, fc.array(eventArb, { minLength: 1, maxLength: 30 }), (doc, events) => {
      const p = compilePolicy(doc);
      for (const e of events) {
        const got = p.evaluate(e);
        const want = reference(doc, e);
        checked++;
        if (got.decision !== want.decision || got.rule !== want.rule) {
          throw new Error(
            `${JSON.stringify(want)} expected, got ${JSON.stringify({ decision: got.decision, rule: got.rule })} for ${e.kind} ${e.from} -> ${e.to}`,
          );
        }
      }
    }),
    { numRuns: 600 },
  );
  t.ok(checked > 1000, `${checked} decisions compared`);
});
