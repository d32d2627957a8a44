// The networks this build of Parley speaks: the one list of network modules (each declared
// by its adapter's folder, src/adapters/<net>/network.ts). Importing this module registers
// them (core/network.ts), so the composition root, the config loader and the CLI know them
// before they read a config, a policy or an address. Adding a network: docs/adding-a-network.md.
import { matrixNetwork } from './adapters/matrix/network.js';
import { sipNetwork } from './adapters/sip/network.js';
import { xmppNetwork } from './adapters/xmpp/network.js';
import { type NetworkModule, registerNetworks } from './core/network.js';

export const NETWORK_MODULES: readonly NetworkModule[] = [xmppNetwork, matrixNetwork, sipNetwork];

registerNetworks(NETWORK_MODULES);
