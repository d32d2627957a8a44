// Policy engine benchmark: Parley's indexed evaluation against Cedar (@cedar-policy/cedar-wasm)
// on equivalent generated policy sets of 10, 100 and 1,000 rules.
// Run: node --import tsx bench/policy.ts   (one JSON line per size)
//
// Mapping to Cedar: the gateway resolves each party's zone (Cedar has no notion of it), so
// principal (sender) and resource (recipient) are entities with attributes zone, domain
// and network; the action is the event kind; the direction is in the context. `between`
// becomes a disjunction of both orientations, `*.suffix` domains become `like "*.suffix"`,
// deny is `forbid` and allow is `permit`. Both default to deny, and in both a deny wins,
// so the decisions must agree on every request. Time windows and content patterns are
// not generated (Cedar has no regular expressions or time zones).
// Cedar is called through statefulIsAuthorized with a policy set preparsed once.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { type CanonicalEvent, EVENT_KINDS, type EventKind, type Network } from '../src/core/model.js';
import { compilePolicy } from '../src/core/policy/evaluate.js';
import type { PolicyDocument, Rule } from '../src/core/policy/schema.js';
import { NETWORK_MODULES } from '../src/networks.js';

const NETWORKS = NETWORK_MODULES.map((m) => m.name);

// Deterministic PRNG (mulberry32) so runs are comparable.
let seed = 0x5eed;
const rnd = (): number => {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const some = <T>(xs: readonly T[], max: number): T[] => {
  const n = 1 + Math.floor(rnd() * max);
  return [...new Set(Array.from({ length: n }, () => pick(xs)))];
};

const PARTNERS = Array.from({ length: 40 }, (_, i) => `p${i}.test`);
const SUPPLIER_SUBS = Array.from({ length: 20 }, (_, i) => `s${i}.supplier.test`);
const CONSUMERS = Array.from({ length: 300 }, (_, i) => `c${i}.test`);
const ENTERPRISE = ['corp.test', 'eu.corp.test'];
const ALL_DOMAINS = [...ENTERPRISE, ...PARTNERS, ...SUPPLIER_SUBS, ...CONSUMERS];
const ZONES = ['enterprise', 'partner', 'consumer'] as const;
const DIRS = ['inbound', 'outbound', 'internal', 'external'] as const;
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];

const q = (s: string) => JSON.stringify(s);
const cedarActions = (kinds: string[]) => `[${kinds.map((k) => `Action::${q(k)}`).join(', ')}]`;
/** Cedar condition for "the entity's domain matches one of these patterns". */
const cedarDomain = (v: string, patterns: string[]) =>
  `(${patterns.map((p) => (p.startsWith('*.') ? `${v}.domain like ${q(p)}` : `${v}.domain == ${q(p)}`)).join(' || ')})`;

interface Generated {
  doc: PolicyDocument;
  cedarText: string;
}

