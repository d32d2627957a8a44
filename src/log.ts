// Structured logs with pino: JSON by default, pretty on a terminal, secrets redacted.
import pino from 'pino';
import type { Logger } from './core/logger.js';

export interface LogOptions {
  level?: string;
  /** Pretty output (default: when stdout is a terminal). */
  pretty?: boolean;
  /** Write here instead of stdout (tests). */
  destination?: NodeJS.WritableStream;
}

/** Paths pino blanks out wherever they appear in a log object. */
export const REDACT_PATHS = [
  'secret',
  'password',
  'token',
  'tokens',
  'as_token',
  'hs_token',
  '*.secret',
  '*.password',
  '*.token',
  '*.tokens',
  '*.as_token',
  '*.hs_token',
  'config.http.tokens',
  'config.adapters.*.secret',
  'config.adapters.*.password',
  'req.headers.authorization',
  'headers.authorization',
];

export function createLogger(opts: LogOptions = {}): pino.Logger & Logger {
  const pretty = opts.pretty ?? (!opts.destination && process.stdout.isTTY === true);
  const base: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    name: 'parley',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return opts.destination ? pino(base, opts.destination) : pino(base);
}
