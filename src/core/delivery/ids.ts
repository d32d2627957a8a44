// Which network message a canonical event became, and back: a reply, a correction, a
// receipt or a reaction names the event it is about by its canonical id, and the network by
// its own id. Kept in the store with a TTL, under the adapter's prefix (`id:out:<canonical>`
// and `id:in:<network id>`), so every replica finds what another sent.
import type { AdapterState } from './state.js';

/** How long a mapping is kept unless told otherwise (replies to month-old messages still thread). */
export const ID_TTL_MS = 30 * 24 * 3600_000;

export interface IdMap {
  /** The canonical event `canonical` went out (or came in) as `networkId`: both ways. */
  put(canonical: string, networkId: string, ttlMs?: number): Promise<void>;
  /**
   * One more network id for the same event (e.g. the second part of a message the network
   * carried in two): it resolves to `canonical`, whose own mapping stays the first.
   */
  alias(networkId: string, canonical: string, ttlMs?: number): Promise<void>;
  /** The network id of a canonical event, or null. */
  networkId(canonical: string): Promise<string | null>;
  /** The canonical id of a network message, or null. */
  canonical(networkId: string): Promise<string | null>;
}

export function idMap(state: AdapterState): IdMap {
  return {
    put: async (canonical, networkId, ttlMs = ID_TTL_MS) => {
      await state.set(`id:out:${canonical}`, networkId, ttlMs);
      await state.set(`id:in:${networkId}`, canonical, ttlMs);
    },
    alias: (networkId, canonical, ttlMs = ID_TTL_MS) => state.set(`id:in:${networkId}`, canonical, ttlMs),
    networkId: (canonical) => state.get(`id:out:${canonical}`),
    canonical: (networkId) => state.get(`id:in:${networkId}`),
  };
}
