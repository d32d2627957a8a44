// Opening the configured store: the SQLite file (the default, `data/parley.db` under the
// working directory), Redis, or memory (tests and benchmarks).
import { resolve } from 'node:path';
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

/** Where the SQLite store lives when the config does not say. */
export const DEFAULT_SQLITE_PATH = 'data/parley.db';

/** The state backends a config names (at most one may be set). */
function backends(cfg: StoreConfig | undefined): string[] {
  if (!cfg) return [];
  return (['sqlite', 'redis', 'memory'] as const).filter((k) => cfg[k] !== undefined);
}

/** The SQLite file and sync mode a config gives (relative paths against `cwd`). */
export function sqliteOptions(
  cfg: StoreConfig | undefined,
  cwd: string,
): { path: string; synchronous: 'full' | 'normal' } {
  const s = cfg?.sqlite;
  const path = s === undefined ? DEFAULT_SQLITE_PATH : typeof s === 'string' ? s : s.path;
  const synchronous = typeof s === 'object' ? (s.synchronous ?? 'full') : 'full';
  return { path: resolve(cwd, path), synchronous };
}

async function openSqlite(cfg: StoreConfig | undefined, logger: Logger, cwd: string): Promise<Store> {
  const { path, synchronous } = sqliteOptions(cfg, cwd);
  // Loaded only when used: a Redis or memory deployment never loads the native module.
  const { SqliteStore } = await import('./sqlite/store.js');
  const { SqliteStoreError } = await import('./sqlite/database.js');
  try {
    const store = new SqliteStore({ path, synchronous, logger });
    logger.info({ store: 'sqlite', path, synchronous }, `using the SQLite store ${path}`);
    return store;
  } catch (err) {
    if (err instanceof SqliteStoreError) throw new StoreConfigError(err.message);
    throw err;
  }
}

/**
 * Open the store. A Redis that does not answer within `connectTimeoutMs` is not fatal:
 * the store is returned, logs a warning, keeps reconnecting, and its operations reject
 * (and ping() is false) until Redis is back.
 */
export async function openStore(
  cfg: StoreConfig | undefined,
  logger: Logger,
  opts: { connectTimeoutMs?: number; cwd?: string } = {},
): Promise<Store> {
  const chosen = backends(cfg);
  if (chosen.length > 1) {
    throw new StoreConfigError(
      `store: ${chosen.join(', ')} are set together; keep only one of sqlite (the default), redis or memory`,
    );
  }
  const state = await openStateStore(cfg, logger, opts);
  // `store.archive`: the audit trail in PostgreSQL, the state where it was.
  return cfg?.archive ? withArchive(state, cfg.archive, logger, opts) : state;
}

async function openStateStore(
  cfg: StoreConfig | undefined,
  logger: Logger,
  opts: { connectTimeoutMs?: number; cwd?: string },
): Promise<Store> {
  if (cfg?.memory) {
    logger.info(
      { store: 'memory' },
      'using the in-memory store (tests and benchmarks only: nothing survives a restart)',
    );
    return new MemoryStore();
  }
  if (!cfg?.redis) return openSqlite(cfg, logger, opts.cwd ?? process.cwd());
  const store = new RedisStore(redisOptions(cfg, logger));
  const ok = await store.ready(opts.connectTimeoutMs ?? 5000);
  if (ok) logger.info({ store: store.target }, 'connected to redis');
  else logger.warn({ store: store.target }, 'redis not reachable yet; retrying in the background');
  return store;
}
