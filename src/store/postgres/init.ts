// The owner's setup of the archive (`parley archive init`): create or migrate the schema as
// the owner role, grant the gateway's role what it needs and nothing more, and set the
// minimum retention. Idempotent: run it again after an upgrade.
import { connect, describeUrl } from './connect.js';
import { checkSchemaName, grantStatements, type PartitionWidth } from './ddl.js';
import { ensureSchema } from './migrate.js';

export interface InitOptions {
  /** The owner's connection (it owns what it creates). */
  ownerUrl: string;
  /**
   * The role to create as when the connection logs in as another (SET ROLE: e.g. a DBA's
   * login, with parley_owner a NOLOGIN role it is a member of).
   */
  ownerRole?: string;
  schema?: string;
  partition?: PartitionWidth;
  /** The gateway's role: granted read and the functions (none: the owner is the gateway). */
  gatewayRole?: string | null;
  /** Set audit_setting min_retention_days (unchanged when absent). */
  minRetentionDays?: number;
}

export interface InitReport {
  schema: string;
  version: number;
  partition: PartitionWidth;
  owner: string;
  granted: string | null;
  minRetentionDays: number;
}

export async function initArchive(o: InitOptions): Promise<InitReport> {
  const schema = checkSchemaName(o.schema ?? 'parley');
  const target = describeUrl(o.ownerUrl);
  const sql = connect({
    url: o.ownerUrl,
    max: 1,
    statementTimeoutMs: 0,
    applicationName: 'parley-archive-init',
  });
  try {
    if (o.ownerRole) await sql.unsafe(`SET ROLE "${o.ownerRole.replace(/"/g, '""')}"`);
    const state = await ensureSchema(sql, schema, {
      migrate: true,
      partition: o.partition ?? 'month',
      target,
    });
    const [me] = await sql.unsafe<{ user: string }[]>('SELECT current_user AS user');
    const owner = me?.user ?? '';
    const role = o.gatewayRole && o.gatewayRole !== owner ? o.gatewayRole : null;
    if (role) {
      const [exists] = await sql.unsafe<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1',
        [role],
      );
      if (!exists?.n)
        throw new Error(`role "${role}" does not exist: create it first (CREATE ROLE ${role} LOGIN …)`);
      await sql.begin(async (tx) => {
        for (const statement of grantStatements(schema, role)) await tx.unsafe(statement);
      });
    }
    let minRetentionDays = state.minRetentionDays;
    if (o.minRetentionDays !== undefined) {
      await sql.unsafe(`UPDATE ${schema}.audit_setting SET value = $1 WHERE name = 'min_retention_days'`, [
        String(o.minRetentionDays),
      ]);
      minRetentionDays = o.minRetentionDays;
    }
    return {
      schema,
      version: state.version,
      partition: state.partition,
      owner,
      granted: role,
      minRetentionDays,
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
