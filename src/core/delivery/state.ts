// An adapter's own state in the store: the key/value, counter, hash and lease operations,
// each key under the adapter's prefix (`<network>:<name>:`), and nothing else — no audit
// log, no queues (those are the context's `queue`), no other adapter's keys.
import type { Store } from '../store.js';

export interface AdapterState {
  /**
   * `memory`: the store lives and dies with this process (no other replica shares it, and
   * nothing in it outlives a restart); `redis`: shared by every replica, durable.
   */
  readonly kind: Store['kind'];
  /** The prefix every key gets, e.g. `xmpp:corp:`. */
  readonly prefix: string;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  del(key: string): Promise<void>;
  /** Set only if absent; true when this call set it. */
  setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean>;
  /** Increment a counter that lives `windowMs` from its first increment; returns the new count. */
  incrWindow(key: string, windowMs: number): Promise<number>;
  hset(key: string, field: string, value: string): Promise<void>;
  hget(key: string, field: string): Promise<string | null>;
  hgetall(key: string): Promise<Record<string, string>>;
  hdel(key: string, field: string): Promise<void>;
  /**
   * Take or renew the lease `key` (the store's lease space, not a plain key): true when
   * `owner` holds it afterwards. For a short mutual exclusion across replicas; a link that
   * only one replica may hold takes the context's `lease` instead.
   */
  acquireLease(key: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(key: string, owner: string): Promise<void>;
}

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