function generate(n: number): Generated {
  const rules: Rule[] = [];
  const cedarPolicies: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `r${i}`;
    const kinds = some(EVENT_KINDS, 3);
    // A realistic mix: a few zone-wide denies, zone and direction allows, and mostly
    // domain block lists and per-network domain bans.
    const r = rnd();
    const shape =
      i < 3 ? 'zoneDeny' : r < 0.15 ? 'between' : r < 0.25 ? 'dirAllow' : r < 0.85 ? 'block' : 'netDeny';
    if (shape === 'between') {
      // allow between two zones for some kinds
      const a = pick(ZONES);
      const b = pick(ZONES);
      rules.push({ id, match: { between: [{ zone: a }, { zone: b }], kind: kinds }, effect: 'allow' });
      cedarPolicies.push(
        `@id(${q(id)}) permit(principal, action in ${cedarActions(kinds)}, resource) when { (principal.zone == ${q(a)} && resource.zone == ${q(b)}) || (principal.zone == ${q(b)} && resource.zone == ${q(a)}) };`,
      );
    } else if (shape === 'block') {
      // block list: deny a few domains at either end
      // Block lists name mostly domains that never show up in the traffic.
      const ds = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () =>
        rnd() < 0.05
          ? pick([...CONSUMERS, ...PARTNERS, '*.supplier.test'])
          : `b${Math.floor(rnd() * 100_000)}.test`,
      );
      rules.push({ id, match: { party: { domain: ds } }, effect: 'deny' });
      cedarPolicies.push(
        `@id(${q(id)}) forbid(principal, action, resource) when { ${cedarDomain('principal', ds)} || ${cedarDomain('resource', ds)} };`,
      );
    } else if (shape === 'zoneDeny') {
      // deny one kind to a zone
      const z = pick(ZONES.slice(1));
      kinds.splice(1);
      rules.push({ id, match: { to: { zone: z }, kind: kinds }, effect: 'deny' });
      cedarPolicies.push(
        `@id(${q(id)}) forbid(principal, action in ${cedarActions(kinds)}, resource) when { resource.zone == ${q(z)} };`,
      );
    } else if (shape === 'dirAllow') {
      // allow by direction and kind
      const d = pick(DIRS);
      rules.push({ id, match: { direction: d, kind: kinds }, effect: 'allow' });
      cedarPolicies.push(
        `@id(${q(id)}) permit(principal, action in ${cedarActions(kinds)}, resource) when { context.direction == ${q(d)} };`,
      );
    } else {
      // deny a network from some domains
      const net = pick(NETWORKS);
      const ds = some([...PARTNERS, ...CONSUMERS], 2).map((d) => (rnd() < 0.9 ? `n${d}` : d));
      rules.push({ id, match: { from: { network: net, domain: ds } }, effect: 'deny' });
      cedarPolicies.push(
        `@id(${q(id)}) forbid(principal, action, resource) when { principal.network == ${q(net)} && ${cedarDomain('principal', ds)} };`,
      );
    }
  }
  const doc: PolicyDocument = {
    apiVersion: 'parley/v1',
    kind: 'Policy',
    metadata: { name: `bench-${n}`, version: '1' },
    zones: {
      enterprise: { domains: ['corp.test', '*.corp.test'] },
      partner: { domains: [...PARTNERS, '*.supplier.test'] },
      consumer: { domains: ['*'] },
    },
    defaults: { decision: 'deny' },
    rules,
  };
  return { doc, cedarText: cedarPolicies.join('\n') };
}

const uriOf = (net: Network, user: string, domain: string) =>
  net === 'matrix' ? `matrix:u/${user}:${domain}` : `${net}:${user}@${domain}`;

