// The `parley` command. Exit codes: 0 success, 1 a check failed, 2 bad input.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { archiveCommand } from './cli/archive.js';
import { auditCommand } from './cli/audit.js';
import { CliError, type CliIO, EXIT_BAD_INPUT, EXIT_OK } from './cli/io.js';
import { matrixCommand } from './cli/matrix.js';
import { policyCommand } from './cli/policy.js';
import { DEFAULT_CONFIG_FILE, LOG_LEVELS, type LoadedConfig, loadConfig } from './config.js';
import { formatProblem, SourceError } from './core/yaml-source.js';
import { startGateway } from './gateway.js';
import { createLogger } from './log.js';
import { openStore, StoreConfigError, sqliteOptions } from './store/open.js';

const HELP = `parley — a federation gateway for XMPP, Matrix and SIP, with policy and audit

Usage:
  parley start [-c FILE] [--log-level LEVEL]   run the gateway (default config: the embedded one)
  parley policy validate FILE                  check a policy file (exit 0 valid, 2 invalid)
  parley policy eval --policy FILE --event JSON|@file | --events FILE.jsonl
  parley policy test [DIR]                     run policy test suites (default policies/tests)
  parley policy explain --policy FILE --event JSON
  parley audit verify [-c FILE]                recompute the hash chain (exit 0 intact, 1 broken)
  parley audit export [-c FILE] --format jsonl|csv|eml [--from --to --user --decision --out FILE]
  parley audit tail [-c FILE] [-n N] [--follow]
  parley audit migrate --from STORE --to STORE  copy the trail into an empty store, verified
  parley matrix registration -c FILE [--out FILE]   write the Matrix appservice registration
  parley archive init [-c FILE] [--owner-url URL]   set up the PostgreSQL archive as its owner
  parley archive sql                                print the archive's SQL
  parley --help | --version

Exit codes: 0 success, 1 a check failed, 2 bad input.
Log levels: ${LOG_LEVELS.join(', ')}. Docs: docs/ in the package.
`;

