// An adapter's own state in the store: the key/value, counter, hash and lease operations,
// each key under the adapter's prefix (`<network>:<name>:`), and nothing else — no audit
// log, no queues (those are the context's `queue`), no other adapter's keys.
import type { Store } from '../store.js';

/** The store's key, counter, hash and lease operations: the same calls, on prefixed keys. */
type KeyOperations =
  | 'get'
  | 'set'
  | 'del'
  | 'setIfAbsent'
  | 'incrWindow'
  | 'hset'
  | 'hget'
  | 'hgetall'
  | 'hdel'
  | 'acquireLease' // a short mutual exclusion across replicas; a link takes the context's `lease`
  | 'releaseLease';

/**
 * `kind` — `memory`: the store lives and dies with this process (no other replica shares it,
 * nothing in it outlives a restart); `sqlite`: this process's, in a file, so it outlives a
 * restart; `redis`: shared by every replica, durable.
 */
export type AdapterState = Pick<Store, 'kind' | KeyOperations> & {
  /** The prefix every key gets, e.g. `xmpp:corp:`. */
  readonly prefix: string;
};

/** The view of `store` under `prefix`. */
export function namespacedState(store: Store, prefix: string): AdapterState {
  const k = (key: string) => prefix + key;
  return {
    kind: store.kind,
    prefix,
    get: (key) => store.get(k(key)),
    set: (key, value, ttlMs) => store.set(k(key), value, ttlMs),
    del: (key) => store.del(k(key)),
    setIfAbsent: (key, value, ttlMs) => store.setIfAbsent(k(key), value, ttlMs),
    incrWindow: (key, windowMs) => store.incrWindow(k(key), windowMs),
    hset: (key, field, value) => store.hset(k(key), field, value),
    hget: (key, field) => store.hget(k(key), field),
    hgetall: (key) => store.hgetall(k(key)),
    hdel: (key, field) => store.hdel(k(key), field),
    acquireLease: (key, owner, ttlMs) => store.acquireLease(k(key), owner, ttlMs),
    releaseLease: (key, owner) => store.releaseLease(k(key), owner),
  };
}
