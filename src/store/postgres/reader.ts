// The archive as another thread opens it (AuditLogSource of PostgresAuditLog): one
// connection, ranges by seq, as records or as the JSON texts the archive keeps (verify
// hashes those without building the records). Parallel verify opens one reader per worker.
import type { AuditRecord } from '../../core/audit/record.js';
import type { AuditReader } from '../../core/store.js';
import { archiveError, connect, describeUrl } from './connect.js';
import { checkSchemaName } from './ddl.js';
import { parseRows } from './rows.js';

export interface ArchiveReaderOptions {
  url: string;
  schema?: string;
}

function readerOptions(options: Record<string, unknown>): ArchiveReaderOptions {
  const url = options.url;
  const schema = options.schema;
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url))
    throw new Error('archive reader: options.url must be a postgres:// URL');
  if (schema !== undefined && typeof schema !== 'string')
    throw new Error('archive reader: options.schema must be a schema name');
  return schema === undefined ? { url } : { url, schema };
}

export async function openAuditReader(options: Record<string, unknown>): Promise<AuditReader> {
  const o = readerOptions(options);
  const schema = checkSchemaName(o.schema ?? 'parley');
  const target = describeUrl(o.url);
  // No statement limit: a worker reads ranges as large as it is given.
  const sql = connect({ url: o.url, max: 1, statementTimeoutMs: 0, applicationName: 'parley-reader' });
  const text = `SELECT seq, record FROM ${schema}.audit_record WHERE seq >= $1 ORDER BY seq LIMIT $2`;
  const textsOnly = `SELECT record FROM ${schema}.audit_record WHERE seq >= $1 ORDER BY seq LIMIT $2`;
  return {
    async range(fromSeq: number, limit: number): Promise<AuditRecord[]> {
      if (limit <= 0) return [];
      try {
        const rows = await sql.unsafe<{ seq: string; record: string }[]>(
          text,
          [Math.max(1, Math.ceil(fromSeq)), limit],
          { prepare: true },
        );
        return parseRows(rows);
      } catch (err) {
        throw archiveError(target, 'audit range', err);
      }
    },
    async rangeText(fromSeq: number, limit: number): Promise<string[]> {
      if (limit <= 0) return [];
      try {
        const rows = await sql
          .unsafe<[string][]>(textsOnly, [Math.max(1, Math.ceil(fromSeq)), limit], { prepare: true })
          .values();
        const out: string[] = new Array(rows.length);
        for (let i = 0; i < rows.length; i++) out[i] = (rows[i] as [string])[0];
        return out;
      } catch (err) {
        throw archiveError(target, 'audit range', err);
      }
    },
    async close(): Promise<void> {
      await sql.end({ timeout: 5 });
    },
  };
}