function randomEvents(count: number): CanonicalEvent[] {
  const out: CanonicalEvent[] = [];
  for (let i = 0; i < count; i++) {
    const kind: EventKind = pick(EVENT_KINDS);
    // Most traffic has the enterprise at one end.
    const inside = uriOf(pick(NETWORKS), pick(USERS), pick(ENTERPRISE));
    const outside = uriOf(pick(NETWORKS), pick(USERS), pick(ALL_DOMAINS));
    const [from, to] =
      rnd() < 0.1
        ? [outside, uriOf('sip', pick(USERS), pick(ALL_DOMAINS))]
        : rnd() < 0.5
          ? [inside, outside]
          : [outside, inside];
    const base = { id: `e${i}`, time: '2026-11-25T10:00:00Z', adapter: 'bench', traceId: 't', from, to };
    switch (kind) {
      case 'message':
        out.push({ ...base, kind, body: 'hello' });
        break;
      case 'presence':
        out.push({ ...base, kind, show: 'available' });
        break;
      case 'chatstate':
        out.push({ ...base, kind, state: 'composing' });
        break;
      case 'receipt':
        out.push({ ...base, kind, receipt: 'delivered', messageId: 'm' });
        break;
      case 'call':
        out.push({ ...base, kind, action: 'invite', callId: 'c' });
        break;
    }
  }
  return out;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function cedarCall(
  policy: ReturnType<typeof compilePolicy>,
  psetId: string,
  e: CanonicalEvent,
): cedar.StatefulAuthorizationCall {
  const c = policy.classify(e);
  const party = (uri: string, zone: string | null) => {
    const m = /^(xmpp|sip|matrix):(?:u\/)?([^@:]+)[@:](.+)$/.exec(uri)!;
    return {
      uid: { type: 'Party', id: uri },
      attrs: { zone: zone ?? '', domain: m[3]!, network: m[1]! },
      parents: [],
    };
  };
  return {
    principal: { type: 'Party', id: e.from },
    action: { type: 'Action', id: e.kind },
    resource: { type: 'Party', id: e.to },
    context: { direction: c.direction },
    preparsedPolicySetId: psetId,
    entities: [party(e.from, c.fromZone), party(e.to, c.toZone)],
  };
}

const REQUESTS = 10_000;
const CEDAR_SAMPLE = 300;
/** Cedar decisions for the agreement check stop after this long (then agreementOver says how many). */
const AGREEMENT_BUDGET_MS = 45_000;
const events = randomEvents(REQUESTS);

function runSize(n: number): void {
  const { doc, cedarText } = generate(n);
  const policy = compilePolicy(doc);
  const psetId = `bench-${n}`;
  const parsed = cedar.preparsePolicySet(psetId, { staticPolicies: cedarText });
  if (parsed.type !== 'success')
    throw new Error(`Cedar rejected the policies: ${JSON.stringify(parsed.errors[0])}`);

  // Parley: warm up, then rounds over all requests; median ns per decision.
  const parley: ('allow' | 'deny')[] = events.map((e) => policy.evaluate(e).decision);
  for (let w = 0; w < 3; w++) for (const e of events) policy.evaluate(e);
  const rounds: number[] = [];
  let sink = 0;
  for (let r = 0; r < 15; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < events.length; i++) sink += policy.evaluate(events[i]!).decision === 'allow' ? 1 : 0;
    rounds.push(Number(process.hrtime.bigint() - t0) / events.length);
  }
  const parleyNs = median(rounds);

  // Cedar: decisions on all requests (for agreement, within a time budget), timing on a sample.
  const calls = events.map((e) => cedarCall(policy, psetId, e));
  const decide = (call: cedar.StatefulAuthorizationCall): string => {
    const a = cedar.statefulIsAuthorized(call);
    if (a.type !== 'success') throw new Error(`Cedar failed: ${JSON.stringify(a.errors[0])}`);
    if (a.response.diagnostics.errors.length > 0) {
      throw new Error(`Cedar policy error: ${JSON.stringify(a.response.diagnostics.errors[0])}`);
    }
    return a.response.decision;
  };
  const sample = calls.slice(0, CEDAR_SAMPLE);
  for (const c of sample.slice(0, 50)) decide(c);
  const cedarRounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (const c of sample) decide(c);
    cedarRounds.push(Number(process.hrtime.bigint() - t0) / sample.length);
  }
  const cedarNs = median(cedarRounds);
  const start = Date.now();
  let same = 0;
  let over = 0;
  for (let i = 0; i < calls.length && Date.now() - start < AGREEMENT_BUDGET_MS; i++) {
    if (decide(calls[i]!) === parley[i]) same++;
    over++;
  }
  const line: Record<string, number | string> = {
    rules: n,
    parleyNs: Math.round(parleyNs),
    cedarNs: Math.round(cedarNs),
    ratio: Math.round((cedarNs / parleyNs) * 10) / 10,
    agreement: same / over,
    allowShare: Math.round((parley.filter((d) => d === 'allow').length / parley.length) * 1000) / 1000,
  };
  if (over < calls.length) line.agreementOver = over;
  process.stdout.write(`${JSON.stringify(line)}\n`);
  if (sink < 0) process.stdout.write('');
}

// Each size runs in its own process: a fresh heap and JIT state per measurement (and it
// sidesteps a V8 deoptimizer crash seen on Node 20 when one process runs all three).
const only = process.env.PARLEY_BENCH_SIZE;
if (only !== undefined) runSize(Number(only));
else {
  for (const n of [10, 100, 1000]) {
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
      env: { ...process.env, PARLEY_BENCH_SIZE: String(n) },
      stdio: 'inherit',
    });
    if (r.status !== 0) process.exitCode = r.status ?? 1;
  }
}
