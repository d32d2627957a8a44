// The XMPP adapter's entry point: the factory the adapter registry calls with a config block.
import type { Adapter } from '../../core/adapter.js';
import type { Logger } from '../../core/logger.js';
import { XmppAdapter } from './adapter.js';
import { resolveXmppConfig } from './config.js';
import type { XmppLinkFactory } from './link.js';

export { XMPP_CAPABILITIES, XMPP_SOFTWARE, XmppAdapter } from './adapter.js';
export { type ResolvedXmppConfig, resolveXmppConfig, XmppConfig, XmppConfigError } from './config.js';
export type { LinkOptions, XmppLink, XmppLinkFactory } from './link.js';

/** The shape of AdapterDeps (src/adapters/index.ts), which this folder may not import. */
interface FactoryDeps {
  logger: Logger;
  configDir: string;
}

/** The factory's deps, plus what a test may inject: the link to the server. */
export interface XmppDeps extends FactoryDeps {
  link?: XmppLinkFactory;
}

/**
 * The AdapterFactory for `type: xmpp` (structurally the registry's AdapterFactory type).
 * A wrong block throws XmppConfigError (an AdapterConfigError naming the key).
 */
export const createXmppAdapter = (
  name: string,
  config: Record<string, unknown>,
  deps: FactoryDeps,
): Adapter => buildXmppAdapter(name, config, deps);

export function buildXmppAdapter(name: string, config: Record<string, unknown>, deps: XmppDeps): XmppAdapter {
  return new XmppAdapter(name, resolveXmppConfig(config), deps.logger, deps.link ? { link: deps.link } : {});
}
