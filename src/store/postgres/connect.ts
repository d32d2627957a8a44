// Connections to the archive: one postgres.js pool per log, errors that name the archive
// and the operation, and arrays passed as PostgreSQL array text (no type lookups on connect).
import postgres from 'postgres';

export type Sql = postgres.Sql<Record<string, never>>;

export interface ConnectOptions {
  url: string;
  /** Most connections (default 4). */
  max?: number;
  /** Server-side limit per statement in ms (default 5000); 0: none. */
  statementTimeoutMs?: number;
  /** Seconds to wait for a connection (default 5). */
  connectTimeoutS?: number;
  applicationName?: string;
}

export function connect(o: ConnectOptions): Sql {
  return postgres(o.url, {
    max: o.max ?? 4,
    connect_timeout: o.connectTimeoutS ?? 5,
    idle_timeout: 300,
    // Arrays go as text (pgArray), so the per-connection type lookup is not needed.
    fetch_types: false,
    onnotice: () => {},
    connection: {
      application_name: o.applicationName ?? 'parley',
      statement_timeout: o.statementTimeoutMs ?? 5000,
    },
  }) as Sql;
}

/** `postgres://user@host:port/db` without the password, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'postgres (bad url)';
  }
}

/** The archive cannot be reached (down, restarting, connection lost or timed out). */
export class ArchiveUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ArchiveUnavailableError';
  }
}

/** The archive answered with an error (a refused trim, a schema problem, a bad statement). */
export class ArchiveError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ArchiveError';
    this.code = code;
  }
}

/** SQLSTATE classes and client codes that mean "not reachable now", not "refused". */
function unreachable(code: string | undefined): boolean {
  if (!code) return true;
  return (
    /^(08|57P|53)/.test(code) ||
    code.startsWith('ECONN') ||
    code.startsWith('CONNECT') ||
    code === 'ETIMEDOUT' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'EPIPE'
  );
}

/** The error to throw for a failed operation `what` on archive `target`. */
export function archiveError(target: string, what: string, err: unknown): Error {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  if (err instanceof ArchiveUnavailableError || err instanceof ArchiveError) return err;
  if (unreachable(code))
    return new ArchiveUnavailableError(`postgres archive (${target}): ${what} failed: ${msg}`, {
      cause: err,
    });
  return new ArchiveError(`postgres archive (${target}): ${what} failed: ${msg}`, code, { cause: err });
}

/** A PostgreSQL array literal of texts (NULL for null): passed as one text parameter. */
export function pgArray(xs: readonly (string | null)[]): string {
  let out = '{';
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (i > 0) out += ',';
    if (x === null || x === undefined) out += 'NULL';
    else out += `"${x.replace(/[\\"]/g, '\\$&')}"`;
  }
  return `${out}}`;
}

/** A PostgreSQL array literal of integers. */
export const pgIntArray = (xs: readonly number[]): string => `{${xs.join(',')}}`;
