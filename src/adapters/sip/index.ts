// The SIP adapter's entry point: the factory the adapter registry calls with a config block.
import type { Adapter } from '../../core/adapter.js';
import type { Logger } from '../../core/logger.js';
import { SipAdapter } from './adapter.js';
import { resolveSipConfig } from './config.js';

export { makeResponse, SipAdapter, sipCapabilities } from './adapter.js';
export { resolveSipConfig, SipAdapterConfig, SipConfigError } from './config.js';

/** The shape of AdapterDeps (src/adapters/index.ts), which this folder may not import. */
interface FactoryDeps {
  logger: Logger;
  configDir: string;
}

/**
 * The AdapterFactory for `type: sip` (structurally the registry's AdapterFactory type).
 * A wrong block throws SipConfigError (an AdapterConfigError naming the key).
 */
export const createSipAdapter = (name: string, config: Record<string, unknown>, deps: FactoryDeps): Adapter =>
  buildSipAdapter(name, config, deps);

export function buildSipAdapter(
  name: string,
  config: Record<string, unknown>,
  deps: FactoryDeps,
): SipAdapter {
  return new SipAdapter(name, resolveSipConfig(config, { configDir: deps.configDir }), deps.logger);
}
