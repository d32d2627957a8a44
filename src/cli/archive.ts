// `parley archive`: the PostgreSQL archive's owner setup (init) and its SQL (sql).
// Exit codes: 0 done, 1 the database refused, 2 bad input.
import { parseArgs } from 'node:util';
import type { LoadedConfig } from '../config.js';
import { silentLogger } from '../core/logger.js';
import type { PartitionWidth } from '../store/postgres/ddl.js';
import { schemaSql } from '../store/postgres/ddl.js';
import { initArchive } from '../store/postgres/init.js';
import { archiveOptions } from '../store/with-archive.js';
import { CliError, type CliIO, EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK } from './io.js';

const USAGE = `Usage:
  parley archive init [-c CONFIG] [--owner-url URL] [--owner-role ROLE] [--gateway-role ROLE]
                      [--min-retention-days N]
  parley archive sql [--schema NAME] [--gateway-role ROLE] [--partition month|day]

init: as the archive's owner role, create (or migrate) the schema of store.archive in
CONFIG, grant the gateway's role read access and the append/trim functions (no right to
change or delete a record), and optionally set the minimum retention the database
enforces on every trim. Run it again after an upgrade.
sql: print the schema's SQL (what init runs) for a DBA to read or run by hand.

Options:
  -c, --config FILE          the Parley config with store.archive
  --owner-url URL            the owner's connection (default: store.archive's URL)
  --owner-role ROLE          create as this role (SET ROLE), when the owner's connection logs
                             in as another role that is a member of it (e.g. a NOLOGIN
                             parley_owner)
  --gateway-role ROLE        the gateway's role (default: the user of store.archive's URL
                             when it differs from the owner's)
  --min-retention-days N     records younger than N days can never be trimmed (0: no minimum)
  --schema NAME              sql: the schema (default parley)
  --partition month|day      sql: the partition width of a new archive (default month)
  -h, --help                 this help
`;

const userOf = (url: string): string | null => {
  try {
    const u = new URL(url);
    return u.username ? decodeURIComponent(u.username) : null;
  } catch {
    return null;
  }
};

export async function archiveCommand(
  argv: string[],
  io: CliIO,
  loadConfig: (file?: string) => LoadedConfig,
): Promise<number> {
  try {
    return await run(argv, io, loadConfig);
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr(`parley archive: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`parley archive: ${err.message}\n${USAGE}`);
      return EXIT_BAD_INPUT;
    }
    throw err;
  }
}

async function run(argv: string[], io: CliIO, loadConfig: (file?: string) => LoadedConfig): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.stdout(USAGE);
    return sub === undefined ? EXIT_BAD_INPUT : EXIT_OK;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      'owner-url': { type: 'string' },
      'owner-role': { type: 'string' },
      'gateway-role': { type: 'string' },
      'min-retention-days': { type: 'string' },
      schema: { type: 'string' },
      partition: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  const partition = values.partition ?? 'month';
  if (partition !== 'month' && partition !== 'day') throw new CliError('--partition must be month or day');
  if (sub === 'sql') {
    const schema = values.schema ?? 'parley';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
      throw new CliError('--schema must be lower-case letters, digits and _ (at most 63)');
    io.stdout(schemaSql(schema, values['gateway-role'] ?? 'parley_gateway', partition as PartitionWidth));
    return EXIT_OK;
  }
  if (sub !== 'init') throw new CliError(`unknown command "archive ${sub}"; run parley archive --help`);
  const loaded = loadConfig(values.config);
  const archive = loaded.config.store?.archive;
  if (archive === undefined) {
    throw new CliError(`${loaded.file} has no store.archive (the PostgreSQL archive's URL); set it first`);
  }
  const o = archiveOptions(archive, silentLogger);
  let minRetentionDays: number | undefined;
  if (values['min-retention-days'] !== undefined) {
    minRetentionDays = Number(values['min-retention-days']);
    if (!Number.isInteger(minRetentionDays) || minRetentionDays < 0)
      throw new CliError('--min-retention-days must be a whole number of days (0: no minimum)');
  }
  const ownerUrl = values['owner-url'] ?? o.url;
  if (!/^postgres(ql)?:\/\//.test(ownerUrl)) throw new CliError('--owner-url must be a postgres:// URL');
  const gatewayRole = values['gateway-role'] ?? (userOf(o.url) !== userOf(ownerUrl) ? userOf(o.url) : null);
  try {
    const r = await initArchive({
      ownerUrl,
      ...(values['owner-role'] !== undefined ? { ownerRole: values['owner-role'] } : {}),
      ...(o.schema !== undefined ? { schema: o.schema } : {}),
      partition: o.partition ?? 'month',
      gatewayRole,
      ...(minRetentionDays !== undefined ? { minRetentionDays } : {}),
    });
    io.stdout(
      `archive schema "${r.schema}" at version ${r.version} (partitions by ${r.partition}), owned by ${r.owner}\n` +
        (r.granted
          ? `granted ${r.granted}: read, append and trim through the functions (no update, delete or truncate)\n`
          : 'no gateway role to grant (the owner is the gateway)\n') +
        `minimum retention: ${r.minRetentionDays === 0 ? 'none' : `${r.minRetentionDays} days`}\n`,
    );
    return EXIT_OK;
  } catch (err) {
    io.stderr(`parley archive: ${(err as Error).message}\n`);
    return EXIT_CHECK_FAILED;
  }
}
