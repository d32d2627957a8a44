// The audit log in PostgreSQL (the archive at scale): the same chain, head and trim anchor
// as every store, kept in the tables of ddl.ts. Appends, trims and restores go through the
// schema's SECURITY DEFINER functions (one writer at a time per schema, under an advisory
// lock; the head is checked and moved in the same transaction as the records), so that the
// gateway's role needs no right to write a table. Reads and search are plain SELECTs.
//
// The schema is checked (and created or migrated when the role may) before the first
// operation; an archive that does not answer at open is not fatal: operations reject with
// ArchiveUnavailableError until it is back, then the check runs again.
import type { QueryPage } from '../../core/audit/query.js';
import type { AuditRecord } from '../../core/audit/record.js';
import { GENESIS_HASH } from '../../core/audit/record.js';
import type { AuditFilter } from '../../core/audit/types.js';
import type { Logger } from '../../core/logger.js';
import { silentLogger } from '../../core/logger.js';
import type { AppendResult, AuditHead, AuditLog, AuditLogSource } from '../../core/store.js';
import { chainProblem, restoreProblem } from '../chain-check.js';
import {
  ArchiveUnavailableError,
  archiveError,
  connect,
  describeUrl,
  pgIntArray,
  type Sql,
} from './connect.js';
import { checkSchemaName, type PartitionWidth } from './ddl.js';
import { ArchiveSchemaError, ensureSchema, type SchemaState } from './migrate.js';
import { columnArrays, parseRows } from './rows.js';
import { searchArchive } from './search.js';
import { AppendTurns } from './turn.js';

export interface PostgresArchiveOptions {
  /** `postgres://user:password@host:port/database`. */
  url: string;
  /** The schema of the archive's tables (default `parley`). */
  schema?: string;
  /** Partition width of a new archive (default `month`; an existing archive keeps its own). */
  partition?: PartitionWidth;
  /** Most connections (default 4). */
  poolMax?: number;
  /** Server-side limit per statement in ms (default 5000). */
  statementTimeoutMs?: number;
  /** Create or migrate the schema when it is missing or old (default true; needs the right to). */
  migrate?: boolean;
  logger?: Logger;
}

const HOUR_MS = 3_600_000;

