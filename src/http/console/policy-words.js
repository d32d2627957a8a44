// @ts-check
// Policy rules in plain words, for the console's policy view. Pure functions, no DOM.
/** @import { PartyMatch, PolicyRule, RuleMatch } from './types.js' */

/**
 * @template T
 * @param {T | T[] | undefined} v
 * @returns {T[]}
 */
const list = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * "a", "a or b", "a, b or c"
 * @param {readonly unknown[]} items
 */
export function orList(items, word = 'or') {
  const a = items.map(String);
  if (a.length <= 1) return a.join('');
  return `${a.slice(0, -1).join(', ')} ${word} ${a[a.length - 1]}`;
}

/** @type {Record<string, string>} */
const KIND_WORDS = {
  message: 'messages',
  presence: 'presence',
  chatstate: 'typing notifications',
  receipt: 'read receipts',
  call: 'calls',
};

/** @type {Record<string, string>} */
const DIRECTION_WORDS = {
  inbound: 'coming into the enterprise',
  outbound: 'leaving the enterprise',
  internal: 'between two enterprise users',
  external: 'between two parties outside the enterprise',
};

/** @param {string} d */
const domainWords = (d) =>
  d === '*' ? 'any domain' : d.startsWith('*.') ? `any subdomain of ${d.slice(2)}` : d;

/**
 * One party condition in words: "someone in zone partner on sip".
 * @param {PartyMatch | undefined} p
 */
export function describeParty(p) {
  if (!p || typeof p !== 'object') return 'anyone';
  const parts = [];
  const zones = list(p.zone);
  const domains = list(p.domain);
  const users = list(p.user);
  const segments = list(p.segment);
  const networks = list(p.network);
  if (users.length) parts.push(`user ${orList(users)}`);
  if (segments.length) parts.push(`a member of segment ${orList(segments)}`);
  if (zones.length) parts.push(`someone in zone ${orList(zones)}`);
  if (domains.length) parts.push(`someone at ${orList(domains.map(domainWords))}`);
  let text = parts.length ? parts.join(', ') : 'anyone';
  if (networks.length) text += ` on ${orList(networks)}`;
  return text;
}

/**
 * The conditions of a rule's `match` in words (without the effect).
 * @param {RuleMatch | undefined} m
 */
export function describeMatch(m) {
  if (!m || typeof m !== 'object' || Object.keys(m).length === 0) return 'every event';
  const kinds = list(m.kind);
  const out = [kinds.length ? orList(kinds.map((k) => KIND_WORDS[k] ?? k)) : 'every kind of event'];
  const actions = list(m.callAction);
  if (actions.length) out.push(`(call ${orList(actions)})`);
  if (m.between) {
    const [a, b] = m.between;
    out.push(`between ${describeParty(a)} and ${describeParty(b)}`);
  }
  if (m.from) out.push(`from ${describeParty(m.from)}`);
  if (m.to) out.push(`to ${describeParty(m.to)}`);
  if (m.party) out.push(`with ${describeParty(m.party)} at either end`);
  const dirs = list(m.direction);
  if (dirs.length) out.push(orList(dirs.map((d) => DIRECTION_WORDS[d] ?? d)));
  if (m.content) {
    if (m.content.pattern) out.push(`whose text matches the pattern ${m.content.pattern}`);
    if (m.content.longerThan !== undefined) out.push(`longer than ${m.content.longerThan} characters`);
  }
  if (m.attachment) {
    const mimes = list(m.attachment.mime);
    let a = 'with an attachment';
    if (mimes.length) a += ` of type ${orList(mimes)}`;
    if (m.attachment.largerThan !== undefined) a += ` larger than ${m.attachment.largerThan} bytes`;
    out.push(a);
  }
  if (m.time) {
    const days = list(m.time.days);
    let t = '';
    if (days.length) t += `on ${orList(days)}`;
    if (m.time.hours) t += `${t ? ' ' : ''}between ${m.time.hours.replace('-', ' and ')}`;
    if (m.time.tz) t += ` (${m.time.tz} time)`;
    if (t) out.push(t);
  }
  return out.join(' ');
}

/** @type {Record<string, string>} */
const EFFECT_WORDS = { allow: 'Allow', deny: 'Deny', redact: 'Redact' };

/**
 * A whole rule as one or more sentences.
 * @param {PolicyRule} rule
 */
export function describeRule(rule) {
  const effect = EFFECT_WORDS[rule.effect] ?? rule.effect;
  let text = `${effect} ${describeMatch(rule.match)}`;
  if (rule.effect === 'redact') {
    text += `, replacing what matches with “${rule.replacement ?? '[redacted]'}”`;
  }
  text += '.';
  if (rule.reason) text += ` Reason given: “${rule.reason}”.`;
  const o = rule.obligations;
  if (o) {
    const ob = [];
    if (o.disclaimer) ob.push(`adds the disclaimer “${o.disclaimer}” to the first message of a conversation`);
    // Each level in the words of docs/policy.md ("Presence levels"): what the other side sees.
    if (o.presence === 'basic')
      ob.push(
        'shares only whether the user is online or offline (no away or busy, status text or idle time)',
      );
    else if (o.presence === 'coarse')
      ob.push('shares only online, away, busy (do not disturb) or offline (no status text or idle time)');
    else if (o.presence === 'full') ob.push('shares presence in full (status text and idle time included)');
    if (o.rateLimit) ob.push(`limits each sender to ${o.rateLimit.replace('/', ' per ')}`);
    if (ob.length) text += ` It ${orList(ob, 'and')}.`;
  }
  return text;
}
