// The SQLite audit log as another thread opens it (AuditLog.source): a read-only connection
// that reads ranges of records, for verify's workers. `options.path` is the database file.
import type { AuditRecord } from '../../core/audit/record.js';
import type { AuditReader } from '../../core/store.js';
import { explain, openDatabase } from './database.js';
import { parseRows } from './records.js';

export async function openAuditReader(options: Record<string, unknown>): Promise<AuditReader> {
  const path = options.path;
  if (typeof path !== 'string' || path === '')
    throw new Error('sqlite audit reader: options.path must be the database file');
  const db = openDatabase(path, { readonly: true });
  // Rows as arrays (no object per row); the text parsed once here.
  const range = db
    .prepare<[number, number], unknown[]>(
      'SELECT seq, json FROM audit_records WHERE seq >= ? ORDER BY seq LIMIT ?',
    )
    .raw();
  return {
    async range(fromSeq: number, limit: number): Promise<AuditRecord[]> {
      if (limit <= 0) return [];
      try {
        return parseRows(range.all(fromSeq, Math.floor(limit)));
      } catch (err) {
        throw explain(path, err);
      }
    },
    async close(): Promise<void> {
      db.close();
    },
  };
}
