// Ghosts on Matrix: a user of another network appears as `@<prefix><user@domain>:<server>`,
// escaped with Matrix's mapping from other character sets. Every mapping is reversible.
import { type Address, AddressError, type RemoteUser } from '../../core/address.js';

export interface GhostOptions {
  /** The homeserver's server name, e.g. `hs.test`. */
  serverName?: string;
  /** Localpart prefix the appservice owns (default `_parley_`). */
  matrixPrefix?: string;
}

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

/** The Matrix address that stands for `remote` (`on` is always `matrix`: ghosts live on this network). */
export function toGhost(remote: RemoteUser, _on: 'matrix', opts: GhostOptions): Address {
  if (!opts.serverName) throw new AddressError('a Matrix ghost needs the server name');
  const prefix = opts.matrixPrefix ?? '_parley_';
  return {
    network: 'matrix',
    user: `${prefix}${escapeMatrixLocal(`${remote.user}@${remote.domain}`)}`,
    domain: opts.serverName,
  };
}

/** The remote user a Matrix ghost stands for, or null when `a` is not one. */
export function fromGhost(a: Address, opts: GhostOptions): RemoteUser | null {
  const prefix = opts.matrixPrefix ?? '_parley_';
  if (
    a.network !== 'matrix' ||
    !opts.serverName ||
    a.domain !== opts.serverName.toLowerCase() ||
    !a.user.startsWith(prefix)
  )
    return null;
  const decoded = unescapeMatrixLocal(a.user.slice(prefix.length));
  if (decoded === null) return null;
  const at = decoded.lastIndexOf('@');
  if (at <= 0 || at === decoded.length - 1) return null;
  return { user: decoded.slice(0, at), domain: decoded.slice(at + 1) };
}
