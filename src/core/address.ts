// Addresses: parse and format the three networks' URIs, and map a user of one network to
// the "ghost" that stands for them on another. Every mapping is reversible.

import { Memo } from './memo.js';
import type { Network } from './model.js';

export interface Address {
  network: Network;
  /** Decoded user part (XMPP localpart, Matrix localpart, SIP user). */
  user: string;
  /** Lower-cased domain (Matrix: server name, possibly with a port). */
  domain: string;
  /** XMPP resource, when the URI names one. */
  resource?: string;
}

export class AddressError extends Error {
  override name = 'AddressError';
}

const pctDecode = (s: string, what: string, uri: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new AddressError(`${what} of "${uri}" has a malformed %-escape`);
  }
};

// RFC 3986 unreserved plus sub-delims that RFC 5122 / RFC 3261 / the Matrix URI spec let
// stand unescaped in a user part.
const USER_SAFE = /[A-Za-z0-9\-._~!$&'()*+=]/;
const pctEncodeUser = (s: string): string => {
  let out = '';
  for (const ch of s) {
    if (USER_SAFE.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
};

const DOMAIN = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9])?)(?::\d{1,5})?$/;
const checkDomain = (domain: string, uri: string): string => {
  if (!DOMAIN.test(domain)) throw new AddressError(`"${uri}" has an invalid domain "${domain}"`);
  return domain.toLowerCase();
};

// Every event's from and to are parsed by the adapter, the pipeline, routing and the policy
// input; conversations repeat the same few addresses. Successful parses (of addresses up to
// 256 characters, at most 10,000) are kept and handed out as copies.
const parsed = new Memo<Address>(10_000, 256);

/** Parse `xmpp:`, `sip:`/`sips:` or `matrix:u/` URIs; throws AddressError with the reason. */
export function parseAddress(uri: string): Address {
  // Untyped callers (JSON input) may pass a non-string: the parser says what is wrong.
  if (typeof uri !== 'string') return parseAddressUncached(uri);
  return { ...parsed.get(uri, () => parseAddressUncached(uri)) };
}

