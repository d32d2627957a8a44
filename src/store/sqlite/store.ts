// The embedded store on disk: state and the audit trail in one SQLite file (WAL mode). The
// main thread keeps a connection for reads; a writer thread (writer-thread.ts) holds the
// connection that writes, so that inserting, indexing and syncing to disk do not stop the
// event loop. Queue operations and audit writes resolve once committed; key/value, hash
// and lease writes are answered at once and written behind (state.ts).
import type { Database } from 'better-sqlite3';
import type { Logger } from '../../core/logger.js';
import { silentLogger } from '../../core/logger.js';
import type { Store } from '../../core/store.js';
import { StoreClosedError } from '../memory.js';
import { SqliteAuditLog } from './audit-log.js';
import { explain, openAndMigrate, type Synchronous } from './database.js';
import type { QueueOp } from './protocol.js';
import { KeptState } from './state.js';
import { WriterClient } from './writer.js';

export interface SqliteStoreOptions {
  /** Absolute path of the database file (created with its folder). */
  path: string;
  /** `full` (default): each commit is on disk before it is acknowledged. */
  synchronous?: Synchronous;
  logger?: Logger;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly audit: SqliteAuditLog;
  readonly path: string;
  readonly #db: Database;
  readonly #writer: WriterClient;
  readonly #state: KeptState;
  #closed = false;

  /** Opens the file (throws SqliteStoreError naming it and what to do when it cannot). */
  constructor(opts: SqliteStoreOptions) {
    this.path = opts.path;
    const logger = opts.logger ?? silentLogger;
    this.#db = openAndMigrate(opts.path);
    let state: KeptState | null = null;
    this.#writer = new WriterClient({
      path: opts.path,
      synchronous: opts.synchronous ?? 'full',
      onCommitted: (upto) => state?.committed(upto),
      onStateError: (error) =>
        logger.error({ err: error, path: opts.path }, 'state not written to the SQLite file'),
    });
    state = new KeptState(this.#db, (op) => this.#writer.state(op));
    this.#state = state;
    this.audit = new SqliteAuditLog(this.#db, opts.path, this.#writer, () => this.#check());
  }

  #check(): void {
    if (this.#closed) throw new StoreClosedError();
  }

  async get(key: string): Promise<string | null> {
    this.#check();
    return this.#state.get(key);
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    this.#check();
    this.#state.set(key, value, ttlMs);
  }

  async del(key: string): Promise<void> {
    this.#check();
    this.#state.del(key);
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    this.#check();
    return this.#state.setIfAbsent(key, value, ttlMs);
  }

  async incrWindow(key: string, windowMs: number): Promise<number> {
    this.#check();
    return this.#state.incrWindow(key, windowMs);
  }

  async hset(key: string, field: string, value: string): Promise<void> {
    this.#check();
    this.#state.hset(key, field, value);
  }

  async hget(key: string, field: string): Promise<string | null> {
    this.#check();
    return this.#state.hget(key, field);
  }

  async hgetall(key: string): Promise<Record<string, string>> {
    this.#check();
    return this.#state.hgetall(key);
  }

  async hdel(key: string, field: string): Promise<void> {
    this.#check();
    this.#state.hdel(key, field);
  }

  async #queue<T>(q: QueueOp): Promise<T> {
    this.#check();
    try {
      return await this.#writer.request<T>({ type: 'queue', q });
    } catch (err) {
      throw explain(this.path, err);
    }
  }

  enqueue(queue: string, payload: string, maxLen: number): Promise<boolean> {
    return this.#queue({ op: 'enqueue', queue, payload, maxLen });
  }

  dequeue(queue: string, count: number): Promise<string[]> {
    return this.#queue({ op: 'dequeue', queue, count });
  }

  peek(queue: string, count: number): Promise<string[]> {
    return this.#queue({ op: 'peek', queue, count });
  }

  ack(queue: string, items: readonly string[]): Promise<number> {
    return this.#queue({ op: 'ack', queue, items: [...items] });
  }

  queueLength(queue: string): Promise<number> {
    return this.#queue({ op: 'length', queue });
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    this.#check();
    return this.#state.acquireLease(name, owner, ttlMs);
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    this.#check();
    this.#state.releaseLease(name, owner);
  }

  async leaseOwner(name: string): Promise<string | null> {
    this.#check();
    return this.#state.leaseOwner(name);
  }

  async ping(): Promise<boolean> {
    if (this.#closed || !this.#writer.healthy) return false;
    try {
      this.#db.prepare('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  /** Writes what waits (state written behind included), then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#writer.close();
    } finally {
      this.#db.close();
    }
  }
}
