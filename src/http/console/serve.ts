// Serves the compliance console: hand-written static files (HTML, CSS, ES modules checked
// with this folder's tsconfig.json) from this folder, read once at startup. The page talks
// only to /api/v1 on the same origin; the Content-Security-Policy forbids everything else
// (no CDN, no external request).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

const JS = 'text/javascript; charset=utf-8';

/** Every file the page loads (console.js imports the other modules), with its type. */
export const CONSOLE_FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'console.js': JS,
  'api.js': JS,
  'charts.js': JS,
  'dom.js': JS,
  'export.js': JS,
  'live.js': JS,
  'nav.js': JS,
  'policy-words.js': JS,
  'present.js': JS,
  'record-detail.js': JS,
  'session.js': JS,
  'state.js': JS,
  'status.js': JS,
  'time.js': JS,
  'traffic-rows.js': JS,
  'view-charts.js': JS,
  'view-holds.js': JS,
  'view-integrity.js': JS,
  'view-policy.js': JS,
  'view-traffic.js': JS,
  'whatif.js': JS,
  'widgets.js': JS,
};

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Where the console's files are: next to this module when running from src/, else the
 * source folder when running from a build (dist/ holds only compiled TypeScript).
 */
export function findConsoleDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [here, resolve(here, '..', '..', '..', 'src', 'http', 'console')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? null;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function secured(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cache-control', 'no-cache');
}

/** Register GET /console (the page) and /console/<file> (its assets). */
export function registerConsole(app: FastifyInstance, dir: string | null = findConsoleDir()): void {
  const assets = new Map<string, Asset>();
  if (dir) {
    for (const [name, type] of Object.entries(CONSOLE_FILES)) {
      const body = readFileSync(join(dir, name));
      assets.set(name, {
        body,
        type,
        etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`,
      });
    }
  } else {
    app.log.warn('compliance console files not found: /console is not available');
  }

  const send = (name: string, ifNoneMatch: string | undefined, reply: FastifyReply) => {
    const a = assets.get(name);
    if (!a) {
      return reply.code(404).send({
        error: 'not_found',
        message:
          name === 'index.html'
            ? 'The compliance console is not installed with this build (its files are missing).'
            : `There is no console file ${name}.`,
      });
    }
    secured(reply).header('etag', a.etag);
    if (ifNoneMatch === a.etag) return reply.code(304).send();
    return reply.type(a.type).send(a.body);
  };

  const hide = { schema: { hide: true } };
  app.get('/console', hide, async (request, reply) =>
    send('index.html', request.headers['if-none-match'], reply),
  );
  app.get('/console/', hide, async (request, reply) =>
    send('index.html', request.headers['if-none-match'], reply),
  );
  app.get<{ Params: { file: string } }>('/console/:file', hide, async (request, reply) =>
    send(request.params.file, request.headers['if-none-match'], reply),
  );
}
