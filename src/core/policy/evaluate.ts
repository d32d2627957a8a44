// Decide an event against a compiled policy (docs/policy.md): a matching deny wins;
// otherwise every matching allow/redact rule applies its transforms and obligations;
// otherwise the default. The deciding rule is the first matching deny in file order, else
// the first matching allow/redact rule, else none.
import type { CanonicalEvent, PresenceEvent, PresenceShow } from '../model.js';
import {
  type Bucket,
  buildIndex,
  type CompiledRule,
  type EvalContext,
  kindIndex,
  type Lists,
  type Party,
  type PolicyIndex,
} from './compile.js';
import type { PolicyDocument } from './schema.js';
import type {
  AppliedTransform,
  Classification,
  Decision,
  Explanation,
  PolicyObligations,
  PresenceLevel,
} from './types.js';

export interface CompiledPolicy {
  name: string;
  version: string;
  /** The file it was loaded from; null when compiled from a document in memory. */
  file: string | null;
  document: PolicyDocument;
  ruleCount: number;
  /** Decide one event. `now` is the decision time for time windows (default: the event's time). */
  evaluate(event: CanonicalEvent, now?: Date): Decision;
  classify(event: CanonicalEvent): Classification;
  /** Every rule's verdict, in file order, with the final decision. */
  explain(event: CanonicalEvent, now?: Date): Explanation;
  /** Zone of an address URI (or of a bare domain); null when no zone matches. */
  zoneOf(uri: string): string | null;
}

/** First rule of `list` (file order) that matches, if it comes before `best`. */
function firstMatch(list: CompiledRule[], ctx: EvalContext, best: CompiledRule | null): CompiledRule | null {
  const cut = best ? best.index : Number.POSITIVE_INFINITY;
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    if (r.index >= cut) return best;
    if (r.test(ctx)) return r;
  }
  return best;
}

function denyIn(
  map: Map<string, Lists>,
  keys: string[],
  ctx: EvalContext,
  best: CompiledRule | null,
): CompiledRule | null {
  for (let i = 0; i < keys.length; i++) {
    const l = map.get(keys[i]!);
    if (l !== undefined && l.deny.length > 0) best = firstMatch(l.deny, ctx, best);
  }
  return best;
}

function passIn(list: CompiledRule[], ctx: EvalContext, out: CompiledRule[] | null): CompiledRule[] | null {
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    if (r.test(ctx)) {
      if (out === null) out = [];
      out.push(r);
    }
  }
  return out;
}

function passInMap(
  map: Map<string, Lists>,
  keys: string[],
  ctx: EvalContext,
  out: CompiledRule[] | null,
): CompiledRule[] | null {
  for (let i = 0; i < keys.length; i++) {
    const l = map.get(keys[i]!);
    if (l !== undefined && l.pass.length > 0) out = passIn(l.pass, ctx, out);
  }
  return out;
}

/** The matching allow/redact rules of a bucket, in file order, without duplicates. */
function matchingPass(b: Bucket, ctx: EvalContext): CompiledRule[] {
  let dyn: CompiledRule[] | null = null;
  if (b.dyn.pass.length > 0) dyn = passIn(b.dyn.pass, ctx, dyn);
  if (b.from.size > 0) dyn = passInMap(b.from, ctx.from.domainKeys, ctx, dyn);
  if (b.to.size > 0) dyn = passInMap(b.to, ctx.to.domainKeys, ctx, dyn);
  if (b.any.size > 0) {
    dyn = passInMap(b.any, ctx.from.domainKeys, ctx, dyn);
    dyn = passInMap(b.any, ctx.to.domainKeys, ctx, dyn);
  }
  if (dyn === null) return b.staticPass;
  const all = b.staticPass.length > 0 ? b.staticPass.concat(dyn) : dyn;
  if (all.length === 1) return all;
  all.sort((x, y) => x.index - y.index);
  const out: CompiledRule[] = [all[0]!];
  for (let i = 1; i < all.length; i++) if (all[i] !== all[i - 1]) out.push(all[i]!);
  return out;
}