/** A reader module other threads open this log with (AuditLogSource). */
const READER_MODULE = new URL(`./reader${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)
  .href;

export class PostgresAuditLog implements AuditLog {
  readonly kind = 'postgres';
  readonly source: AuditLogSource;
  readonly schema: string;
  readonly target: string;
  readonly sql: Sql;
  private readonly o: PostgresArchiveOptions;
  private readonly logger: Logger;
  private readonly opTimeoutMs: number;
  private state: SchemaState | null = null;
  private checking: Promise<SchemaState> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly turns: AppendTurns;
  private readonly q: {
    append: string;
    restore: string;
    head: string;
    range: string;
    reverse: string;
    partitions: string;
  };

  constructor(o: PostgresArchiveOptions) {
    this.o = o;
    this.schema = checkSchemaName(o.schema ?? 'parley');
    this.target = describeUrl(o.url);
    this.logger = (o.logger ?? silentLogger).child({ component: 'archive', archive: this.target });
    const statementTimeoutMs = o.statementTimeoutMs ?? 5000;
    this.opTimeoutMs = statementTimeoutMs + 2000;
    this.sql = connect({ url: o.url, max: o.poolMax ?? 4, statementTimeoutMs });
    this.source = { module: READER_MODULE, options: { url: o.url, schema: this.schema } };
    this.turns = new AppendTurns(this.sql, this.schema);
    const s = this.schema;
    this.q = {
      append: `SELECT ok, seq, hash FROM ${s}.parley_audit_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
      restore: `SELECT ${s}.parley_audit_restore($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      head: `SELECT head_seq, head_hash, anchor_seq, anchor_hash, kept FROM ${s}.audit_state`,
      range: `SELECT seq, record FROM ${s}.audit_record WHERE seq >= $1 ORDER BY seq LIMIT $2`,
      reverse: `SELECT seq, record FROM ${s}.audit_record WHERE seq <= $1 ORDER BY seq DESC LIMIT $2`,
      partitions: `SELECT ${s}.parley_audit_partitions($1, true) AS made`,
    };
  }

  /**
   * Check the schema now (create or migrate it when allowed), within `timeoutMs`: true when
   * the archive answered. A schema problem (too new, no right to create it) throws.
   */
  async open(timeoutMs = 5000): Promise<boolean> {
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    try {
      const res = await Promise.race([this.ready(), timeout]);
      if (res === 'timeout') return false;
    } catch (err) {
      if (err instanceof ArchiveSchemaError) throw err;
      return false;
    }
    return true;
  }

  /** The schema, checked once per process (again after a failed check). */
  private ready(): Promise<SchemaState> {
    if (this.state) return Promise.resolve(this.state);
    if (!this.checking) {
      this.checking = ensureSchema(this.sql, this.schema, {
        migrate: this.o.migrate ?? true,
        partition: this.o.partition ?? 'month',
        target: this.target,
      })
        .then((st) => {
          this.state = st;
          if (this.o.partition && this.o.partition !== st.partition) {
            this.logger.warn(
              { configured: this.o.partition, archive: st.partition },
              'the archive keeps the partition width it was created with',
            );
          }
          void this.preparePartitions();
          this.maintain();
          return st;
        })
        .finally(() => {
          this.checking = null;
        });
    }
    return this.checking;
  }

  /** Partitions for now and the next period, made ahead so that appends rarely need DDL. */
  private async preparePartitions(): Promise<void> {
    const now = Date.now();
    const ahead = (this.state?.partition ?? 'month') === 'day' ? 86_400_000 : 32 * 86_400_000;
    const times = `{"${new Date(now).toISOString()}","${new Date(now + ahead).toISOString()}"}`;
    try {
      await this.sql.unsafe(this.q.partitions, [times]);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'could not prepare the next audit partitions');
    }
  }

  private maintain(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.preparePartitions(), HOUR_MS);
    this.timer.unref();
  }

  /** Run `fn` once the schema is ready; failures name the archive and the operation. */
  private async op<T>(what: string, fn: (sql: Sql) => Promise<T>, timeoutMs = this.opTimeoutMs): Promise<T> {
    if (this.closed)
      throw new ArchiveUnavailableError(`postgres archive (${this.target}) is closed: ${what} failed`);
    let timer: NodeJS.Timeout | undefined;
    try {
      const run = async () => {
        if (!this.state) await this.ready();
        return fn(this.sql);
      };
      if (timeoutMs <= 0) return await run();
      // A server that stopped answering (not one that is down: that fails at once) must not
      // hold a fail-closed event for longer than a statement may take.
      return await Promise.race([
        run(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new ArchiveUnavailableError(`no answer within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (err) {
      if (err instanceof ArchiveSchemaError) throw err;
      throw archiveError(this.target, what, err);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  async append(records: readonly AuditRecord[]): Promise<AppendResult> {
    if (records.length === 0) return { ok: true };
    const first = records[0] as AuditRecord;
    const expectSeq = first.seq - 1;
    if (expectSeq === 0 && first.prev !== GENESIS_HASH) return { ok: false, head: await this.head() };
    const problem = chainProblem({ seq: expectSeq, hash: first.prev }, records);
    if (problem) throw new Error(`audit append rejected: ${problem}`);
    const last = records[records.length - 1] as AuditRecord;
    const args = [expectSeq, expectSeq === 0 ? '' : first.prev, last.hash, ...columnArrays(records)];
    type Row = { ok: boolean; seq: string | null; hash: string | null };
    const run = (sql: Sql) => sql.unsafe<Row[]>(this.q.append, args, { prepare: true });
    // After a lost race this replica holds the turn: its retry runs there, nobody between.
    const [row] = await this.op('audit append', (sql) => this.turns.use(run) ?? run(sql));
    if (!row)
      throw new ArchiveUnavailableError(`postgres archive (${this.target}): audit append gave no answer`);
    if (row.ok) return { ok: true };
    const fresh = await this.turns.take();
    if (fresh !== undefined) return { ok: false, head: fresh };
    return {
      ok: false,
      head: row.seq === null || row.hash === null ? null : { seq: Number(row.seq), hash: row.hash },
    };
  }

  private async marks(what: string) {
    const [row] = await this.op(what, (sql) =>
      sql.unsafe<
        {
          head_seq: string | null;
          head_hash: string | null;
          anchor_seq: string | null;
          anchor_hash: string | null;
          kept: string;
        }[]
      >(this.q.head, [], { prepare: true }),
    );
    return row;
  }

  async head(): Promise<AuditHead | null> {
    const row = await this.marks('audit head');
    return row?.head_seq != null && row.head_hash != null
      ? { seq: Number(row.head_seq), hash: row.head_hash }
      : null;
  }

  async anchor(): Promise<AuditHead | null> {
    const row = await this.marks('audit anchor');
    return row?.anchor_seq != null && row.anchor_hash != null
      ? { seq: Number(row.anchor_seq), hash: row.anchor_hash }
      : null;
  }

  async length(): Promise<number> {
    const row = await this.marks('audit length');
    return Number(row?.kept ?? 0);
  }

  async range(fromSeq: number, limit: number): Promise<AuditRecord[]> {
    if (limit <= 0) return [];
    const rows = await this.op('audit range', (sql) =>
      sql.unsafe<{ seq: string; record: string }[]>(this.q.range, [Math.max(1, Math.ceil(fromSeq)), limit], {
        prepare: true,
      }),
    );
    return parseRows(rows);
  }

  async reverseRange(beforeSeq: number, limit: number): Promise<AuditRecord[]> {
    if (limit <= 0 || beforeSeq < 1) return [];
    const rows = await this.op('audit reverseRange', (sql) =>
      sql.unsafe<{ seq: string; record: string }[]>(this.q.reverse, [Math.floor(beforeSeq), limit], {
        prepare: true,
      }),
    );
    return parseRows(rows);
  }

  async restore(anchor: AuditHead, held: readonly AuditRecord[]): Promise<void> {
    const problem = restoreProblem(anchor, held);
    if (problem) throw new Error(`audit restore rejected: ${problem}`);
    const args = [anchor.seq, anchor.hash, ...columnArrays(held)];
    // Held records may be many: no statement limit.
    await this.op(
      'audit restore',
      (sql) =>
        sql.begin(async (tx) => {
          await tx.unsafe('SET LOCAL statement_timeout = 0');
          await tx.unsafe(this.q.restore, args);
        }),
      0,
    );
  }

  async trim(beforeSeq: number, keep: ReadonlySet<number> = new Set()): Promise<number> {
    const cut = Math.floor(beforeSeq);
    if (!(cut > 1)) return 0;
    const kept = pgIntArray([...keep].filter((n) => Number.isSafeInteger(n)).sort((a, b) => a - b));
    // Dropping partitions and deleting held partitions' rows may take longer than a statement may.
    const [row] = await this.op(
      'audit trim',
      (sql) =>
        sql.begin(async (tx) => {
          await tx.unsafe('SET LOCAL statement_timeout = 0');
          return tx.unsafe<{ removed: string }[]>(
            `SELECT ${this.schema}.parley_audit_trim($1, $2) AS removed`,
            [Math.min(cut, Number.MAX_SAFE_INTEGER), kept],
          );
        }),
      0,
    );
    return Number(row?.removed ?? 0);
  }

  search(filter: AuditFilter, before: number | null, limit: number): Promise<QueryPage> {
    return searchArchive(
      filter,
      before,
      limit,
      (what, text, params) =>
        this.op(what, (sql) => sql.unsafe<{ seq: string; record: string }[]>(text, params)),
      this.schema,
    );
  }

  /** True when the archive answers (and its schema was checked). */
  async ping(timeoutMs = 1000): Promise<boolean> {
    if (this.closed) return false;
    try {
      await this.op('ping', (sql) => sql.unsafe('SELECT 1'), timeoutMs);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.turns.close();
    await this.sql.end({ timeout: 5 });
  }
}

/** Open the archive: the log, with its schema checked when the server answers within `timeoutMs`. */
export async function openPostgresAuditLog(
  o: PostgresArchiveOptions,
  timeoutMs = 5000,
): Promise<{ log: PostgresAuditLog; reachable: boolean }> {
  const log = new PostgresAuditLog(o);
  try {
    const reachable = await log.open(timeoutMs);
    return { log, reachable };
  } catch (err) {
    await log.close();
    throw err;
  }
}
