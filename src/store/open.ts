// Opening the configured store: Redis when `store.redis` is set, else the embedded one.
import type { Logger } from '../core/logger.js';
import type { Store } from '../core/store.js';
import type { StoreConfig } from './config.js';
import { MemoryStore } from './memory.js';
import { RedisStore, type RedisStoreOptions } from './redis.js';
import { withArchive } from './with-archive.js';

export class StoreConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreConfigError';
  }
}

/** The ioredis options a config gives (throws StoreConfigError when it names no server). */
export function redisOptions(cfg: StoreConfig, logger: Logger): RedisStoreOptions {
  const r = cfg.redis;
  if (r === undefined) throw new StoreConfigError('store.redis: not set');
  if (typeof r === 'string') return { url: r, logger };
  const modes = [r.url, r.sentinels, r.cluster].filter((x) => x !== undefined).length;
  if (modes !== 1) {
    throw new StoreConfigError('store.redis: give exactly one of url, sentinels (with name) or cluster');
  }
  if (r.sentinels && !r.name)
    throw new StoreConfigError('store.redis: sentinels need the master group name (name)');
  const opts: RedisStoreOptions = { logger };
  if (r.url !== undefined) opts.url = r.url;
  if (r.sentinels !== undefined) opts.sentinels = r.sentinels;
  if (r.name !== undefined) opts.name = r.name;
  if (r.cluster !== undefined) opts.cluster = r.cluster;
  if (r.prefix !== undefined) opts.prefix = r.prefix;
  if (r.username !== undefined) opts.username = r.username;
  if (r.password !== undefined) opts.password = r.password;
  if (r.db !== undefined) opts.db = r.db;
  if (r.commandTimeoutMs !== undefined) opts.commandTimeoutMs = r.commandTimeoutMs;
  return opts;
}

/**
 * Open the store. A Redis that does not answer within `connectTimeoutMs` is not fatal:
 * the store is returned, logs a warning, keeps reconnecting, and its operations reject
 * (and ping() is false) until Redis is back.
 */
export async function openStore(
  cfg: StoreConfig | undefined,
  logger: Logger,
  opts: { connectTimeoutMs?: number } = {},
): Promise<Store> {
  const state = await openStateStore(cfg, logger, opts);
  // `store.archive`: the audit trail in PostgreSQL, the state where it was.
  return cfg?.archive ? withArchive(state, cfg.archive, logger, opts) : state;
}

async function openStateStore(
  cfg: StoreConfig | undefined,
  logger: Logger,
  opts: { connectTimeoutMs?: number },
): Promise<Store> {
  if (!cfg?.redis) {
    logger.info({ store: 'memory' }, 'using the embedded in-memory store');
    return new MemoryStore();
  }
  const store = new RedisStore(redisOptions(cfg, logger));
  const ok = await store.ready(opts.connectTimeoutMs ?? 5000);
  if (ok) logger.info({ store: store.target }, 'connected to redis');
  else logger.warn({ store: store.target }, 'redis not reachable yet; retrying in the background');
  return store;
}