function matchingDeny(b: Bucket, ctx: EvalContext): CompiledRule | null {
  let best = b.staticDeny;
  if (b.dyn.deny.length > 0) best = firstMatch(b.dyn.deny, ctx, best);
  if (b.from.size > 0) best = denyIn(b.from, ctx.from.domainKeys, ctx, best);
  if (b.to.size > 0) best = denyIn(b.to, ctx.to.domainKeys, ctx, best);
  if (b.any.size > 0) {
    best = denyIn(b.any, ctx.from.domainKeys, ctx, best);
    best = denyIn(b.any, ctx.to.domainKeys, ctx, best);
  }
  return best;
}

const denied = (event: CanonicalEvent, rule: string | null, reason: string | null): Decision => ({
  decision: 'deny',
  rule,
  reason,
  obligations: {},
  rateLimits: [],
  redacted: false,
  transforms: [],
  event,
});

/** Why a rule applies, in the audit's words: its reason, else its description. */
const why = (r: CompiledRule): string | null => r.reason ?? r.source.description ?? null;

const PRESENCE_STRICTNESS: Record<PresenceLevel, number> = { full: 0, coarse: 1, basic: 2 };

/** Several matching rules: the strictest presence level applies. */
const stricterPresence = (a: PresenceLevel | undefined, b: PresenceLevel): PresenceLevel =>
  a !== undefined && PRESENCE_STRICTNESS[a] >= PRESENCE_STRICTNESS[b] ? a : b;

/**
 * Presence as a level lets it through (docs/policy.md, "Presence levels"): `basic` says
 * only whether the user is online; `coarse` also away/dnd (extended away reads as away).
 * Neither carries status text, activity or idle time (lastActive): those say
 * more about a person than whether they can be reached.
 */
function reducePresence(ev: PresenceEvent, level: 'basic' | 'coarse'): PresenceEvent {
  const { status: _s, activity: _a, lastActive: _l, ...rest } = ev;
  const show: PresenceShow =
    level === 'basic'
      ? ev.show === 'offline'
        ? 'offline'
        : 'available'
      : ev.show === 'xa'
        ? 'away'
        : ev.show;
  return { ...rest, show };
}

/** Apply the matching allow/redact rules (file order) to the event. */
function allowWith(event: CanonicalEvent, rules: CompiledRule[]): Decision {
  const first = rules[0]!;
  let ev = event;
  const obligations: PolicyObligations = {};
  const rateLimits: Decision['rateLimits'] = [];
  const transforms: AppliedTransform[] = [];
  let redacted = false;
  let strictest = Number.POSITIVE_INFINITY;
  for (const r of rules) {
    if (r.disclaimer !== null) {
      const d = obligations.disclaimer;
      const added = d === undefined || !d.split('\n').includes(r.disclaimer);
      if (added) obligations.disclaimer = d === undefined ? r.disclaimer : `${d}\n${r.disclaimer}`;
      // Only messages carry a disclaimer; a text another rule already adds is not repeated.
      if (added && ev.kind === 'message')
        transforms.push({ rule: r.id, effect: 'disclaimer', reason: why(r) });
    }
    if (r.rateLimit !== null) {
      rateLimits.push({ rule: r.id, limit: r.rateLimit.limit, windowMs: r.rateLimit.windowMs });
      const perMs = r.rateLimit.limit / r.rateLimit.windowMs;
      if (perMs < strictest) {
        strictest = perMs;
        obligations.rateLimit = r.rateLimit.text;
      }
    }
    if (r.presence !== null) {
      obligations.presence = stricterPresence(obligations.presence, r.presence);
      if (ev.kind === 'presence' && r.presence !== 'full') {
        ev = reducePresence(ev, r.presence);
        const effect = r.presence === 'basic' ? 'presence-basic' : 'presence-coarse';
        transforms.push({ rule: r.id, effect, reason: why(r) });
      }
    }
    if (r.redact !== null && ev.kind === 'message') {
      const { re, replacement } = r.redact;
      const body = re.replaceAll(ev.body, replacement);
      const html = ev.html === undefined ? undefined : re.replaceAll(ev.html, replacement);
      if (body !== ev.body || html !== ev.html) {
        ev = html === undefined ? { ...ev, body } : { ...ev, body, html };
        redacted = true;
        transforms.push({ rule: r.id, effect: 'redact', reason: why(r) });
      }
    }
  }
  return {
    decision: 'allow',
    rule: first.id,
    reason: why(first),
    obligations,
    rateLimits,
    redacted,
    transforms,
    event: ev,
  };
}

