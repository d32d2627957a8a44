// SIP as a network module: its name, its address codec (RFC 3261 `sip:`/`sips:` URIs), its
// config block and its factory. The adapter's code loads only when a SIP link is
// configured.
import type { Adapter } from '../../core/adapter.js';
import { AddressError, checkDomain, decodeUriPart, encodeUserPart } from '../../core/address.js';
import type { AddressParts, NetworkDeps, NetworkModule } from '../../core/network.js';
import { SipAdapterConfig } from './config.js';

/** Read `user[:password]@host[:port][;params][?headers]` (RFC 3261). */
function parse(rest: string, uri: string): AddressParts {
  // The user part may itself hold `;` (user-unreserved), so the host starts after the
  // last `@` and its parameters after that.
  const noHeaders = rest.split('?', 1)[0] ?? '';
  const at = noHeaders.lastIndexOf('@');
  if (at <= 0) throw new AddressError(`"${uri}" needs a user: sip:user@domain`);
  const userinfo = noHeaders.slice(0, at);
  const pw = userinfo.indexOf(':');
  return {
    user: decodeUriPart(pw < 0 ? userinfo : userinfo.slice(0, pw), 'user', uri),
    domain: checkDomain(noHeaders.slice(at + 1).split(';', 1)[0] ?? '', uri),
  };
}

export const sipNetwork: NetworkModule = {
  name: 'sip',
  displayName: 'SIP',
  schemes: ['sip', 'sips'],
  uriForm: 'sip:',
  example: 'sip:carol@partner.example',
  codec: {
    parse,
    format: (a) => `sip:${encodeUserPart(a.user)}@${a.domain}`,
  },
  configSchema: SipAdapterConfig,
  async create(name: string, config: Record<string, unknown>, deps: NetworkDeps): Promise<Adapter> {
    const { buildSipAdapter } = await import('./index.js');
    return buildSipAdapter(name, config, deps);
  },
};
