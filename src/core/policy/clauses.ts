// A rule's `match` as clauses, each testable per event, explainable in plain words, and
// settled where it can be for a whole bucket (event kind, sender zone, recipient zone).
import { and, type Clause, KIND_INDEX, or, type Party } from './context.js';
import { fmtList, list } from './lists.js';
import type { PartyMatcher } from './parties.js';
import { attachmentClause, contentClause } from './patterns.js';
import type { PartyMatch, Rule } from './schema.js';
import { timeClause } from './time.js';

/** Compiles rules' matches, their parties with `partyMatcher`. */
export function clauseCompiler(partyMatcher: (pm: PartyMatch) => PartyMatcher): (rule: Rule) => Clause[] {
  return (rule: Rule): Clause[] => {
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
    if (m.content) out.push(contentClause(m.content, messageKind));
    if (m.attachment) out.push(attachmentClause(m.attachment, messageKind));
    if (m.time) out.push(timeClause(m.time));
    return out;
  };
}
