// The Matrix adapter's config block and its appservice registration file. One TypeBox
// schema per shape gives the types and the validation; errors name the key to change.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { AdapterConfigError } from '../../core/adapter.js';
import { blockProblem } from '../../core/config-problem.js';

const HostPort = Type.String({
  pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$',
  description: 'host:port the appservice API listens on, e.g. 127.0.0.1:9000',
});

export const MatrixQueueConfig = Type.Object(
  {
    /** Most events waiting for the homeserver (per link); beyond it deliveries fail visibly. */
    maxLength: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
    /** First retry delay while the homeserver is unreachable. */
    retryInitialMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 600_000 })),
    /** Longest retry delay (exponential backoff doubles up to it). */
    retryMaxMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000 })),
  },
  { additionalProperties: false },
);

export const MatrixConfig = Type.Object(
  {
    type: Type.Literal('matrix'),
    /** Client-server API base URL of the homeserver, e.g. http://127.0.0.1:8008. */
    homeserver: Type.String({ pattern: '^https?://[^\\s/]+(/.*)?$' }),
    /** The homeserver's server name (the part after `:` in user ids), e.g. hs.test. */
    serverName: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9.\\-:\\[\\]]+$' }),
    /** The registration YAML written by `parley matrix registration` (relative to the config file). */
    registration: Type.String({ minLength: 1 }),
    /** Where the appservice API listens (the registration's `url` points here). */
    listen: HostPort,
    /** URL the homeserver uses to reach this adapter (default http://<listen>). */
    url: Type.Optional(Type.String({ pattern: '^https?://' })),
    domains: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    /** Localpart prefix of ghosts; the appservice owns `@<prefix>.*` exclusively. */
    ghostPrefix: Type.Optional(Type.String({ pattern: '^[a-z0-9._=\\-/]+$', minLength: 1, maxLength: 64 })),
    /** Localpart of the appservice's own bot user (default parley). */
    senderLocalpart: Type.Optional(
      Type.String({ pattern: '^[a-z0-9._=\\-/]+$', minLength: 1, maxLength: 64 }),
    ),
    /** Largest transaction body accepted, in bytes (default 16 MiB); larger ones get 413. */
    maxTransactionBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1024 * 1024 * 1024 })),
    /** Client-server request timeout toward the homeserver (default 20 s). */
    requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
    queue: Type.Optional(MatrixQueueConfig),
    /**
     * How often ghosts' presence is set again (default 20 s). Synapse turns a user that
     * does not sync offline 30 s after their last activity, so a ghost's presence must be
     * re-asserted more often than that to stay visible.
     */
    presenceRefreshMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000 })),
  },
  { additionalProperties: false },
);
export type MatrixConfig = Static<typeof MatrixConfig>;

export const Registration = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    url: Type.Union([Type.String(), Type.Null()]),
    as_token: Type.String({ minLength: 16 }),
    hs_token: Type.String({ minLength: 16 }),
    sender_localpart: Type.String({ minLength: 1 }),
    namespaces: Type.Object({
      users: Type.Optional(Type.Array(Type.Object({ exclusive: Type.Boolean(), regex: Type.String() }))),
      aliases: Type.Optional(Type.Array(Type.Object({ exclusive: Type.Boolean(), regex: Type.String() }))),
      rooms: Type.Optional(Type.Array(Type.Object({ exclusive: Type.Boolean(), regex: Type.String() }))),
    }),
    rate_limited: Type.Optional(Type.Boolean()),
    receive_ephemeral: Type.Optional(Type.Boolean()),
    'de.sorunome.msc2409.push_ephemeral': Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true },
);
export type Registration = Static<typeof Registration>;

/** A config or registration problem: `path` names the key (relative to the adapter block). */
export class MatrixConfigProblem extends AdapterConfigError {
  override name = 'MatrixConfigProblem';
}

