// The shared store on Redis (standalone, Sentinel or Cluster) through ioredis, so that
// several replicas share state, leases and one audit chain.
//
// Keys: state under `<prefix>` (default `parley:`): `parley:kv:<key>`, `parley:h:<key>`,
// `parley:q:<queue>`, `parley:lease:<name>`; each operation touches one key, so they
// spread over a Cluster. The audit keys share the hash tag `{parley}` (one slot, so the
// append script may touch all of them in Cluster): `{parley}:audit:stream` (a Stream with
// explicit ids `<seq>-0`, the record as JSON in field `r`), `{parley}:audit:head` and
// `{parley}:audit:anchor` (hashes with `seq` and `hash`).
//
// The append is one Lua script: it compares the stored head with what the first record
// follows and, only when they match, adds the records and moves the head, atomically.
// Connection loss never throws out of the event loop: operations reject with a
// StoreUnavailableError (no offline queue: a fail-closed gateway wants a fast answer),
// ping() answers false and ioredis keeps reconnecting.
import { createHash } from 'node:crypto';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { recordJson } from '../core/audit/chain.js';
import type { AuditRecord } from '../core/audit/record.js';
import { GENESIS_HASH } from '../core/audit/record.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import type { AppendResult, AuditHead, AuditLog, Store } from '../core/store.js';
import { chainProblem, restoreProblem } from './chain-check.js';
import { unreadableRecord } from './unreadable-record.js';

export interface RedisNode {
  host: string;
  port: number;
}

export interface RedisStoreOptions {
  /** `redis://[user:pass@]host:port/db` or `rediss://...`. */
  url?: string;
  /** Sentinel: the sentinels and the master group name. */
  sentinels?: RedisNode[];
  name?: string;
  /** Cluster: startup nodes. */
  cluster?: RedisNode[];
  /** Key prefix for state keys (default `parley:`); its name also tags the audit keys. */
  prefix?: string;
  username?: string;
  password?: string;
  db?: number;
  /** Per-command timeout in ms (default 5000). */
  commandTimeoutMs?: number;
  logger?: Logger;
}

export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

type Client = Redis;

class Script {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

const APPEND = new Script(`
local h = redis.call('HMGET', KEYS[2], 'seq', 'hash')
local cseq = h[1] or '0'
local chash = h[2] or ''
if cseq ~= ARGV[1] or chash ~= ARGV[2] then return {0, cseq, chash} end
local first = redis.pcall('XADD', KEYS[1], ARGV[5], 'r', ARGV[6])
if type(first) == 'table' and first.err then
  return redis.error_reply('audit stream out of step with its head: ' .. first.err)
end
for i = 7, #ARGV, 2 do redis.call('XADD', KEYS[1], ARGV[i], 'r', ARGV[i + 1]) end
redis.call('HSET', KEYS[2], 'seq', ARGV[3], 'hash', ARGV[4])
return {1}
`);

const SET_ANCHOR = new Script(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if tonumber(ARGV[1]) > cur then redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'hash', ARGV[2]) return 1 end
return 0
`);

// Only into an empty log: held records, then the anchor and the head at once.
const RESTORE = new Script(`
if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) > 0 then return 0 end
for i = 3, #ARGV, 2 do redis.call('XADD', KEYS[1], ARGV[i], 'r', ARGV[i + 1]) end
redis.call('HSET', KEYS[2], 'seq', ARGV[1], 'hash', ARGV[2])
redis.call('HSET', KEYS[3], 'seq', ARGV[1], 'hash', ARGV[2])
return 1
`);

const INCR_WINDOW = new Script(`
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`);

const ENQUEUE = new Script(`
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
`);

// Pops the head while it equals the next expected item (peek-then-ack consumers).
const ACK = new Script(`
local n = 0
for i = 1, #ARGV do
  if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[i] then break end
  redis.call('LPOP', KEYS[1])
  n = n + 1
