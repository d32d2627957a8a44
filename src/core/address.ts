// Addresses: every network writes its users as URIs with its own scheme. This module reads
// and writes them through the registered networks' codecs (core/network.ts), and gives
// codecs the pieces every URI form shares (escapes, the domain check).

import { Memo } from './memo.js';
import type { Network } from './model.js';
import { networkModule, networkOfScheme, registryGeneration, uriForms } from './network.js';

export interface Address {
  network: Network;
  /** Decoded user part. */
  user: string;
  /** Lower-cased domain (possibly with a port). */
  domain: string;
  /** The device or session the URI names, when it names one (its network's resource). */
  resource?: string;
}

/** A user of some network, by user part and domain. */
export interface RemoteUser {
  user: string;
  domain: string;
}

export class AddressError extends Error {
  override name = 'AddressError';
}

/** %-decode a URI part; `what` names it in the error. */
export const decodeUriPart = (s: string, what: string, uri: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new AddressError(`${what} of "${uri}" has a malformed %-escape`);
  }
};

// RFC 3986 unreserved plus the sub-delims that may stand unescaped in a user part.
const USER_SAFE = /[A-Za-z0-9\-._~!$&'()*+=]/;
/** %-encode a user part for a URI. */
export const encodeUserPart = (s: string): string => {
  let out = '';
  for (const ch of s) {
    if (USER_SAFE.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
};

const DOMAIN = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9])?)(?::\d{1,5})?$/;
/** The domain (host, optional port) of `uri` in lower case; throws when it is not one. */
export const checkDomain = (domain: string, uri: string): string => {
  if (!DOMAIN.test(domain)) throw new AddressError(`"${uri}" has an invalid domain "${domain}"`);
  return domain.toLowerCase();
};

// Every event's from and to are parsed by the adapter, the pipeline, routing and the policy
// input; conversations repeat the same few addresses. Successful parses (of addresses up to
// 256 characters, at most 10,000) are kept and handed out as copies. A change of the
// registered networks starts a new memo.
let parsed = new Memo<Address>(10_000, 256);
let parsedGeneration = registryGeneration();

/** Parse an address URI of any registered network; throws AddressError with the reason. */
export function parseAddress(uri: string): Address {
  // Untyped callers (JSON input) may pass a non-string: the parser says what is wrong.
  if (typeof uri !== 'string') return parseAddressUncached(uri);
  if (parsedGeneration !== registryGeneration()) {
    parsed = new Memo<Address>(10_000, 256);
    parsedGeneration = registryGeneration();
  }
  return { ...parsed.get(uri, () => parseAddressUncached(uri)) };
}

function parseAddressUncached(uri: string): Address {
  if (typeof uri !== 'string' || uri.length === 0) throw new AddressError('address is empty');
  if (uri.length > 3071) throw new AddressError('address is longer than 3071 characters');
  const colon = uri.indexOf(':');
  if (colon < 0) throw new AddressError(`"${uri}" has no scheme (expected ${uriForms()})`);
  const scheme = uri.slice(0, colon).toLowerCase();
  const module = networkOfScheme(scheme);
  if (!module) {
    throw new AddressError(`"${uri}" has an unknown scheme "${scheme}:" (expected ${uriForms()})`);
  }
  return { network: module.name, ...module.codec.parse(uri.slice(colon + 1), uri) };
}

/** Format an address as its network's URI (the inverse of parseAddress). */
export function formatAddress(a: Address): string {
  const module = networkModule(a.network);
  if (!module) throw new AddressError(`no network "${a.network}" is registered`);
  return module.codec.format(a);
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