function parseAddressUncached(uri: string): Address {
  if (typeof uri !== 'string' || uri.length === 0) throw new AddressError('address is empty');
  if (uri.length > 3071) throw new AddressError('address is longer than 3071 characters');
  const colon = uri.indexOf(':');
  if (colon < 0) throw new AddressError(`"${uri}" has no scheme (expected xmpp:, sip: or matrix:u/)`);
  const scheme = uri.slice(0, colon).toLowerCase();
  const rest = uri.slice(colon + 1);
  switch (scheme) {
    case 'xmpp': {
      // RFC 5122: xmpp:[//authority/]node@domain[/resource][?query][#fragment]
      let path = rest.startsWith('//') ? rest.slice(rest.indexOf('/', 2) + 1) : rest;
      path = path.split(/[?#]/, 1)[0] ?? '';
      const at = path.indexOf('@');
      if (at <= 0) throw new AddressError(`"${uri}" needs a user: xmpp:user@domain`);
      const slash = path.indexOf('/', at);
      const domainPart = slash < 0 ? path.slice(at + 1) : path.slice(at + 1, slash);
      const resource = slash < 0 ? undefined : pctDecode(path.slice(slash + 1), 'resource', uri);
      const addr: Address = {
        network: 'xmpp',
        user: pctDecode(path.slice(0, at), 'user', uri),
        domain: checkDomain(domainPart, uri),
      };
      if (resource) addr.resource = resource;
      return addr;
    }
    case 'sip':
    case 'sips': {
      // RFC 3261: sip:user[:password]@host[:port][;params][?headers]
      // The user part may itself hold `;` (user-unreserved), so the host starts after the
      // last `@` and its parameters after that.
      const noHeaders = rest.split('?', 1)[0] ?? '';
      const at = noHeaders.lastIndexOf('@');
      if (at <= 0) throw new AddressError(`"${uri}" needs a user: sip:user@domain`);
      const userinfo = noHeaders.slice(0, at);
      const pw = userinfo.indexOf(':');
      return {
        network: 'sip',
        user: pctDecode(pw < 0 ? userinfo : userinfo.slice(0, pw), 'user', uri),
        domain: checkDomain(noHeaders.slice(at + 1).split(';', 1)[0] ?? '', uri),
      };
    }
    case 'matrix': {
      // Matrix URI: matrix:u/localpart:server[?action=...]
      if (!rest.startsWith('u/')) {
        throw new AddressError(`"${uri}" is not a Matrix user URI (expected matrix:u/user:server)`);
      }
      const id = (rest.slice(2).split(/[?#/]/, 1)[0] ?? '').trim();
      const sep = id.indexOf(':');
      if (sep <= 0) throw new AddressError(`"${uri}" needs a server: matrix:u/user:server`);
      return {
        network: 'matrix',
        user: pctDecode(id.slice(0, sep), 'user', uri),
        domain: checkDomain(pctDecode(id.slice(sep + 1), 'server', uri), uri),
      };
    }
    default:
      throw new AddressError(
        `"${uri}" has an unknown scheme "${scheme}:" (expected xmpp:, sip: or matrix:u/)`,
      );
  }
}

/** Format an address as its network's URI (the inverse of parseAddress). */
export function formatAddress(a: Address): string {
  const user = pctEncodeUser(a.user);
  switch (a.network) {
    case 'xmpp':
      return `xmpp:${user}@${a.domain}${a.resource ? `/${encodeURIComponent(a.resource)}` : ''}`;
    case 'sip':
      return `sip:${user}@${a.domain}`;
    case 'matrix':
      return `matrix:u/${user}:${a.domain}`;
  }
}

/** Parse, returning null instead of throwing. */
export function tryParseAddress(uri: string): Address | null {
  try {
    return parseAddress(uri);
  } catch {
    return null;
  }
}

/** `user@domain`: the same person on any network (segments match on it). */
export const bareId = (a: Pick<Address, 'user' | 'domain'>): string => `${a.user}@${a.domain}`;

/** The network-specific id without scheme: `alice@corp.example`, `@bob:hs.test`. */
export function nativeId(a: Address): string {
  return a.network === 'matrix' ? `@${a.user}:${a.domain}` : `${a.user}@${a.domain}`;
}

// ---------------------------------------------------------------------------------------
// Ghosts: how a remote user appears on another network.

export interface GhostOptions {
  /** XMPP: the component's domain, e.g. `gw.corp.test`. */
  component?: string;
  /** Matrix: the homeserver's server name, e.g. `hs.test`. */
  serverName?: string;
  /** Matrix: localpart prefix the appservice owns (default `_parley_`). */
  matrixPrefix?: string;
}

export interface RemoteUser {
  user: string;
  domain: string;
}

// XEP-0106 JID escaping. Backslash is always escaped, so decoding is unambiguous.
const JID_ESCAPES: Record<string, string> = {
  ' ': '\\20',
  '"': '\\22',
  '&': '\\26',
  "'": '\\27',
  '/': '\\2f',
  ':': '\\3a',
  '<': '\\3c',
  '>': '\\3e',
  '@': '\\40',
  '\\': '\\5c',
};
export const escapeJidLocal = (s: string): string => s.replace(/[ "&'/:<>@\\]/g, (c) => JID_ESCAPES[c] ?? c);
export const unescapeJidLocal = (s: string): string =>
  s.replace(/\\(20|22|26|27|2f|3a|3c|3e|40|5c)/gi, (_m, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );

// Matrix's mapping from other character sets: `_` -> `__`, A-Z -> `_` + lower, other
// characters outside [a-z0-9.-/+] -> `=xx` per UTF-8 byte.
export function escapeMatrixLocal(s: string): string {
  let out = '';
  for (const ch of s) {
    if (/[a-z0-9.\-/+]/.test(ch)) out += ch;
    else if (ch === '_') out += '__';
    else if (/[A-Z]/.test(ch)) out += `_${ch.toLowerCase()}`;
    else for (const b of Buffer.from(ch, 'utf8')) out += `=${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function unescapeMatrixLocal(s: string): string | null {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '_') {
      const next = s[i + 1];
      if (next === '_') bytes.push(0x5f);
      else if (next && /[a-z]/.test(next)) bytes.push(next.toUpperCase().charCodeAt(0));
      else return null;
      i++;
    } else if (ch === '=') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return null;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (/[a-z0-9.\-/+]/.test(ch)) bytes.push(ch.charCodeAt(0));
    else return null;
  }
  const text = Buffer.from(bytes).toString('utf8');
  return Buffer.from(text, 'utf8').equals(Buffer.from(bytes)) ? text : null;
}

/** The address that stands for `remote` on network `on`. */
export function toGhost(remote: RemoteUser, on: Network, opts: GhostOptions): Address {
  switch (on) {
    case 'xmpp': {
      if (!opts.component) throw new AddressError('an XMPP ghost needs the component domain');
      // Domains never contain `%`, so the last `%` splits user from domain on the way back.
      return {
        network: 'xmpp',
        user: `${escapeJidLocal(remote.user)}%${remote.domain}`,
        domain: opts.component,
      };
    }
    case 'matrix': {
      if (!opts.serverName) throw new AddressError('a Matrix ghost needs the server name');
      const prefix = opts.matrixPrefix ?? '_parley_';
      return {
        network: 'matrix',
        user: `${prefix}${escapeMatrixLocal(`${remote.user}@${remote.domain}`)}`,
        domain: opts.serverName,
      };
    }
    case 'sip':
      // SIP routes by domain: the remote user keeps their own address.
      return { network: 'sip', user: remote.user, domain: remote.domain };
  }
}

/** The remote user a ghost stands for, or null when `a` is not a ghost on its network. */
export function fromGhost(a: Address, opts: GhostOptions): RemoteUser | null {
  switch (a.network) {
    case 'xmpp': {
      if (!opts.component || a.domain !== opts.component.toLowerCase()) return null;
      const pct = a.user.lastIndexOf('%');
      if (pct <= 0 || pct === a.user.length - 1) return null;
      return { user: unescapeJidLocal(a.user.slice(0, pct)), domain: a.user.slice(pct + 1).toLowerCase() };
    }
    case 'matrix': {
      const prefix = opts.matrixPrefix ?? '_parley_';
      if (!opts.serverName || a.domain !== opts.serverName.toLowerCase() || !a.user.startsWith(prefix))
        return null;
      const decoded = unescapeMatrixLocal(a.user.slice(prefix.length));
      if (decoded === null) return null;
      const at = decoded.lastIndexOf('@');
      if (at <= 0 || at === decoded.length - 1) return null;
      return { user: decoded.slice(0, at), domain: decoded.slice(at + 1) };
    }
    case 'sip':
      return { user: a.user, domain: a.domain };
  }
}