end
return n
`);

const ACQUIRE = new Script(`
local cur = redis.call('GET', KEYS[1])
if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
`);

const RELEASE = new Script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

const streamId = (seq: number): string => `${seq}-0`;
const seqOfId = (id: string): number => Number.parseInt(id.slice(0, id.indexOf('-')), 10);

type StreamEntry = [id: string, fields: string[]];

/** A stored record; an entry that is not a record JSON comes back as a record that cannot verify. */
function parseEntry(entry: StreamEntry): AuditRecord {
  const [id, fields] = entry;
  const i = fields.indexOf('r');
  const raw = i >= 0 ? fields[i + 1] : undefined;
  if (raw !== undefined) {
    try {
      const v: unknown = JSON.parse(raw);
      if (v && typeof v === 'object' && typeof (v as { seq?: unknown }).seq === 'number')
        return v as AuditRecord;
    } catch {
      // fall through
    }
  }
  return unreadableRecord(seqOfId(id), `unreadable stream entry ${id}`);
}

function describeTarget(o: RedisStoreOptions): string {
  if (o.cluster) return `cluster ${o.cluster.map((n) => `${n.host}:${n.port}`).join(',')}`;
  if (o.sentinels)
    return `sentinel ${o.name ?? 'mymaster'} via ${o.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}`;
  if (o.url) {
    try {
      const u = new URL(o.url);
      return `${u.protocol}//${u.host}${u.pathname}`;
    } catch {
      return 'redis (bad url)';
    }
  }
  return 'redis://127.0.0.1:6379';
}

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly audit: RedisAuditLog;
  /** ioredis client (Redis or Cluster: both implement the same commands). */
  readonly client: Client;
  readonly prefix: string;
  readonly target: string;
  private readonly logger: Logger;
  private connected = false;
  private closing = false;

  constructor(opts: RedisStoreOptions = {}) {
    this.prefix = opts.prefix ?? 'parley:';
    this.target = describeTarget(opts);
    this.logger = (opts.logger ?? silentLogger).child({ component: 'store', store: this.target });
    const common: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: opts.commandTimeoutMs ?? 5000,
      connectTimeout: 5000,
      lazyConnect: false,
      retryStrategy: (times: number) => Math.min(100 * times, 2000),
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
    };
    if (opts.cluster && opts.cluster.length > 0) {
      const cluster = new Cluster(opts.cluster, {
        enableOfflineQueue: false,
        redisOptions: common,
        clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
      });
      // Redis and Cluster share the command interface this store uses.
      this.client = cluster as unknown as Client;
    } else if (opts.sentinels && opts.sentinels.length > 0) {
      this.client = new Redis({
        ...common,
        sentinels: opts.sentinels,
        name: opts.name ?? 'mymaster',
        ...(opts.db !== undefined ? { db: opts.db } : {}),
      });
    } else {
      this.client = new Redis(opts.url ?? 'redis://127.0.0.1:6379', {
        ...common,
        ...(opts.db !== undefined ? { db: opts.db } : {}),
      });
    }
    this.client.on('error', (err: Error) => {
      if (this.connected || !this.warned) {
        this.logger.warn({ err: err.message }, 'redis connection error (reconnecting)');
        this.warned = true;
      }
      this.connected = false;
    });
    this.client.on('ready', () => {
      if (!this.connected && this.warned) this.logger.info('redis connection restored');
      this.connected = true;
      this.warned = false;
    });
    this.client.on('close', () => {
      this.connected = false;
    });
    const tag = this.prefix.includes('{') ? this.prefix : `{${this.prefix.replace(/:+$/, '') || 'parley'}}:`;
    this.audit = new RedisAuditLog(this, {
      stream: `${tag}audit:stream`,
      head: `${tag}audit:head`,
      anchor: `${tag}audit:anchor`,
    });
  }

  private warned = false;

  /** Resolves true once connected (false after `timeoutMs`). */
  async ready(timeoutMs = 5000): Promise<boolean> {
    if (this.client.status === 'ready') return true;
    return new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        resolve(v);
      };
      const onReady = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      timer.unref();
      this.client.on('ready', onReady);
    });
  }

  /** Run a command, turning failures into StoreUnavailableError with the operation named. */
  async op<T>(name: string, fn: (c: Client) => Promise<T>): Promise<T> {
    try {
      return await fn(this.client);
    } catch (err) {
      const msg = (err as Error)?.message ?? String(err);
      if (this.closing)
        throw new StoreUnavailableError(`redis store (${this.target}) is closed: ${name} failed`);
      throw new StoreUnavailableError(`redis store (${this.target}): ${name} failed: ${msg}`, { cause: err });
    }
  }

  async script(name: string, s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    return this.op(name, async (c) => {
      try {
        return await c.evalsha(s.sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!/NOSCRIPT/.test((err as Error)?.message ?? '')) throw err;
        return await c.eval(s.lua, keys.length, ...keys, ...args);
      }
    });
  }

  private k(kind: string, key: string): string {
    return `${this.prefix}${kind}:${key}`;
  }

  async get(key: string): Promise<string | null> {
    return this.op('get', (c) => c.get(this.k('kv', key)));
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    await this.op('set', (c) =>
      ttlMs && ttlMs > 0
        ? c.set(this.k('kv', key), value, 'PX', Math.ceil(ttlMs))
        : c.set(this.k('kv', key), value),
    );
  }

  async del(key: string): Promise<void> {
    await this.op('del', (c) => c.del(this.k('kv', key)));
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const r = await this.op('setIfAbsent', (c) =>
      ttlMs && ttlMs > 0
        ? c.set(this.k('kv', key), value, 'PX', Math.ceil(ttlMs), 'NX')
        : c.set(this.k('kv', key), value, 'NX'),
    );
    return r === 'OK';
  }

  async incrWindow(key: string, windowMs: number): Promise<number> {
    const n = await this.script(
      'incrWindow',
      INCR_WINDOW,
      [this.k('kv', key)],
      [Math.max(1, Math.ceil(windowMs))],
    );
    return Number(n);
  }

  async hset(key: string, field: string, value: string): Promise<void> {
    await this.op('hset', (c) => c.hset(this.k('h', key), field, value));
  }

  async hget(key: string, field: string): Promise<string | null> {
    return this.op('hget', (c) => c.hget(this.k('h', key), field));
  }

  async hgetall(key: string): Promise<Record<string, string>> {
    return this.op('hgetall', (c) => c.hgetall(this.k('h', key)));
  }

  async hdel(key: string, field: string): Promise<void> {
    await this.op('hdel', (c) => c.hdel(this.k('h', key), field));
  }

  async enqueue(queue: string, payload: string, maxLen: number): Promise<boolean> {
    const r = await this.script('enqueue', ENQUEUE, [this.k('q', queue)], [payload, maxLen]);
    return Number(r) === 1;
  }

  async dequeue(queue: string, count: number): Promise<string[]> {
    if (count <= 0) return [];
    const r = await this.op('dequeue', (c) => c.lpop(this.k('q', queue), count));
    return r ?? [];
  }

  async peek(queue: string, count: number): Promise<string[]> {
    if (count <= 0) return [];
    return this.op('peek', (c) => c.lrange(this.k('q', queue), 0, count - 1));
  }

  async ack(queue: string, items: readonly string[]): Promise<number> {
    if (items.length === 0) return 0;
    return Number(await this.script('ack', ACK, [this.k('q', queue)], [...items]));
  }

  async queueLength(queue: string): Promise<number> {
    return this.op('queueLength', (c) => c.llen(this.k('q', queue)));
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const r = await this.script(
      'acquireLease',
      ACQUIRE,
      [this.k('lease', name)],
      [owner, Math.max(1, Math.ceil(ttlMs))],
    );
    return Number(r) === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.script('releaseLease', RELEASE, [this.k('lease', name)], [owner]);
  }

  async leaseOwner(name: string): Promise<string | null> {
    return this.op('leaseOwner', (c) => c.get(this.k('lease', name)));
  }

  async ping(timeoutMs = 1000): Promise<boolean> {
    if (this.closing) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      const r = await Promise.race([
        this.client.ping(),
        new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
        }),
      ]);
      return r === 'PONG';
    } catch {
      return false;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    try {
      if (this.client.status === 'ready') await this.client.quit();
      else this.client.disconnect();
    } catch {
      this.client.disconnect();
    }
  }
}

