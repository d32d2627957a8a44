// Matrix as a network module: its name, its address codec (`matrix:u/` user URIs, and
// user IDs and matrix.to links for the audit search), its config block and its factory.
// The adapter's code loads only when a Matrix link is configured.
import type { Adapter } from '../../core/adapter.js';
import { AddressError, checkDomain, decodeUriPart, encodeUserPart } from '../../core/address.js';
import type { AddressParts, NetworkDeps, NetworkModule } from '../../core/network.js';
import { MatrixConfig } from './config.js';

/** Read `u/localpart:server[?action=...]` (the Matrix URI scheme, user form). */
function parse(rest: string, uri: string): AddressParts {
  if (!rest.startsWith('u/')) {
    throw new AddressError(`"${uri}" is not a Matrix user URI (expected matrix:u/user:server)`);
  }
  const id = (rest.slice(2).split(/[?#/]/, 1)[0] ?? '').trim();
  const sep = id.indexOf(':');
  if (sep <= 0) throw new AddressError(`"${uri}" needs a server: matrix:u/user:server`);
  return {
    user: decodeUriPart(id.slice(0, sep), 'user', uri),
    domain: checkDomain(decodeUriPart(id.slice(sep + 1), 'server', uri), uri),
  };
}

const MATRIX_TO = /^https?:\/\/matrix\.to\/#\/(.*)$/i;

/** A user ID (`@carol:hs.test`, the server may carry a port) or a matrix.to link to anything. */
function personOf(text: string, read: (text: string) => string | null): string | null | undefined {
  const link = MATRIX_TO.exec(text);
  if (link) {
    let inner: string;
    try {
      inner = decodeURIComponent(link[1]!.split('?', 1)[0] ?? '');
    } catch {
      return null;
    }
    return read(inner);
  }
  if (!text.startsWith('@')) return undefined;
  const sep = text.indexOf(':');
  return sep > 1 && sep < text.length - 1
    ? `${text.slice(1, sep)}@${text.slice(sep + 1)}`.toLowerCase()
    : null;
}

export const matrixNetwork: NetworkModule = {
  name: 'matrix',
  displayName: 'Matrix',
  schemes: ['matrix'],
  uriForm: 'matrix:u/',
  example: 'matrix:u/bob:hs.example',
  codec: {
    parse,
    format: (a) => `matrix:u/${encodeUserPart(a.user)}:${a.domain}`,
    personOf,
  },
  configSchema: MatrixConfig,
  async create(name: string, config: Record<string, unknown>, deps: NetworkDeps): Promise<Adapter> {
    const { buildMatrixAdapter } = await import('./index.js');
    return buildMatrixAdapter(name, config, deps);
  },
};
