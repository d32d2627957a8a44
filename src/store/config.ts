// The `store` section of the config file. Absent: the embedded SQLite file data/parley.db.
//   store: { sqlite: /var/lib/parley/parley.db }
//   store: { redis: "redis://127.0.0.1:6379/0", archive: "postgres://parley@db/parley" }
//   store: { memory: true }   # tests and benchmarks only: everything is lost on exit
//   store: { redis: "redis://127.0.0.1:6379/0" }
//   store: { redis: { sentinels: [{ host: s1, port: 26379 }], name: mymaster, prefix: "acme:" } }
//   store: { redis: { cluster: [{ host: r1, port: 6379 }, { host: r2, port: 6379 }] } }
import { type Static, Type } from '@sinclair/typebox';

export const RedisNodeConfig = Type.Object(
  {
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
  },
  { additionalProperties: false },
);

export const RedisConfigObject = Type.Object(
  {
    /** `redis://[user:pass@]host:port/db` or `rediss://` (TLS). */
    url: Type.Optional(Type.String({ pattern: '^rediss?://' })),
    /** Sentinel: sentinel nodes plus the master group `name`. */
    sentinels: Type.Optional(Type.Array(RedisNodeConfig, { minItems: 1 })),
    name: Type.Optional(Type.String({ minLength: 1 })),
    /** Cluster: startup nodes. */
    cluster: Type.Optional(Type.Array(RedisNodeConfig, { minItems: 1 })),
    /** Key prefix (default `parley:`); audit keys use it as a Cluster hash tag: `{parley}:audit:*`. */
    prefix: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    db: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Per-command timeout in milliseconds (default 5000). */
    commandTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type RedisConfigObject = Static<typeof RedisConfigObject>;

export const SqliteConfigObject = Type.Object(
  {
    /** The database file (created with its folder); relative to the working directory. */
    path: Type.String({ minLength: 1 }),
    /**
     * `full` (default): an audit batch is on disk before the events it records cross;
     * `normal`: faster, but a power cut (not a crash) may lose the last batches.
     */
    synchronous: Type.Optional(Type.Union([Type.Literal('full'), Type.Literal('normal')])),
  },
  { additionalProperties: false },
);
export type SqliteConfigObject = Static<typeof SqliteConfigObject>;

export const ArchiveConfigObject = Type.Object(
  {
    /** `postgres://user:password@host:port/database` (or `postgresql://`). */
    url: Type.String({ pattern: '^postgres(ql)?://' }),
    /** The schema holding the archive's tables (default `parley`). */
    schema: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$' })),
    /** Partition width of the audit table (default `month`). */
    partition: Type.Optional(Type.Union([Type.Literal('month'), Type.Literal('day')])),
    /** Most connections per replica (default 4). */
    poolMax: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    /** Per-statement timeout in milliseconds (default 5000). */
    statementTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type ArchiveConfigObject = Static<typeof ArchiveConfigObject>;

/**
 * State (leases, queues, dedupe, rate limits) lives in at most one of `sqlite` (the
 * default), `redis` or `memory`; the audit trail lives with it unless `archive` names a
 * PostgreSQL database.
 */
export const StoreConfig = Type.Object(
  {
    sqlite: Type.Optional(Type.Union([Type.String({ minLength: 1 }), SqliteConfigObject])),
    redis: Type.Optional(Type.Union([Type.String({ pattern: '^rediss?://' }), RedisConfigObject])),
    /** Tests and benchmarks only: nothing survives the process. */
    memory: Type.Optional(Type.Literal(true)),
    archive: Type.Optional(Type.Union([Type.String({ pattern: '^postgres(ql)?://' }), ArchiveConfigObject])),
  },
  { additionalProperties: false },
);
export type StoreConfig = Static<typeof StoreConfig>;
