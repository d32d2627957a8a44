// Who a rule names: domain patterns, members (`alice`, `alice@corp.example` or a URI) and
// segments of them. The parsers are shared with the loader, which reports their errors
// with line numbers.

import { type Address, parseAddress } from '../address.js';
import { hasNetworkScheme, uriForms } from '../network.js';
import type { PolicyDocument } from './schema.js';

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

/** Lower-cased `network|user|domain` key of a member URI or party. */
export const canonKey = (a: Address): string => `${a.network}|${a.user.toLowerCase()}|${hostOf(a.domain)}`;
const bareKey = (user: string, domain: string): string => `${user.toLowerCase()}@${hostOf(domain)}`;
/** Domain without a `:port`. */
export const hostOf = (domain: string): string => {
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

export interface DomainMatcher {
  any: boolean;
  exact: Set<string>;
  /** `.suffix` strings. */
  suffixes: string[];
  patterns: string[];
}

export function domainMatcher(patterns: string[]): DomainMatcher {
  const m: DomainMatcher = { any: false, exact: new Set(), suffixes: [], patterns };
  for (const p of patterns) {
    const q = p.toLowerCase();
    if (q === '*') m.any = true;
    else if (q.startsWith('*.')) m.suffixes.push(q.slice(1));
    else m.exact.add(q);
  }
  return m;
}

export const domainMatches = (m: DomainMatcher, host: string): boolean => {
  if (m.any || m.exact.has(host)) return true;
  for (const s of m.suffixes) if (host.endsWith(s)) return true;
  return false;
};

/** A segment's members: bare `user@domain` keys (any network) and URI keys (one network). */
export interface Segment {
  bare: Set<string>;
  uris: Set<string>;
}

/** The segments of a policy, in document order. */
export function compileSegments(doc: PolicyDocument, segmentNames: readonly string[]): Segment[] {
  return segmentNames.map((name) => {
    const bare = new Set<string>();
    const uris = new Set<string>();
    for (const member of doc.segments![name]!.users) {
      const ref = parseMemberRef(member, false);
      if (typeof ref === 'string') throw new Error(`segment ${name}: ${ref}`);
      (ref.kind === 'uri' ? uris : bare).add(ref.key);
    }
    return { bare, uris };
  });
}
