// Fair turns between replicas appending to one chain. An append is conditional on the head;
// a replica that lost the race re-chains after the new head and tries again — but the
// winner's next append is often already waiting, so under steady load the same replica
// can lose every time (measured: two writers with 1,000-record batches, one gave up after
// 100 attempts). So a replica that lost takes the turn before it answers the conflict: a
// session advisory lock every append waits for (parley_audit_append takes it shared), held
// on a connection of its own until its next append runs there, or for a second at most.
// With the turn held no other append runs, so the head it answers with stays the head.
import type { ReservedSql } from 'postgres';
import type { AuditHead } from '../../core/store.js';
import type { Sql } from './connect.js';
import { lockKey, TURN_LOCK_CLASS } from './ddl.js';

/** A turn not used within this long is given back (its writer gave up, or died). */
const TURN_MS = 1000;

interface Held {
  conn: ReservedSql<Record<string, never>>;
  timer: NodeJS.Timeout;
}

export class AppendTurns {
  private held: Held | null = null;
  private readonly lock: string;
  private readonly unlock: string;
  private readonly head: string;

  constructor(
    private readonly sql: Sql,
    schema: string,
  ) {
    this.lock = `SELECT pg_advisory_lock(${TURN_LOCK_CLASS}, ${lockKey(schema)})`;
    this.unlock = `SELECT pg_advisory_unlock(${TURN_LOCK_CLASS}, ${lockKey(schema)})`;
    this.head = `SELECT head_seq, head_hash FROM ${schema}.audit_state`;
  }

  /**
   * Take the turn (waiting for another replica's) and read the head under it; undefined
   * when it could not be taken (the caller answers with the head it has).
   */
  async take(): Promise<AuditHead | null | undefined> {
    if (this.held) return undefined;
    let conn: Held['conn'] | null = null;
    try {
      conn = (await this.sql.reserve()) as Held['conn'];
      await conn.unsafe(this.lock);
      const [st] = await conn.unsafe<{ head_seq: string | null; head_hash: string | null }[]>(this.head);
      if (this.held) throw new Error('taken meanwhile');
      const held: Held = { conn, timer: setTimeout(() => void this.giveBack(held), TURN_MS) };
      held.timer.unref();
      this.held = held;
      return st?.head_seq != null && st.head_hash != null
        ? { seq: Number(st.head_seq), hash: st.head_hash }
        : null;
    } catch {
      if (conn) await this.release(conn);
      return undefined;
    }
  }

  /** Run `fn` on the turn's connection when this replica holds the turn (then give it back), else null. */
  use<T>(fn: (conn: Sql) => Promise<T>): Promise<T> | null {
    const held = this.held;
    if (!held) return null;
    this.held = null;
    clearTimeout(held.timer);
    return fn(held.conn as unknown as Sql).finally(() => this.release(held.conn));
  }

  private async giveBack(held: Held): Promise<void> {
    if (this.held !== held) return;
    this.held = null;
    await this.release(held.conn);
  }

  private async release(conn: Held['conn']): Promise<void> {
    try {
      await conn.unsafe(this.unlock);
    } catch {
      // a broken connection: the server drops its session locks with it
    }
    conn.release();
  }

  /** Give back a turn held at close. */
  async close(): Promise<void> {
    const held = this.held;
    if (!held) return;
    this.held = null;
    clearTimeout(held.timer);
    await this.release(held.conn);
  }
}