export interface ResolvedMatrixConfig {
  homeserver: string;
  serverName: string;
  registrationFile: string;
  listen: { host: string; port: number };
  url: string;
  domains: string[];
  ghostPrefix: string;
  senderLocalpart: string;
  maxTransactionBytes: number;
  requestTimeoutMs: number;
  queue: { maxLength: number; retryInitialMs: number; retryMaxMs: number };
  presenceRefreshMs: number;
}

/** Validate an adapter block and fill in the defaults; throws MatrixConfigProblem. */
export function resolveMatrixConfig(raw: Record<string, unknown>, configDir: string): ResolvedMatrixConfig {
  const problem = blockProblem(MatrixConfig, raw);
  if (problem) throw new MatrixConfigProblem(problem.path, problem.message);
  const c = raw as MatrixConfig;
  const sep = c.listen.lastIndexOf(':');
  const port = Number(c.listen.slice(sep + 1));
  if (port > 65535) throw new MatrixConfigProblem(['listen'], `port ${port} is above 65535`);
  const host = c.listen.slice(0, sep).replace(/^\[|\]$/g, '');
  const queue = {
    maxLength: c.queue?.maxLength ?? 10_000,
    retryInitialMs: c.queue?.retryInitialMs ?? 500,
    retryMaxMs: c.queue?.retryMaxMs ?? 30_000,
  };
  if (queue.retryMaxMs < queue.retryInitialMs) {
    throw new MatrixConfigProblem(['queue', 'retryMaxMs'], 'retryMaxMs must be at least retryInitialMs');
  }
  return {
    homeserver: c.homeserver.replace(/\/+$/, ''),
    serverName: c.serverName.toLowerCase(),
    registrationFile: isAbsolute(c.registration) ? c.registration : resolve(configDir, c.registration),
    listen: { host, port },
    url: c.url ?? `http://${c.listen}`,
    domains: c.domains.map((d) => d.toLowerCase()),
    ghostPrefix: c.ghostPrefix ?? '_parley_',
    senderLocalpart: c.senderLocalpart ?? 'parley',
    maxTransactionBytes: c.maxTransactionBytes ?? 16 * 1024 * 1024,
    requestTimeoutMs: c.requestTimeoutMs ?? 20_000,
    queue,
    presenceRefreshMs: c.presenceRefreshMs ?? 20_000,
  };
}

const regexEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A fresh registration for this link: random tokens, the exclusive ghost namespace. */
export function makeRegistration(name: string, cfg: ResolvedMatrixConfig): Registration {
  const token = () => randomBytes(32).toString('base64url');
  return {
    id: `parley-${name}`,
    url: cfg.url,
    as_token: token(),
    hs_token: token(),
    sender_localpart: cfg.senderLocalpart,
    namespaces: {
      users: [
        { exclusive: true, regex: `@${regexEscape(cfg.ghostPrefix)}.*:${regexEscape(cfg.serverName)}` },
      ],
      aliases: [],
      rooms: [],
    },
    rate_limited: false,
    receive_ephemeral: true,
    'de.sorunome.msc2409.push_ephemeral': true,
  };
}

export function registrationYaml(reg: Registration): string {
  return `# Parley appservice registration: give this file to the homeserver
# (Synapse: app_service_config_files). It holds secrets: keep it private.
${stringifyYaml(reg)}`;
}

/** Read and check a registration file; throws MatrixConfigProblem naming `registration`. */
export function loadRegistration(file: string): Registration {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new MatrixConfigProblem(
      ['registration'],
      code === 'ENOENT'
        ? `registration file ${file} does not exist (write it with: parley matrix registration -c CONFIG)`
        : `cannot read registration file ${file} (${code ?? String(err)})`,
    );
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new MatrixConfigProblem(
      ['registration'],
      `registration file ${file} is not valid YAML: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const problem = blockProblem(Registration, value);
  if (problem)
    throw new MatrixConfigProblem(['registration'], `registration file ${file}: ${problem.message}`);
  return value as Registration;
}
