// Creating and upgrading the archive's schema at open (and by `parley archive init`):
// the schema_version table says where it stands; migrations run in one transaction under
// an advisory lock, so replicas starting together migrate once.
import type { Sql } from './connect.js';
import { lockKey, migrations, type PartitionWidth, SCHEMA_VERSION } from './ddl.js';

/** A problem with the archive's schema that retrying does not fix; the message says what to do. */
export class ArchiveSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveSchemaError';
  }
}

const MIGRATE_LOCK_CLASS = 0x50524c5a;

export interface SchemaState {
  version: number;
  /** The partition width the archive was created with (audit_setting). */
  partition: PartitionWidth;
  minRetentionDays: number;
}

async function versionOf(sql: Sql, schema: string): Promise<number> {
  const [row] = await sql.unsafe<{ v: string | null }[]>(
    `SELECT CASE WHEN to_regclass($1) IS NULL THEN NULL ELSE 1 END AS v`,
    [`${schema}.schema_version`],
  );
  if (!row?.v) return 0;
  const [max] = await sql.unsafe<{ v: number | null }[]>(
    `SELECT max(version) AS v FROM ${schema}.schema_version`,
  );
  return max?.v ?? 0;
}

/**
 * Bring the schema to SCHEMA_VERSION (when `migrate`), or check that it is there. Throws
 * ArchiveSchemaError with what to do when it cannot (too new, no right to create it, not
 * UTF-8); other failures (the server does not answer) as the client gave them.
 */
export async function ensureSchema(
  sql: Sql,
  schema: string,
  o: { migrate: boolean; partition: PartitionWidth; target: string },
): Promise<SchemaState> {
  try {
    const [enc] = await sql.unsafe<{ e: string }[]>(`SELECT current_setting('server_encoding') AS e`);
    if (enc?.e !== 'UTF8') {
      throw new ArchiveSchemaError(
        `archive database ${o.target} uses encoding ${enc?.e}; Parley needs a UTF8 database (CREATE DATABASE … ENCODING 'UTF8')`,
      );
    }
    let version = await versionOf(sql, schema);
    if (version > SCHEMA_VERSION) {
      throw new ArchiveSchemaError(
        `archive schema "${schema}" in ${o.target} is at version ${version}, newer than this Parley knows (${SCHEMA_VERSION}): upgrade Parley`,
      );
    }
    if (version < SCHEMA_VERSION) {
      if (!o.migrate) {
        throw new ArchiveSchemaError(
          `archive schema "${schema}" in ${o.target} is at version ${version}, this Parley needs ${SCHEMA_VERSION}: run \`parley archive init\` as the archive's owner`,
        );
      }
      await sql.begin(async (tx) => {
        await tx.unsafe(`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK_CLASS}, ${lockKey(schema)})`);
        // Another replica may have migrated while we waited.
        const now = await versionOf(tx as unknown as Sql, schema);
        for (const m of migrations(schema, o.partition)) {
          if (m.version <= now) continue;
          for (const statement of m.statements) await tx.unsafe(statement);
          await tx.unsafe(`INSERT INTO ${schema}.schema_version (version) VALUES ($1)`, [m.version]);
        }
      });
      version = SCHEMA_VERSION;
    }
    const rows = await sql.unsafe<{ name: string; value: string }[]>(
      `SELECT name, value FROM ${schema}.audit_setting`,
    );
    const get = (n: string) => rows.find((r) => r.name === n)?.value;
    return {
      version,
      partition: get('partition') === 'day' ? 'day' : 'month',
      minRetentionDays: Number(get('min_retention_days') ?? 0),
    };
  } catch (err) {
    if ((err as { code?: unknown })?.code === '42501') {
      throw new ArchiveSchemaError(
        `cannot create or migrate archive schema "${schema}" in ${o.target}: ${(err as Error).message}. ` +
          'Run `parley archive init` as the archive owner (docs: src/store/postgres/schema.sql), ' +
          'or give this role the right to create it',
      );
    }
    throw err;
  }
}
