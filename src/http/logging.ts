// The admin API's logger: pino gets redaction of secrets and a request serializer that masks
// credential-like query parameters; a logger of the core's port shape gets no headers at all.
import type { FastifyBaseLogger } from 'fastify';
import type { LogFn, Logger } from '../core/logger.js';

// A child logger's redaction replaces its parent's, so this also repeats the usual secrets.
const REDACT_PATHS = [
  'secret',
  'password',
  'token',
  '*.secret',
  '*.password',
  '*.token',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'request.headers.authorization',
  'res.headers.authorization',
  '*.authorization',
  '*.headers.authorization',
  'tokens',
  '*.tokens',
];

/** Query parameters that look like credentials are masked in logged URLs. */
export function maskUrl(url: string): string {
  return url.replace(/([?&](?:access_token|token|auth|key|secret)=)[^&]*/gi, '$1[redacted]');
}

interface LoggableRequest {
  method?: string;
  url?: string;
  ip?: string;
  host?: string;
  socket?: { remotePort?: number };
}

function requestSerializer(req: LoggableRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? maskUrl(req.url) : undefined,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

function isPinoLike(l: Logger | FastifyBaseLogger): l is FastifyBaseLogger {
  const probe = l as { level?: unknown; silent?: unknown };
  return typeof probe.level === 'string' && typeof probe.silent === 'function';
}

/** What a non-pino logger is given: requests reduced to safe fields, no headers. */
function sanitizeLogObject(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'authorization' || k === 'headers' || k === 'tokens') continue;
    if (k === 'req' && typeof v === 'object' && v !== null) out.req = requestSerializer(v as LoggableRequest);
    else if (k === 'res' && typeof v === 'object' && v !== null) {
      out.res = { statusCode: (v as { statusCode?: unknown }).statusCode };
    } else if (k === 'err' && v instanceof Error) out.err = { type: v.name, message: v.message };
    else out[k] = v;
  }
  return out;
}

/** Adapt a logger of the core's port shape to what fastify needs. */
function fromPortLogger(l: Logger): FastifyBaseLogger {
  const wrap =
    (fn: LogFn) =>
    (first: unknown, msg?: unknown): void => {
      if (typeof first === 'string') fn(first);
      else if (typeof first === 'object' && first !== null) {
        fn(sanitizeLogObject(first as Record<string, unknown>), typeof msg === 'string' ? msg : undefined);
      } else fn(String(first));
    };
  const adapted = {
    level: 'info',
    silent: () => {},
    trace: wrap(l.trace),
    debug: wrap(l.debug),
    info: wrap(l.info),
    warn: wrap(l.warn),
    error: wrap(l.error),
    fatal: wrap(l.fatal),
    child: (bindings: Record<string, unknown>) => fromPortLogger(l.child(bindings)),
  };
  return adapted as unknown as FastifyBaseLogger;
}

export function httpLogger(logger: Logger | FastifyBaseLogger): FastifyBaseLogger {
  if (!isPinoLike(logger)) return fromPortLogger(logger);
  return logger.child(
    {},
    { redact: { paths: REDACT_PATHS, censor: '[redacted]' }, serializers: { req: requestSerializer } },
  );
}
