// The SIP adapter's entry point: its network module (network.ts, what the composition root
// registers) and the factory the module's `create` loads.
import type { Adapter } from '../../core/adapter.js';
import type { NetworkDeps } from '../../core/network.js';
import { SipAdapter } from './adapter.js';
import { resolveSipConfig } from './config.js';

export { makeResponse, SipAdapter, sipCapabilities } from './adapter.js';
export { resolveSipConfig, SipAdapterConfig, SipConfigError } from './config.js';
export { sipNetwork } from './network.js';

/**
 * Create a SIP adapter from its config block (`type: sip`).
 * A wrong block throws SipConfigError (an AdapterConfigError naming the key).
 */
export const createSipAdapter = (name: string, config: Record<string, unknown>, deps: NetworkDeps): Adapter =>
  buildSipAdapter(name, config, deps);

export function buildSipAdapter(
  name: string,
  config: Record<string, unknown>,
  deps: NetworkDeps,
): SipAdapter {
  return new SipAdapter(name, resolveSipConfig(config, { configDir: deps.configDir }), deps.logger);
}
