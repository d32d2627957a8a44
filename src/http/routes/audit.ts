// The audit routes: query, verify, export, and the live stream of new records. Every search
// in kept content (`q`), through any of them, is itself an audit record.
import { Readable } from 'node:stream';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AuditRecord } from '../../core/audit/record.js';
import { ApiError } from '../errors.js';
import {
  AuditQuerySchema,
  authErrors,
  E400,
  ExportQuerySchema,
  err,
  FilterProperties,
  security,
  withDescription,
} from '../schemas.js';
import { AuditPageSchema, type ExportFormat, VerifyResultSchema } from '../services.js';
import { errorMessage, type RouteContext } from './context.js';

const EXPORT_TYPES: Record<ExportFormat, { type: string; ext: string }> = {
  jsonl: { type: 'application/x-ndjson; charset=utf-8', ext: 'jsonl' },
  csv: { type: 'text/csv; charset=utf-8', ext: 'csv' },
  eml: { type: 'application/mbox', ext: 'mbox' },
};

function exportFilename(format: ExportFormat, now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '');
  return `parley-audit-${stamp}.${EXPORT_TYPES[format].ext}`;
}

async function* prepend<T>(first: IteratorResult<T>, rest: AsyncIterator<T>): AsyncGenerator<T> {
  try {
    if (first.done) return;
    yield first.value;
    for (;;) {
      const r = await rest.next();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    // Client went away or the stream ended: let the source release what it holds.
    await rest.return?.();
  }
}

/**
 * Server-sent events from records: `record` events with the seq as id, and a comment line
 * whenever `heartbeatMs` pass without one (keeps proxies from closing an idle stream).
 */
async function* sseEvents(
  records: AsyncIterable<AuditRecord>,
  signal: AbortSignal,
  heartbeatMs: number,
): AsyncGenerator<string> {
  yield 'retry: 3000\n: parley audit stream\n\n';
  const it = records[Symbol.asyncIterator]();
  let pending = it.next();
  try {
    while (!signal.aborted) {
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<'tick'>((r) => {
        timer = setTimeout(() => r('tick'), heartbeatMs);
      });
      const got = await Promise.race([pending, tick]);
      clearTimeout(timer);
      if (got === 'tick') {
        yield ': keep-alive\n\n';
        continue;
      }
      if (got.done) return;
      yield `id: ${got.value.seq}\nevent: record\ndata: ${JSON.stringify(got.value)}\n\n`;
      pending = it.next();
    }
  } finally {
    await it.return?.();
  }
}

export async function auditRoutes(api: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { services, recordAdmin } = ctx;
  api.get<{ Querystring: Static<typeof AuditQuerySchema> }>(
    `/audit`,
    {
      schema: {
        tags: ['audit'],
        summary: 'Query audit records',
        description:
          'Newest first. Every filter given must hold. Page with `before` = the previous page’s `next` (a keyset ' +
          'cursor: pages never repeat or skip a record, whatever is appended meanwhile). `search` says how the page ' +
          'was found: from the store’s index (`index`: SQLite and PostgreSQL, every kept record considered), or ' +
          'by a scan of at most 50,000 records a page (`scan`, with how many of the kept records were read; ' +
          '`capped` when it stopped early: go on with `next`). `q` matches words (see the `q` parameter). Every ' +
          'request that searches content (`q`), each page included, is recorded in the audit trail (`audit.search`, ' +
          'with the filter and `before`); if that fails nothing is searched (503). Role: admin or auditor.',
        security,
        querystring: AuditQuerySchema,
        response: {
          200: withDescription(AuditPageSchema, 'A page of records, newest first.'),
          400: E400,
          503: err('The audit trail could not record the search.'),
          ...authErrors,
        },
      },
    },
    async (request) => {
      const { before, limit, ...filter } = request.query;
      // Searching kept content is recorded, every page: which page is the "first" is the
      // client's say (it leaves out `before`), so skipping pages would let a search go unrecorded.
      if (filter.q !== undefined) {
        await recordAdmin(
          request,
          'audit.search',
          before === undefined ? { filter } : { filter, before },
          true,
        );
      }
      return services.audit.query(filter, before ?? null, limit);
    },
  );

  api.get(
    `/audit/verify`,
    {
      schema: {
        tags: ['audit'],
        summary: 'Verify the hash chain',
        description:
          'Recomputes the chain. Always 200 when the check ran: `ok: true` with the head, or `ok: false` naming ' +
          'the first record that does not match (`firstBad`) — a broken chain is a result, not a server error. ' +
          '503 when the audit store cannot be read. Recorded in the audit trail (`audit.verify`). Role: admin or auditor.',
        security,
        response: {
          200: withDescription(VerifyResultSchema, 'The check ran: `ok` says whether the chain is intact.'),
          503: err('The audit store could not be read.'),
          ...authErrors,
        },
      },
    },
    async (request) => {
      let result: Static<typeof VerifyResultSchema>;
      try {
        result = await services.audit.verify();
      } catch (e) {
        request.log.error({ problem: errorMessage(e) }, 'audit verify failed');
        throw new ApiError(
          503,
          'audit_unavailable',
          'The audit trail could not be read to verify it; retry when the audit store is available (see /readyz).',
        );
      }
      await recordAdmin(
        request,
        'audit.verify',
        result.ok
          ? { ok: true, records: result.records, head: result.head?.seq ?? null }
          : { ok: false, records: result.records, firstBad: result.firstBad },
        false,
      );
      if (!result.ok) request.log.warn({ firstBad: result.firstBad }, 'audit chain verification failed');
      return result;
    },
  );

  api.get<{ Querystring: Static<typeof ExportQuerySchema> }>(
    `/audit/export`,
    {
      schema: {
        tags: ['audit'],
        summary: 'Export audit records',
        description:
          'Streams the records matching the filters, oldest first, as an attachment: `jsonl` ' +
          '(application/x-ndjson), `csv` (text/csv) or `eml` (application/mbox, one EML message per conversation). ' +
          'The export is recorded in the audit trail (`audit.export`) before it starts; if that fails nothing is ' +
          'exported (503). Role: admin or auditor.',
        security,
        querystring: ExportQuerySchema,
        response: {
          200: {
            description: 'The export, streamed; `Content-Disposition` names the file.',
            content: {
              'application/x-ndjson': { schema: Type.String() },
              'text/csv': { schema: Type.String() },
              'application/mbox': { schema: Type.String() },
            },
          },
          400: E400,
          503: err('The audit trail could not record or read the export.'),
          ...authErrors,
        },
      },
    },
    async (request, reply) => {
      const { format, ...filter } = request.query;
      await recordAdmin(request, 'audit.export', { format, filter }, true);
      const iterator = services.audit.export(format, filter)[Symbol.asyncIterator]();
      let first: IteratorResult<string>;
      try {
        first = await iterator.next();
      } catch (e) {
        request.log.error({ problem: errorMessage(e) }, 'audit export failed');
        throw new ApiError(
          503,
          'audit_unavailable',
          'The audit trail could not be read for the export; retry when the audit store is available (see /readyz).',
        );
      }
      const stream = Readable.from(prepend(first, iterator), { objectMode: false });
      stream.on('error', (e) =>
        request.log.error({ problem: errorMessage(e) }, 'audit export stream failed'),
      );
      return reply
        .type(EXPORT_TYPES[format].type)
        .header('content-disposition', `attachment; filename="${exportFilename(format, new Date())}"`)
        .send(stream);
    },
  );

  const follow = services.audit.follow?.bind(services.audit);
  if (follow) {
    const StreamQuerySchema = Type.Object(
      {
        ...FilterProperties,
        after: Type.Optional(
          Type.Integer({
            minimum: 0,
            description:
              'Send records with a larger sequence number (default: the `Last-Event-ID` header, else only records appended from now on).',
          }),
        ),
      },
      { additionalProperties: false },
    );
    const heartbeatMs = ctx.streamHeartbeatMs;
    const open = new Set<AbortController>();
    // A live stream never ends by itself: end them all when the server closes.
    api.addHook('preClose', async () => {
      for (const c of open) c.abort();
    });
    api.get<{ Querystring: Static<typeof StreamQuerySchema> }>(
      `/audit/stream`,
      {
        schema: {
          tags: ['audit'],
          summary: 'Live audit records (server-sent events)',
          description:
            'A `text/event-stream`: each new record matching the filters as an event `record` (`id` = seq, ' +
            '`data` = the record as JSON), and a comment line every 15 s while idle. Reconnecting clients send ' +
            '`Last-Event-ID` and miss nothing that is still kept. A stream that searches content (`q`) is recorded ' +
            'in the audit trail (`audit.search`, with the filter and `live: true`) before it opens; if that fails ' +
            'there is no stream (503). Role: admin or auditor.',
          security,
          querystring: StreamQuerySchema,
          response: {
            200: {
              description: 'The event stream.',
              content: { 'text/event-stream': { schema: Type.String() } },
            },
            400: E400,
            503: err('The audit trail could not record the search.'),
            ...authErrors,
          },
        },
      },
      async (request, reply) => {
        const { after, ...filter } = request.query;
        const lastId = Number(request.headers['last-event-id']);
        const from = after ?? (Number.isInteger(lastId) && lastId >= 0 ? lastId : null);
        // A live search in content is a search like any other: recorded before anything is sent.
        if (filter.q !== undefined) {
          await recordAdmin(request, 'audit.search', { filter, live: true, after: from }, true);
        }
        const controller = new AbortController();
        open.add(controller);
        const done = () => {
          controller.abort();
          open.delete(controller);
        };
        request.raw.on('close', done);
        const stream = Readable.from(
          sseEvents(follow(filter, from, controller.signal), controller.signal, heartbeatMs),
          { objectMode: false },
        );
        stream.on('close', done);
        stream.on('error', (e) => request.log.warn({ problem: errorMessage(e) }, 'audit stream failed'));
        // `connection: close`: a stream ended by the server (shutdown) must not leave a
        // keep-alive socket that holds the server open.
        return reply
          .type('text/event-stream; charset=utf-8')
          .header('x-accel-buffering', 'no')
          .header('connection', 'close')
          .send(stream);
      },
    );
  }
}
