// A store whose audit trail lives in the PostgreSQL archive (`store.archive`) while its
// state (leases, queues, dedupe, rate limits) stays in the store it was opened with.
import type { Logger } from '../core/logger.js';
import type { AuditLog, Store } from '../core/store.js';
import type { ArchiveConfigObject } from './config.js';
import { openPostgresAuditLog, type PostgresArchiveOptions } from './postgres/log.js';

/** The archive's options from `store.archive` (a URL, or the object form). */
export function archiveOptions(cfg: string | ArchiveConfigObject, logger: Logger): PostgresArchiveOptions {
  if (typeof cfg === 'string') return { url: cfg, logger };
  const o: PostgresArchiveOptions = { url: cfg.url, logger };
  if (cfg.schema !== undefined) o.schema = cfg.schema;
  if (cfg.partition !== undefined) o.partition = cfg.partition;
  if (cfg.poolMax !== undefined) o.poolMax = cfg.poolMax;
  if (cfg.statementTimeoutMs !== undefined) o.statementTimeoutMs = cfg.statementTimeoutMs;
  return o;
}

type StateOps = Omit<Store, 'kind' | 'audit' | 'ping' | 'close'>;

export class StoreWithArchive implements Store {
  readonly kind: Store['kind'];
  readonly get: StateOps['get'];
  readonly set: StateOps['set'];
  readonly del: StateOps['del'];
  readonly setIfAbsent: StateOps['setIfAbsent'];
  readonly incrWindow: StateOps['incrWindow'];
  readonly hset: StateOps['hset'];
  readonly hget: StateOps['hget'];
  readonly hgetall: StateOps['hgetall'];
  readonly hdel: StateOps['hdel'];
  readonly enqueue: StateOps['enqueue'];
  readonly dequeue: StateOps['dequeue'];
  readonly peek: StateOps['peek'];
  readonly ack: StateOps['ack'];
  readonly queueLength: StateOps['queueLength'];
  readonly acquireLease: StateOps['acquireLease'];
  readonly releaseLease: StateOps['releaseLease'];
  readonly leaseOwner: StateOps['leaseOwner'];

  constructor(
    readonly state: Store,
    readonly audit: AuditLog & { ping(): Promise<boolean>; close(): Promise<void> },
  ) {
    const s = state;
    this.kind = s.kind;
    this.get = s.get.bind(s);
    this.set = s.set.bind(s);
    this.del = s.del.bind(s);
    this.setIfAbsent = s.setIfAbsent.bind(s);
    this.incrWindow = s.incrWindow.bind(s);
    this.hset = s.hset.bind(s);
    this.hget = s.hget.bind(s);
    this.hgetall = s.hgetall.bind(s);
    this.hdel = s.hdel.bind(s);
    this.enqueue = s.enqueue.bind(s);
    this.dequeue = s.dequeue.bind(s);
    this.peek = s.peek.bind(s);
    this.ack = s.ack.bind(s);
    this.queueLength = s.queueLength.bind(s);
    this.acquireLease = s.acquireLease.bind(s);
    this.releaseLease = s.releaseLease.bind(s);
    this.leaseOwner = s.leaseOwner.bind(s);
  }

  /** True only when both the state store and the archive answer. */
  async ping(): Promise<boolean> {
    const [a, b] = await Promise.all([this.state.ping(), this.audit.ping()]);
    return a && b;
  }

  async close(): Promise<void> {
    const results = await Promise.allSettled([this.state.close(), this.audit.close()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/**
 * Put the archive under `state` (opened by openStore). An archive that does not answer
 * within `connectTimeoutMs` is not fatal, as with Redis: a warning, and its operations
 * reject until it answers; a schema it cannot use (too new, no right to create it) is.
 */
export async function withArchive(
  state: Store,
  cfg: string | ArchiveConfigObject,
  logger: Logger,
  opts: { connectTimeoutMs?: number } = {},
): Promise<Store> {
  let opened: Awaited<ReturnType<typeof openPostgresAuditLog>>;
  try {
    opened = await openPostgresAuditLog(archiveOptions(cfg, logger), opts.connectTimeoutMs ?? 5000);
  } catch (err) {
    await state.close().catch(() => {});
    throw err;
  }
  const { log, reachable } = opened;
  if (reachable)
    logger.info({ archive: log.target, schema: log.schema }, 'audit trail in the postgres archive');
  else
    logger.warn({ archive: log.target }, 'postgres archive not reachable yet; retrying on each audit write');
  return new StoreWithArchive(state, log);
}