const START_HELP = `Usage: parley start [-c FILE] [--log-level LEVEL]

Runs the gateway: the links to XMPP, Matrix and SIP, the policy, the audit trail, the admin
API and the compliance console, until SIGINT or SIGTERM (a graceful stop that finishes the
audit writes). Prints "parley listening on URL" on standard error when ready; logs are JSON
lines on standard output.

Options:
  -c, --config FILE    the configuration file (default: the embedded config/parley.yaml:
                       the SQLite store data/parley.db under the working directory (or
                       $PARLEY_SQLITE), policies/default.yaml, no adapters, 127.0.0.1:8080)
  --log-level LEVEL    ${LOG_LEVELS.join(', ')} (default: log.level in the config, else info)
  -h, --help           this help

Environment (read by the embedded config; a config file may use any variable as \${NAME}
or \${NAME:-default}):
  PARLEY_ADMIN_TOKEN     bearer token of the admin role (the admin API: reload, holds, ...)
  PARLEY_AUDITOR_TOKEN   bearer token of the auditor role (read-only: audit, exports, console)
  PARLEY_HTTP_LISTEN     address of the admin API and console (default 127.0.0.1:8080)
  PARLEY_SQLITE          the SQLite store's file (default data/parley.db under the working
                         directory; the container image: /var/lib/parley/parley.db)
  Without PARLEY_ADMIN_TOKEN and PARLEY_AUDITOR_TOKEN no one can sign in to the admin API.

The config file is YAML; relative paths in it resolve against its folder. Reference:
docs/operations.md. Exit codes: 0 stopped cleanly, 2 bad configuration or policy, or the
address cannot be used.
`;

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function version(): string {
  const pkg = JSON.parse(readFileSync(resolve(packageRoot, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function loadConfigOrThrow(file: string | undefined, io: CliIO): LoadedConfig {
  try {
    return loadConfig(file ? resolve(io.cwd, file) : DEFAULT_CONFIG_FILE, io.env);
  } catch (err) {
    if (err instanceof SourceError) {
      throw new CliError(`invalid configuration:\n${err.problems.map(formatProblem).join('\n')}`);
    }
    throw err;
  }
}

/** Split off `-c/--config` for the audit commands, which otherwise parse their own flags. */
function takeConfigFlag(argv: string[]): { config: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let config: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-c' || a === '--config') {
      config = argv[++i];
      if (config === undefined) throw new CliError(`${a} needs a file name`);
    } else if (a.startsWith('--config=')) config = a.slice('--config='.length);
    else rest.push(a);
  }
  return { config, rest };
}

async function start(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout(START_HELP);
    return EXIT_OK;
  }
  const level = values['log-level'];
  if (level && !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new CliError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got "${level}")`);
  }
  const loaded = loadConfigOrThrow(values.config, io);
  const logger = createLogger({ level: level ?? loaded.config.log?.level ?? 'info' });
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    gateway = await startGateway(loaded, { logger });
  } catch (err) {
    if (err instanceof SourceError) {
      throw new CliError(`invalid configuration:\n${err.problems.map(formatProblem).join('\n')}`);
    }
    if (err instanceof StoreConfigError) throw new CliError(`${err.message} (in ${loaded.file})`);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES') {
      throw new CliError(
        `cannot listen on ${loaded.listen.host}:${loaded.listen.port} (${e.code}); change http.listen in ${loaded.file}`,
      );
    }
    throw err;
  }
  io.stderr(`parley listening on ${gateway.url ?? '(no HTTP)'} — Ctrl-C to stop\n`);
  await new Promise<void>((done) => {
    let stopping = false;
    const onSignal = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      gateway
        .stop()
        .catch((err: unknown) => logger.error({ err }, 'error during shutdown'))
        .finally(done);
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
  logger.flush?.();
  return EXIT_OK;
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.stdout(HELP);
        return command === undefined ? EXIT_BAD_INPUT : EXIT_OK;
      case '-v':
      case '--version':
        io.stdout(`${version()}\n`);
        return EXIT_OK;
      case 'start':
        return await start(rest, io);
      case 'policy':
        return await policyCommand(rest, io);
      case 'matrix':
        return await matrixCommand(rest, io, (f) => loadConfigOrThrow(f, io));
      case 'archive':
        return await archiveCommand(rest, io, (f) => loadConfigOrThrow(f, io));
      case 'audit': {
        const { config, rest: args } = takeConfigFlag(rest);
        const wantsHelp = args.length === 0 || args.includes('--help') || args.includes('-h');
        return await auditCommand(args, io, async () => {
          if (wantsHelp) throw new CliError('no store needed for help');
          const loaded = loadConfigOrThrow(config, io);
          const store = loaded.config.store;
          if (store?.memory) {
            io.stderr(
              `parley: note: ${loaded.file} uses the in-memory store, which lives inside a running gateway; ` +
                'this command sees an empty trail. Use the admin API (/api/v1/audit), or the SQLite or Redis store.\n',
            );
          } else if (!store?.redis) {
            const { path } = sqliteOptions(store, io.cwd);
            if (!existsSync(path)) {
              io.stderr(
                `parley: note: ${path} did not exist: this opens a new, empty store there. A relative ` +
                  'store.sqlite (and the default data/parley.db) is under the working directory: run this where the gateway runs.\n',
              );
            }
          }
          return openStore(
            loaded.config.store,
            createLogger({ level: 'warn', destination: process.stderr }),
            {
              cwd: io.cwd,
            },
          ).catch((err: unknown) => {
            if (err instanceof StoreConfigError) throw new CliError(err.message);
            throw err;
          });
        });
      }
      default:
        throw new CliError(`unknown command "${command}"; run parley --help`);
    }
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr(`parley: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`parley: ${err.message}; run parley ${command} --help\n`);
      return EXIT_BAD_INPUT;
    }
    io.stderr(`parley: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_BAD_INPUT;
  }
}

/** Run with the process's arguments and streams (bin/parley.js calls this). */
export async function runFromProcess(): Promise<void> {
  const code = await main(process.argv.slice(2), {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    cwd: process.cwd(),
    env: process.env,
    stdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  });
  process.exitCode = code;
  // After `start` has stopped the gateway, exit even if a library left a timer running
  // (xmpp.js keeps its stream-close timeout, 10 s, after a server that did not answer the
  // close): a replica that lingers holds up a rolling update. Unref'd, so a process with
  // nothing left running exits at once as before.
  if (process.argv[2] === 'start') setTimeout(() => process.exit(code), STOPPED_EXIT_GRACE_MS).unref();
}

/** How long a stopped `parley start` waits for stray timers before it exits anyway. */
const STOPPED_EXIT_GRACE_MS = 1000;
