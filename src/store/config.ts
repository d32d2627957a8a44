// The `store` section of the config file. Absent: the embedded in-memory store.
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

export const StoreConfig = Type.Object(
  {
    redis: Type.Union([Type.String({ pattern: '^rediss?://' }), RedisConfigObject]),
  },
  { additionalProperties: false },
);
export type StoreConfig = Static<typeof StoreConfig>;
