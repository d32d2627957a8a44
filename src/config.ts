// The gateway's configuration: one YAML file, validated against this schema, with
// `${ENV_VAR}` substitution for secrets. Errors name the file, line and key path.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { networkNames, registryGeneration } from './core/network.js';
import {
  parseYamlSource,
  problemAt,
  SourceError,
  type SourcePath,
  type SourceProblem,
  schemaProblems,
  type YamlSource,
} from './core/yaml-source.js';
// Registers the networks this build speaks: an adapter's `type` is one of them.
import './networks.js';
import { StoreConfig } from './store/config.js';

const HostPort = Type.String({
  pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$',
  description: 'host:port, e.g. 127.0.0.1:8080',
});

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const LogLevel = Type.Union(LOG_LEVELS.map((l) => Type.Literal(l)));

/** An adapter's name (the key of its block under `adapters`). */
const ADAPTER_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** An adapter block; `type` is the schema of a registered network's name. */
const adapterConfig = <T extends TSchema>(type: T) =>
  Type.Object(
    { type, domains: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }) },
    // Each network validates its own keys when its adapter is created.
    { additionalProperties: true },
  );

/** The config file's schema, around the schema of an adapter's `type`. */
const configOf = <T extends TSchema>(type: T) =>
  Type.Object(
    {
      store: Type.Optional(StoreConfig),
      http: Type.Optional(
        Type.Object(
          {
            listen: Type.Optional(HostPort),
            tokens: Type.Optional(
              Type.Object(
                { admin: Type.Optional(Type.String()), auditor: Type.Optional(Type.String()) },
                { additionalProperties: false },
              ),
            ),
            bodyLimit: Type.Optional(Type.Integer({ minimum: 1024 })),
            // Slow clients are cut off and connections capped (defaults in src/http/app.ts).
            requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 100 })),
            headersTimeoutMs: Type.Optional(Type.Integer({ minimum: 100 })),
            keepAliveTimeoutMs: Type.Optional(Type.Integer({ minimum: 100 })),
            idleTimeoutMs: Type.Optional(Type.Integer({ minimum: 100 })),
            maxConnections: Type.Optional(Type.Integer({ minimum: 1 })),
          },
          { additionalProperties: false },
        ),
      ),
      log: Type.Optional(Type.Object({ level: Type.Optional(LogLevel) }, { additionalProperties: false })),
      policy: Type.Object(
        {
          file: Type.String({ minLength: 1 }),
          /** Reload when the file changes (default true). */
          watch: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
      audit: Type.Optional(
        Type.Object(
          {
            content: Type.Optional(
              Type.Union([Type.Literal('full'), Type.Literal('hash'), Type.Literal('none')]),
            ),
            failClosed: Type.Optional(Type.Boolean()),
            /** Days a record is kept; older records are trimmed unless a legal hold covers them. Omit: forever. */
            retentionDays: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          },
          { additionalProperties: false },
        ),
      ),
      // Names outside the pattern are refused, not skipped (a skipped entry was never checked).
      adapters: Type.Optional(
        Type.Record(Type.String({ pattern: ADAPTER_NAME.source }), adapterConfig(type), {
          additionalProperties: false,
        }),
      ),
    },
    { additionalProperties: false },
  );
const TypedConfig = configOf(Type.String());
export type Config = Static<typeof TypedConfig>;
export type AdapterConfig = NonNullable<Config['adapters']>[string];

let built: { generation: number; schema: TSchema } | null = null;
/** The config schema for the networks registered now (an adapter's `type` names one). */
export function configSchema(): TSchema {
  if (built?.generation !== registryGeneration()) {
    const type = Type.Union(networkNames().map((n) => Type.Literal(n)));
    built = { generation: registryGeneration(), schema: configOf(type) };
  }
  return built.schema;
}

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the config file. */
  file: string;
  /** Absolute path of the policy file (relative paths resolve against the config file's folder). */
  policyFile: string;
  listen: { host: string; port: number };
  /** The parsed file with positions, so later errors (adapter blocks) can name a line. */
  source: YamlSource;
}

/** The embedded default shipped with the package. */
export const DEFAULT_CONFIG_FILE = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'config',
  'parley.yaml',
);

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replace `${VAR}` / `${VAR:-default}` in every string; unset variables are problems. */
function substituteEnv(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  path: SourcePath,
  missing: { path: SourcePath; name: string }[],
): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      missing.push({ path, name });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, [...path, i], missing));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, [...path, k], missing);
    return out;
  }
  return value;
}

/** Parse and validate config text; throws SourceError listing every problem with its line. */
export function parseConfig(
  text: string,
  file: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): LoadedConfig {
  const source = parseYamlSource(text, file);
  if (source.value === null || source.value === undefined) {
    throw new SourceError([{ file, line: 1, column: 1, path: '', message: 'the config file is empty' }]);
  }
  const missing: { path: SourcePath; name: string }[] = [];
  const value = substituteEnv(source.value, env, [], missing);
  const problems: SourceProblem[] = missing.map((m) =>
    problemAt(
      source,
      m.path,
      `environment variable ${m.name} is not set (set it, or write \${${m.name}:-default})`,
    ),
  );
  // An adapter's name is a key: say what a name may be rather than "unknown key".
  const adapters = (value as { adapters?: unknown }).adapters;
  const badNames = new Set<string>();
  if (adapters && typeof adapters === 'object' && !Array.isArray(adapters)) {
    for (const name of Object.keys(adapters)) {
      if (ADAPTER_NAME.test(name)) continue;
      badNames.add(`adapters.${name}`);
      problems.push(
        problemAt(
          source,
          ['adapters', name],
          `adapter name "${name}" is not valid: use lower-case letters, digits and "-", starting with a letter (e.g. "corp")`,
        ),
      );
    }
  }
  const schema = configSchema();
  problems.push(...schemaProblems(schema, value, source).filter((p) => !badNames.has(p.path)));
  if (problems.length) throw new SourceError(problems);
  const config = Value.Cast(schema, value) as Config;

  const seen = new Map<string, string>();
  for (const [name, a] of Object.entries(config.adapters ?? {})) {
    for (const [i, d] of a.domains.entries()) {
      const other = seen.get(d.toLowerCase());
      if (other) {
        problems.push(
          problemAt(
            source,
            ['adapters', name, 'domains', i],
            `domain "${d}" is also served by adapter "${other}"`,
          ),
        );
      }
      seen.set(d.toLowerCase(), name);
    }
  }
  const listenText = config.http?.listen ?? '127.0.0.1:8080';
  const sep = listenText.lastIndexOf(':');
  const port = Number(listenText.slice(sep + 1));
  if (port > 65535) problems.push(problemAt(source, ['http', 'listen'], `port ${port} is above 65535`));
  if (problems.length) throw new SourceError(problems);

  const abs = resolve(file);
  return {
    config,
    file: abs,
    policyFile: resolve(dirname(abs), config.policy.file),
    listen: { host: listenText.slice(0, sep).replace(/^\[|\]$/g, ''), port },
    source,
  };
}

/** Read and validate a config file. */
export function loadConfig(
  file: string = DEFAULT_CONFIG_FILE,
  env: Readonly<Record<string, string | undefined>> = process.env,
): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SourceError([
      {
        file,
        line: 0,
        column: 0,
        path: '',
        message:
          code === 'ENOENT'
            ? 'no such config file (pass -c FILE, or omit -c for the embedded default)'
            : `cannot read the config file (${code ?? String(err)})`,
      },
    ]);
  }
  return parseConfig(text, file, env);
}
