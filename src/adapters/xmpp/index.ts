// The XMPP adapter's entry point: its network module (network.ts, what the composition
// root registers) and the factory the module's `create` loads.
import type { Adapter } from '../../core/adapter.js';
import type { NetworkDeps } from '../../core/network.js';
import { XmppAdapter } from './adapter.js';
import { resolveXmppConfig } from './config.js';
import type { XmppLinkFactory } from './link.js';

export { XMPP_CAPABILITIES, XMPP_SOFTWARE, XmppAdapter } from './adapter.js';
export { type ResolvedXmppConfig, resolveXmppConfig, XmppConfig, XmppConfigError } from './config.js';
export { escapeJidLocal, fromGhost, toGhost, unescapeJidLocal } from './ghost.js';
export type { LinkOptions, XmppLink, XmppLinkFactory } from './link.js';
export { xmppNetwork } from './network.js';

/** The factory's deps, plus what a test may inject: the link to the server. */
export interface XmppDeps extends NetworkDeps {
  link?: XmppLinkFactory;
}

/**
 * Create an XMPP adapter from its config block (`type: xmpp`).
 * A wrong block throws XmppConfigError (an AdapterConfigError naming the key).
 */
export const createXmppAdapter = (
  name: string,
  config: Record<string, unknown>,
  deps: NetworkDeps,
): Adapter => buildXmppAdapter(name, config, deps);

export function buildXmppAdapter(name: string, config: Record<string, unknown>, deps: XmppDeps): XmppAdapter {
  return new XmppAdapter(name, resolveXmppConfig(config), deps.logger, deps.link ? { link: deps.link } : {});
}
