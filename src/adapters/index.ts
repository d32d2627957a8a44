// The adapter registry: the composition root creates adapters by their config `type`.
// Each network's adapter registers its factory here; adapters never import each other.
import type { Adapter } from '../core/adapter.js';

export { AdapterConfigError } from '../core/adapter.js';

import type { Logger } from '../core/logger.js';
import type { Network } from '../core/model.js';
import { createMatrixAdapter } from './matrix/index.js';
import { createSipAdapter } from './sip/index.js';
import { createXmppAdapter } from './xmpp/index.js';

export interface AdapterDeps {
  logger: Logger;
  /** Folder of the config file, for resolving relative paths (registration files, certs). */
  configDir: string;
}

/**
 * Create an adapter from its config block. Throws AdapterConfigError naming the key when
 * the block is wrong for this type.
 */
export type AdapterFactory = (name: string, config: Record<string, unknown>, deps: AdapterDeps) => Adapter;

/** Factories by network. */
export const adapterFactories: Partial<Record<Network, AdapterFactory>> = {
  matrix: createMatrixAdapter,
  sip: createSipAdapter,
  xmpp: createXmppAdapter,
};
