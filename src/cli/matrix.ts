// `parley matrix registration`: write the appservice registration YAML for a Matrix link
// (random as_token/hs_token, the exclusive ghost namespace, ephemeral events on).
// Exit codes: 0 written, 2 bad input.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  MatrixConfigProblem,
  makeRegistration,
  registrationYaml,
  resolveMatrixConfig,
} from '../adapters/matrix/index.js';
import type { LoadedConfig } from '../config.js';
import { formatProblem, SourceError } from '../core/yaml-source.js';
import { CliError, type CliIO, EXIT_BAD_INPUT, EXIT_OK } from './io.js';

const USAGE = `Usage: parley matrix registration -c CONFIG [--adapter NAME] [--out FILE|-] [--force]

Writes the application-service registration for a Matrix link of CONFIG: random as_token
and hs_token, an exclusive namespace for the ghosts (@<ghostPrefix>.*), ephemeral events
(typing, receipts, presence) on, rate limiting off, url = the link's listen address.
Give the file to the homeserver (Synapse: app_service_config_files) and restart it.

Options:
  -c, --config FILE   the Parley config (required)
  --adapter NAME      the Matrix link (required when the config has several)
  --out FILE          where to write (default: the link's \`registration\` path); - for stdout
  --force             replace an existing file (new tokens: the homeserver must reload it)
  -h, --help          this help
`;

export async function matrixCommand(
  argv: string[],
  io: CliIO,
  loadConfig: (file?: string) => LoadedConfig,
): Promise<number> {
  try {
    return run(argv, io, loadConfig);
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr(`parley matrix: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`parley matrix: ${err.message}\n${USAGE}`);
      return EXIT_BAD_INPUT;
    }
    throw err;
  }
}

function run(argv: string[], io: CliIO, loadConfig: (file?: string) => LoadedConfig): number {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.stdout(USAGE);
    return sub === undefined ? EXIT_BAD_INPUT : EXIT_OK;
  }
  if (sub !== 'registration') throw new CliError(`unknown command "matrix ${sub}"; run parley matrix --help`);
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      adapter: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  if (!values.config) throw new CliError('-c CONFIG is required (the config with the Matrix link)');
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(resolve(io.cwd, values.config));
  } catch (err) {
    if (err instanceof SourceError) {
      throw new CliError(`invalid configuration:\n${err.problems.map(formatProblem).join('\n')}`);
    }
    throw err;
  }
  const links = Object.entries(loaded.config.adapters ?? {}).filter(([, a]) => a.type === 'matrix');
  if (links.length === 0) throw new CliError(`${loaded.file} has no adapter of type matrix`);
  let chosen: [string, Record<string, unknown>] | undefined;
  if (values.adapter) {
    chosen = links.find(([n]) => n === values.adapter);
    if (!chosen) {
      throw new CliError(
        `no Matrix adapter "${values.adapter}" in ${loaded.file} (there is: ${links.map(([n]) => n).join(', ')})`,
      );
    }
  } else if (links.length > 1) {
    throw new CliError(
      `${loaded.file} has several Matrix links; choose one with --adapter (${links.map(([n]) => n).join(', ')})`,
    );
  } else chosen = links[0];
  const [name, block] = chosen as [string, Record<string, unknown>];
  const configDir = dirname(loaded.file);
  let cfg: ReturnType<typeof resolveMatrixConfig>;
  try {
    cfg = resolveMatrixConfig(block, configDir);
  } catch (err) {
    if (err instanceof MatrixConfigProblem) {
      throw new CliError(
        `${loaded.file}: adapters.${name}${err.path.length ? `.${err.path.join('.')}` : ''}: ${err.message}`,
      );
    }
    throw err;
  }
  const text = registrationYaml(makeRegistration(name, cfg));
  if (values.out === '-') {
    io.stdout(text);
    return EXIT_OK;
  }
  const out = values.out ? resolve(io.cwd, values.out) : cfg.registrationFile;
  if (existsSync(out) && !values.force) {
    throw new CliError(
      `${out} exists; pass --force to replace it (new tokens: the homeserver must load the new file)`,
    );
  }
  try {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, text, { mode: 0o600 });
  } catch (err) {
    throw new CliError(`cannot write ${out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  io.stdout(`wrote ${relative(io.cwd, out) || out} (appservice id parley-${name}, url ${cfg.url})\n`);
  if (values.out && resolve(values.out) !== cfg.registrationFile) {
    io.stderr(
      `note: the adapter reads ${cfg.registrationFile}; point adapters.${name}.registration at ${out}\n`,
    );
  }
  return EXIT_OK;
}
