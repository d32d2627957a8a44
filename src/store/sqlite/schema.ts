// The SQLite store's tables, as numbered migrations. `schema_version` says which have run;
// a later release appends a migration (never edits one), and opening an older file brings
// it up to date in one transaction.
//
// The audit trail: `audit_records` (each record's JSON text exactly as the chain made it,
// by seq), `audit_marks` (the head and the trim anchor, and the record count, kept apart
// from the records and written in the same transaction as them: verify compares the last
// record with the head), and the search index: `audit_chunks` cuts the records into runs of
// at most CHUNK consecutive records (never across appends) with the time span of each, and
// `audit_terms` (FTS5, contentless) holds one document per chunk: the distinct terms of its
// records (terms.ts). A search finds chunks, then checks their records one by one.
// Indexing runs of records instead of each record stores a conversation's repeated values
// (parties, domains, networks, rule, an event's two records) once per run, which is what
// keeps the index cheap enough to write at tens of thousands of records a second.
//
// The state: `kv` (values with an expiry, 0 for none), `hashes`, `queue_items` (FIFO by
// `pos`) and `leases`.
import type { Database } from 'better-sqlite3';

/** Most records per indexed chunk. */
export const CHUNK = 16;

const MIGRATIONS: readonly string[] = [
  // 1: the first schema.
  `
  CREATE TABLE audit_records (seq INTEGER PRIMARY KEY, json TEXT NOT NULL);
  CREATE TABLE audit_marks (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    head_seq INTEGER, head_hash TEXT,
    anchor_seq INTEGER, anchor_hash TEXT,
    records INTEGER NOT NULL
  );
  INSERT INTO audit_marks (id, records) VALUES (1, 0);
  CREATE TABLE audit_chunks (start INTEGER PRIMARY KEY, end INTEGER NOT NULL, tmin INTEGER, tmax INTEGER);
  CREATE VIRTUAL TABLE audit_terms USING fts5(
    terms, content='', contentless_delete=1, detail=none, tokenize='ascii'
  );
  CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE INDEX kv_expiry ON kv (expires_at) WHERE expires_at > 0;
  CREATE TABLE hashes (
    key TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (key, field)
  ) WITHOUT ROWID;
  CREATE TABLE queue_items (
    queue TEXT NOT NULL, pos INTEGER NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (queue, pos)
  ) WITHOUT ROWID;
  CREATE TABLE leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
  `,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export class SchemaError extends Error {
  override name = 'SchemaError';
}

/** The file's schema version: 0 for a new (empty) database. */
export function schemaVersion(db: Database): number {
  const table = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
    .get();
  if (!table) {
    const other = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' LIMIT 1").pluck().get();
    if (other !== undefined)
      throw new SchemaError(`it holds tables of something else ("${String(other)}"), not a Parley store`);
    return 0;
  }
  const v = db.prepare('SELECT version FROM schema_version').pluck().get();
  return typeof v === 'number' ? v : 0;
}

/** Bring the database up to SCHEMA_VERSION; refuses a file written by a newer release. */
export function migrate(db: Database): { from: number; to: number } {
  return db
    .transaction(() => {
      const from = schemaVersion(db);
      if (from > SCHEMA_VERSION) {
        throw new SchemaError(
          `it was written by a newer Parley (schema ${from}; this release reads up to ${SCHEMA_VERSION})`,
        );
      }
      if (from === SCHEMA_VERSION) return { from, to: from };
      if (from === 0) db.exec('CREATE TABLE schema_version (version INTEGER NOT NULL)');
      for (let v = from; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] as string);
      db.exec('DELETE FROM schema_version');
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(SCHEMA_VERSION);
      return { from, to: SCHEMA_VERSION };
    })
    .immediate();
}
