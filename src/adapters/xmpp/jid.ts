// JIDs (RFC 7622) as the adapter sees them, and their mapping to canonical addresses and
// ghosts. Parsing never throws: a JID from the wire may be anything.
import { type Address, formatAddress, type RemoteUser, tryParseAddress } from '../../core/address.js';
import type { Network } from '../../core/model.js';
import { fromGhost, toGhost } from './ghost.js';

export interface Jid {
  local: string;
  domain: string;
  resource: string;
}

// Characters a localpart may not hold (RFC 7622 §3.3.1 and the old nodeprep table).
const CONTROL = '\\u0000-\\u001f\\u007f';
const BAD_LOCAL = new RegExp(`[\\s"&'/:<>@${CONTROL}]`);
const BAD_DOMAIN = new RegExp(`[\\s/@${CONTROL}]`);
const BAD_RESOURCE = new RegExp(`[${CONTROL}]`);
const MAX_PART = 1023;

/** Parse `local@domain/resource`; null when it is not a JID we can use. */
export function parseJid(s: string | undefined | null): Jid | null {
  if (typeof s !== 'string' || s.length === 0 || s.length > 3071) return null;
  const slash = s.indexOf('/');
  const bare = slash < 0 ? s : s.slice(0, slash);
  const resource = slash < 0 ? '' : s.slice(slash + 1);
  if (slash >= 0 && resource.length === 0) return null;
  const at = bare.lastIndexOf('@');
  const local = at < 0 ? '' : bare.slice(0, at);
  const domain = (at < 0 ? bare : bare.slice(at + 1)).replace(/\.$/, '').toLowerCase();
  if (at === 0) return null;
  if (!domain || domain.length > MAX_PART || BAD_DOMAIN.test(domain)) return null;
  if (local.length > MAX_PART || BAD_LOCAL.test(local)) return null;
  if (resource.length > MAX_PART || BAD_RESOURCE.test(resource)) return null;
  return { local, domain, resource };
}

export const bareJid = (j: Pick<Jid, 'local' | 'domain'>): string =>
  j.local ? `${j.local}@${j.domain}` : j.domain;
export const fullJid = (j: Jid): string => (j.resource ? `${bareJid(j)}/${j.resource}` : bareJid(j));

/** True when `domain` is one of the patterns (`corp.test`, `*.corp.test`). */
export function servesDomain(patterns: readonly string[], domain: string): boolean {
  const d = domain.toLowerCase();
  return patterns.some((p) => (p.startsWith('*.') ? d.endsWith(p.slice(1)) : d === p));
}

/** The canonical address of a local XMPP user (bare: resources are a transport detail). */
export const localAddress = (j: Jid): string =>
  formatAddress({ network: 'xmpp', user: j.local, domain: j.domain });

/** The JID of a local XMPP user named by a canonical address, or null if it cannot be one. */
export function jidOfLocal(uri: string): Jid | null {
  const a = tryParseAddress(uri);
  if (a?.network !== 'xmpp' || !a.user) return null;
  const j = parseJid(`${a.user}@${a.domain}${a.resource ? `/${a.resource}` : ''}`);
  return j && j.local === a.user ? j : null;
}

export type GhostLookup =
  | { ok: true; remote: RemoteUser; network: Network; address: string }
  | { ok: false; why: 'not-a-ghost' | 'unroutable' };

/**
 * The remote user a ghost JID stands for, with the canonical address of that user on their
 * own network (found by which adapter serves their domain).
 */
export function resolveGhost(
  j: Jid,
  component: string,
  networkOf: (domain: string) => Network | null,
): GhostLookup {
  if (!j.local) return { ok: false, why: 'not-a-ghost' };
  const remote = fromGhost({ network: 'xmpp', user: j.local, domain: j.domain }, { component });
  if (!remote?.user) return { ok: false, why: 'not-a-ghost' };
  const network = networkOf(remote.domain);
  if (!network) return { ok: false, why: 'unroutable' };
  let address: string;
  try {
    address = formatAddress({ network, user: remote.user, domain: remote.domain });
  } catch {
    return { ok: false, why: 'not-a-ghost' };
  }
  if (!tryParseAddress(address)) return { ok: false, why: 'not-a-ghost' };
  return { ok: true, remote, network, address };
}

/** The ghost JID (bare) that stands for the user at canonical address `uri`, or null. */
export function ghostJidOf(uri: string, component: string): Jid | null {
  const a: Address | null = tryParseAddress(uri);
  if (!a?.user) return null;
  const g = toGhost({ user: a.user, domain: a.domain }, 'xmpp', { component });
  const j = parseJid(`${g.user}@${g.domain}`);
  return j && j.local === g.user ? j : null;
}
