// A store named on the command line (`parley audit migrate --from … --to …`), opened for
// its audit trail: through the store config the gateway uses (openStore), or a JSONL file.
//   redis://host:port/db, rediss://…   the Redis store (key prefix parley:, or ?prefix=…)
//   sqlite:PATH, or a PATH ending .db   the SQLite store
//   postgres://…, postgresql://…        the PostgreSQL archive
//   jsonl:FILE                          a JSONL export (the form a memory store's trail travels in)
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { silentLogger } from '../core/logger.js';
import type { AuditLog, Store } from '../core/store.js';
import type { StoreConfig } from '../store/config.js';
import { JsonlAuditLog, JsonlFileError } from '../store/jsonl.js';
import { openStore } from '../store/open.js';
import { CliError, EXIT_BAD_INPUT } from './io.js';

export type StoreSpec =
  | { kind: 'redis'; url: string; prefix?: string }
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string }
  | { kind: 'jsonl'; path: string };

export const STORE_FORMS = `redis://HOST:PORT/DB[?prefix=P] (or rediss://), sqlite:PATH (or a PATH ending .db),
postgres://USER@HOST/DB, jsonl:FILE`;

/** Parse `text`, given as option `option`; paths resolve against `cwd`. */
export function parseStoreSpec(text: string, option: string, cwd: string): StoreSpec {
  const t = text.trim();
  if (/^rediss?:\/\//i.test(t)) {
    // The key prefix of a gateway whose store.redis.prefix is not the default.
    const q = t.indexOf('?');
    if (q < 0) return { kind: 'redis', url: t };
    const prefix = new URLSearchParams(t.slice(q + 1)).get('prefix');
    if (!prefix)
      throw new CliError(`${option} "${text}": the only query a Redis URL takes here is ?prefix=P`);
    return { kind: 'redis', url: t.slice(0, q), prefix };
  }
  if (/^postgres(ql)?:\/\//i.test(t)) return { kind: 'postgres', url: t };
  if (/^sqlite:./i.test(t)) return { kind: 'sqlite', path: resolve(cwd, t.slice('sqlite:'.length)) };
  if (/^jsonl:./i.test(t)) return { kind: 'jsonl', path: resolve(cwd, t.slice('jsonl:'.length)) };
  if (/\.db$/i.test(t) && !t.includes('://')) return { kind: 'sqlite', path: resolve(cwd, t) };
  throw new CliError(
    `${option} "${text}" names no store; give one of:\n  ${STORE_FORMS.replace(/\n/g, '\n  ')}`,
  );
}

/** How the spec is shown (no password). */
export function describeSpec(spec: StoreSpec): string {
  if (spec.kind === 'sqlite') return `sqlite:${spec.path}`;
  if (spec.kind === 'jsonl') return `jsonl:${spec.path}`;
  try {
    const u = new URL(spec.url);
    if (u.password) u.password = '***';
    return spec.kind === 'redis' && spec.prefix
      ? `${u}?prefix=${encodeURIComponent(spec.prefix)}`
      : u.toString();
  } catch {
    return `${spec.kind} (bad url)`;
  }
}

export interface OpenedLog {
  audit: AuditLog;
  name: string;
  close(): Promise<void>;
}

const configOf = (spec: Exclude<StoreSpec, { kind: 'jsonl' }>): StoreConfig =>
  spec.kind === 'redis'
    ? { redis: spec.prefix ? { url: spec.url, prefix: spec.prefix } : spec.url }
    : spec.kind === 'sqlite'
      ? { sqlite: spec.path }
      : { memory: true, archive: spec.url };

/**
 * Open the store `spec` names for its audit trail. `source`: it must exist (a missing file
 * is not an empty trail).
 */
export async function openStoreSpec(spec: StoreSpec, option: string, source: boolean): Promise<OpenedLog> {
  const name = describeSpec(spec);
  if (spec.kind === 'jsonl') {
    try {
      const log = JsonlAuditLog.open(spec.path, { create: !source });
      return { audit: log, name, close: async () => log.close() };
    } catch (err) {
      if (err instanceof JsonlFileError) throw new CliError(`${option}: ${err.message}`, EXIT_BAD_INPUT);
      throw err;
    }
  }
  if (spec.kind === 'sqlite' && source && !existsSync(spec.path))
    throw new CliError(`${option}: ${spec.path}: no such file`, EXIT_BAD_INPUT);
  let store: Store;
  try {
    store = await openStore(configOf(spec), silentLogger, { connectTimeoutMs: 5000 });
  } catch (err) {
    throw new CliError(`${option}: cannot open ${name}: ${(err as Error).message}`, EXIT_BAD_INPUT);
  }
  // A build without that store's code falls back to another: refuse instead of copying there.
  const kind = spec.kind === 'postgres' ? store.audit.kind : store.kind;
  if (kind !== spec.kind) {
    await store.close();
    throw new CliError(
      `${option}: this build of parley cannot open ${spec.kind} stores (${name})`,
      EXIT_BAD_INPUT,
    );
  }
  if (!(await store.ping())) {
    await store.close();
    throw new CliError(`${option}: ${name} does not answer`, EXIT_BAD_INPUT);
  }
  return { audit: store.audit, name, close: () => store.close() };
}
