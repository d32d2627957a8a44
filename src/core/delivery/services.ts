// What the core offers every adapter for outbound reliability, built on the Store port
// alone: its namespaced state, the id map, delivery queues and link leases, all under the
// adapter's key prefix (`<network>:<name>:`), and this replica's id. The pipeline adds
// them to each AdapterContext it hands out.
import type { Refusal } from '../adapter.js';
import type { Logger } from '../logger.js';
import type { CanonicalEvent, Network } from '../model.js';
import type { Store } from '../store.js';
import { type IdMap, idMap } from './ids.js';
import { type LinkLease, type LinkLeaseOptions, linkLease } from './link-lease.js';
import { type DeliveryQueue, type DeliveryQueueOptions, deliveryQueue } from './queue.js';
import { type AdapterState, namespacedState } from './state.js';

export interface AdapterServices {
  /** This replica's id (`host:pid:nonce`): who holds a lease. */
  readonly replicaId: string;
  /** The adapter's own keys in the store (no audit log, no other adapter's keys). */
  readonly state: AdapterState;
  /** Canonical event ids ↔ this network's message ids, with a TTL. */
  readonly ids: IdMap;
  /**
   * The delivery queue `name` (one per name and adapter: create it once, at start). Its
   * store key is `<network>:<name of adapter>:<name>`.
   */
  queue<X extends object = Record<never, never>>(
    name: string,
    opts: DeliveryQueueOptions<X>,
  ): DeliveryQueue<X>;
  /** The link lease `name` (store key `<network>:<name of adapter>:<name>`), held by `replicaId`. */
  lease(name: string, opts: LinkLeaseOptions): LinkLease;
}

/**
 * The services of `adapter` (its key prefix is `<network>:<name>:`); `bounce` is its
 * context's, for events that expire in a queue.
 */
export function adapterServices(
  store: Store,
  adapter: { network: Network; name: string },
  replicaId: string,
  logger: Logger,
  bounce: (event: CanonicalEvent, refusal: Refusal, outcome: 'expired') => Promise<boolean>,
): AdapterServices {
  const prefix = `${adapter.network}:${adapter.name}:`;
  const state = namespacedState(store, prefix);
  return {
    replicaId,
    state,
    ids: idMap(state),
    queue: (name, opts) =>
      deliveryQueue(
        {
          store,
          key: prefix + name,
          logger,
          bounceExpired: async (event, reason) => {
            await bounce(event, { code: 'delivery', rule: null, reason }, 'expired');
          },
        },
        opts,
      ),
    lease: (name, opts) => linkLease({ store, name: prefix + name, replicaId, logger }, opts),
  };
}
