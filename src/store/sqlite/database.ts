// Opening the SQLite file, with errors that say which file and what to do (never a stack
// trace): a folder that cannot be created, a file that cannot be opened or written, a file
// that is not a database or is damaged, a file from a newer release.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { migrate, SchemaError } from './schema.js';

export type Synchronous = 'full' | 'normal';

export class SqliteStoreError extends Error {
  override name = 'SqliteStoreError';
}

/** What to tell the operator for an error SQLite (or the file system) gave about `path`. */
export function explain(path: string, err: unknown): SqliteStoreError {
  if (err instanceof SqliteStoreError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  const where = `store.sqlite: ${path}`;
  if (err instanceof SchemaError)
    return new SqliteStoreError(`${where}: ${msg}; point store.sqlite at another file`);
  if (code === 'SQLITE_NOTADB')
    return new SqliteStoreError(
      `${where} is not a SQLite database (${msg}); move it away (a new one is created) or point store.sqlite at the right file`,
    );
  if (code.startsWith('SQLITE_CORRUPT'))
    return new SqliteStoreError(
      `${where} is damaged (${msg}); restore it from a backup, or move it away to start a new trail`,
    );
  if (
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_PERM') ||
    code === 'EACCES' ||
    code === 'EROFS'
  )
    return new SqliteStoreError(
      `${where} cannot be written (${msg}); give this user write access to the file and its folder, or point store.sqlite at a writable path`,
    );
  if (code.startsWith('SQLITE_CANTOPEN') || code === 'ENOTDIR' || code === 'EEXIST')
    return new SqliteStoreError(
      `${where} cannot be opened (${msg}); check that its folder exists, is a folder and is writable by this user, or point store.sqlite at another path`,
    );
  if (code === 'SQLITE_FULL' || code === 'ENOSPC')
    return new SqliteStoreError(`${where}: the disk is full (${msg}); free space or move the file`);
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY'))
    return new SqliteStoreError(
      `${where} is locked by another process (${msg}); is another gateway using the same file?`,
    );
  return new SqliteStoreError(`${where}: ${msg}${code ? ` (${code})` : ''}`);
}

export interface OpenOptions {
  readonly?: boolean;
  synchronous?: Synchronous;
  /** Page cache in KiB (SQLite's default is 2 MiB). */
  cacheKiB?: number;
}

/** Open (and for a writable connection, create) the database at an absolute `path`. */
export function openDatabase(path: string, opts: OpenOptions = {}): Database.Database {
  let db: Database.Database | undefined;
  try {
    if (!opts.readonly) mkdirSync(dirname(path), { recursive: true });
    db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    // Waits for another connection's write instead of failing at once (SQLite sleeps).
    db.pragma('busy_timeout = 5000');
    if (!opts.readonly) {
      // Reading the header: a file that is not a database fails here.
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal')
        throw new SqliteStoreError(`store.sqlite: ${path}: cannot use WAL mode (got ${String(mode)})`);
      db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    } else {
      db.pragma('schema_version', { simple: true });
    }
    if (opts.cacheKiB) db.pragma(`cache_size = -${Math.floor(opts.cacheKiB)}`);
    db.pragma('temp_store = MEMORY');
    return db;
  } catch (err) {
    try {
      db?.close();
    } catch {
      // already failing
    }
    throw explain(path, err);
  }
}

/** Open for writing and bring the schema up to date. */
export function openAndMigrate(path: string, opts: OpenOptions = {}): Database.Database {
  const db = openDatabase(path, opts);
  try {
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw explain(path, err);
  }
}
