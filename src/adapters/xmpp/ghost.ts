// Ghosts on XMPP: a user of another network appears as `user%domain@<component>`, the user
// part escaped as XEP-0106 says. Every mapping is reversible.
import { type Address, AddressError, type RemoteUser } from '../../core/address.js';

export interface GhostOptions {
  /** The component's domain, e.g. `gw.corp.test`. */
  component?: string;
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

/** The XMPP address that stands for `remote` (`on` is always `xmpp`: ghosts live on this network). */
export function toGhost(remote: RemoteUser, _on: 'xmpp', opts: GhostOptions): Address {
  if (!opts.component) throw new AddressError('an XMPP ghost needs the component domain');
  // Domains never contain `%`, so the last `%` splits user from domain on the way back.
  return {
    network: 'xmpp',
    user: `${escapeJidLocal(remote.user)}%${remote.domain}`,
    domain: opts.component,
  };
}

/** The remote user an XMPP ghost stands for, or null when `a` is not one. */
export function fromGhost(a: Address, opts: GhostOptions): RemoteUser | null {
  if (a.network !== 'xmpp' || !opts.component || a.domain !== opts.component.toLowerCase()) return null;
  const pct = a.user.lastIndexOf('%');
  if (pct <= 0 || pct === a.user.length - 1) return null;
  return { user: unescapeJidLocal(a.user.slice(0, pct)), domain: a.user.slice(pct + 1).toLowerCase() };
}
