// XMPP as a network module: its name, its address codec (RFC 5122 `xmpp:` URIs), its
// config block and its factory. The adapter's code loads only when an XMPP link is
// configured.
import type { Adapter } from '../../core/adapter.js';
import { AddressError, checkDomain, decodeUriPart, encodeUserPart } from '../../core/address.js';
import type { AddressParts, NetworkDeps, NetworkModule } from '../../core/network.js';
import { XmppConfig } from './config.js';

/** Read `[//authority/]node@domain[/resource][?query][#fragment]` (RFC 5122). */
function parse(rest: string, uri: string): AddressParts {
  let path = rest.startsWith('//') ? rest.slice(rest.indexOf('/', 2) + 1) : rest;
  path = path.split(/[?#]/, 1)[0] ?? '';
  const at = path.indexOf('@');
  if (at <= 0) throw new AddressError(`"${uri}" needs a user: xmpp:user@domain`);
  const slash = path.indexOf('/', at);
  const domainPart = slash < 0 ? path.slice(at + 1) : path.slice(at + 1, slash);
  const resource = slash < 0 ? undefined : decodeUriPart(path.slice(slash + 1), 'resource', uri);
  const parts: AddressParts = {
    user: decodeUriPart(path.slice(0, at), 'user', uri),
    domain: checkDomain(domainPart, uri),
  };
  if (resource) parts.resource = resource;
  return parts;
}

export const xmppNetwork: NetworkModule = {
  name: 'xmpp',
  displayName: 'XMPP',
  schemes: ['xmpp'],
  uriForm: 'xmpp:',
  example: 'xmpp:alice@corp.example',
  codec: {
    parse,
    format: (a) =>
      `xmpp:${encodeUserPart(a.user)}@${a.domain}${a.resource ? `/${encodeURIComponent(a.resource)}` : ''}`,
  },
  configSchema: XmppConfig,
  async create(name: string, config: Record<string, unknown>, deps: NetworkDeps): Promise<Adapter> {
    const { buildXmppAdapter } = await import('./index.js');
    return buildXmppAdapter(name, config, deps);
  },
};