interface AuditKeys {
  stream: string;
  head: string;
  anchor: string;
}

export class RedisAuditLog implements AuditLog {
  readonly kind = 'redis';
  constructor(
    private readonly store: RedisStore,
    readonly keys: AuditKeys,
  ) {}

  async append(records: readonly AuditRecord[]): Promise<AppendResult> {
    if (records.length === 0) return { ok: true };
    const first = records[0] as AuditRecord;
    const expectSeq = first.seq - 1;
    if (expectSeq === 0 && first.prev !== GENESIS_HASH) return { ok: false, head: await this.head() };
    const problem = chainProblem({ seq: expectSeq, hash: first.prev }, records);
    if (problem) throw new Error(`audit append rejected: ${problem}`);
    const last = records[records.length - 1] as AuditRecord;
    const args: (string | number)[] = [
      String(expectSeq),
      expectSeq === 0 ? '' : first.prev,
      String(last.seq),
      last.hash,
    ];
    for (const r of records) args.push(streamId(r.seq), recordJson(r));
    const res = await this.store.script('audit append', APPEND, [this.keys.stream, this.keys.head], args);
    if (Array.isArray(res) && Number(res[0]) === 1) return { ok: true };
    if (Array.isArray(res) && Number(res[0]) === 0) {
      const seq = Number(res[1]);
      return { ok: false, head: seq > 0 ? { seq, hash: String(res[2]) } : null };
    }
    throw new StoreUnavailableError(`redis store: unexpected audit append reply ${JSON.stringify(res)}`);
  }