/** Compile a validated policy document. Use load.ts to get line-numbered errors. */
export function compilePolicy(doc: PolicyDocument, file: string | null = null): CompiledPolicy {
  const idx: PolicyIndex = buildIndex(doc);
  const z1 = idx.z1;
  const fallback = doc.defaults.decision;
  const defaultReason = `no rule matched; the default decision is ${fallback}`;

  const context = (event: CanonicalEvent, from: Party, to: Party, now: Date | undefined): EvalContext => ({
    event,
    kind: kindIndex(event.kind),
    from,
    to,
    direction: idx.direction(from.zone, to.zone),
    now,
    nowMs: Number.NaN,
  });

  const invalid = (from: Party, to: Party): string | null =>
    !from.valid
      ? `invalid sender address: ${from.error}`
      : !to.valid
        ? `invalid recipient address: ${to.error}`
        : null;

  const evaluate = (event: CanonicalEvent, now?: Date): Decision => {
    const from = idx.party(event.from);
    const to = idx.party(event.to);
    const bad = invalid(from, to);
    if (bad !== null) return denied(event, null, bad);
    const ctx = context(event, from, to, now);
    if (ctx.kind < 0) return denied(event, null, `unknown event kind ${String(event.kind)}`);
    const b = idx.buckets[ctx.kind * z1 * z1 + (from.zone + 1) * z1 + (to.zone + 1)]!;
    const deny = matchingDeny(b, ctx);
    if (deny !== null) return denied(event, deny.id, deny.reason);
    const pass = matchingPass(b, ctx);
    if (pass.length > 0) return allowWith(event, pass);
    return fallback === 'deny'
      ? denied(event, null, defaultReason)
      : {
          decision: 'allow',
          rule: null,
          reason: defaultReason,
          obligations: {},
          rateLimits: [],
          redacted: false,
          transforms: [],
          event,
        };
  };

  const classify = (event: CanonicalEvent): Classification =>
    idx.classify(idx.party(event.from), idx.party(event.to));

  const explain = (event: CanonicalEvent, now?: Date): Explanation => {
    const from = idx.party(event.from);
    const to = idx.party(event.to);
    const decision = evaluate(event, now);
    const classification = idx.classify(from, to);
    if (invalid(from, to) !== null) return { classification, rules: [], decision };
    const ctx = context(event, from, to, now);
    const rules = idx.rules.map((r) => {
      let matched = true;
      const because =
        r.clauses.length === 0
          ? ['holds: the match is empty, so it matches every event']
          : r.clauses.map((c) => {
              const held = c.test(ctx);
              if (!held) matched = false;
              return `${held ? 'holds' : 'fails'}: ${c.explain(ctx, held)}`;
            });
      return { id: r.id, effect: r.effect, matched, because };
    });
    return { classification, rules, decision };
  };

  const zoneOf = (uri: string): string | null => {
    const p = idx.party(uri);
    const z = p.valid ? p.zone : idx.zoneOfHost(uri.toLowerCase());
    return z < 0 ? null : idx.zoneNames[z]!;
  };

  return {
    name: doc.metadata.name,
    version: doc.metadata.version,
    file,
    document: doc,
    ruleCount: idx.rules.length,
    evaluate,
    classify,
    explain,
    zoneOf,
  };
}