  private async readMark(key: string, name: string): Promise<AuditHead | null> {
    const [seq, hash] = await this.store.op(name, (c) => c.hmget(key, 'seq', 'hash'));
    if (seq === null || seq === undefined || hash === null || hash === undefined) return null;
    return { seq: Number(seq), hash };
  }

  head(): Promise<AuditHead | null> {
    return this.readMark(this.keys.head, 'audit head');
  }

  anchor(): Promise<AuditHead | null> {
    return this.readMark(this.keys.anchor, 'audit anchor');
  }

  async range(fromSeq: number, limit: number): Promise<AuditRecord[]> {
    if (limit <= 0) return [];
    const start = fromSeq <= 1 ? '-' : streamId(fromSeq);
    const r = await this.store.op('audit range', (c) =>
      c.xrange(this.keys.stream, start, '+', 'COUNT', limit),
    );
    return (r as StreamEntry[]).map(parseEntry);
  }

  async reverseRange(beforeSeq: number, limit: number): Promise<AuditRecord[]> {
    if (limit <= 0 || beforeSeq < 1) return [];
    const r = await this.store.op('audit reverseRange', (c) =>
      c.xrevrange(this.keys.stream, String(Math.floor(beforeSeq)), '-', 'COUNT', limit),
    );
    return (r as StreamEntry[]).map(parseEntry);
  }

  async length(): Promise<number> {
    return this.store.op('audit length', (c) => c.xlen(this.keys.stream));
  }

  async restore(anchor: AuditHead, held: readonly AuditRecord[]): Promise<void> {
    const problem = restoreProblem(anchor, held);
    if (problem) throw new Error(`audit restore rejected: ${problem}`);
    const args: string[] = [String(anchor.seq), anchor.hash];
    for (const r of held) args.push(streamId(r.seq), recordJson(r));
    const res = await this.store.script(
      'audit restore',
      RESTORE,
      [this.keys.stream, this.keys.head, this.keys.anchor],
      args,
    );
    if (Number(res) !== 1) throw new Error('audit restore: the log is not empty');
  }

  async trim(beforeSeq: number, keep: ReadonlySet<number> = new Set()): Promise<number> {
    const head = await this.head();
    if (!head) return 0;
    const cut = Math.min(Math.floor(beforeSeq), head.seq + 1);
    const anchorSeq = cut - 1;
    if (anchorSeq < 1) return 0;
    // Anchor first: a trim interrupted half-way leaves extra records, never a broken chain.
    const at = await this.store.op('audit trim', (c) =>
      c.xrange(this.keys.stream, streamId(anchorSeq), streamId(anchorSeq), 'COUNT', 1),
    );
    const rec = (at as StreamEntry[])[0];
    if (rec) {
      const r = parseEntry(rec);
      await this.store.script('audit trim', SET_ANCHOR, [this.keys.anchor], [anchorSeq, r.hash]);
    }
    let removed = 0;
    let start = '-';
    for (;;) {
      const page = (await this.store.op('audit trim', (c) =>
        c.xrange(this.keys.stream, start, String(anchorSeq), 'COUNT', 1000),
      )) as StreamEntry[];
      if (page.length === 0) break;
      const ids = page.map((e) => e[0]).filter((id) => !keep.has(seqOfId(id)));
      if (ids.length > 0)
        removed += await this.store.op('audit trim', (c) => c.xdel(this.keys.stream, ...ids));
      const lastId = page[page.length - 1]?.[0];
      if (!lastId || page.length < 1000) break;
      start = `(${lastId}`;
    }
    return removed;
  }
}
