// `parley audit verify|export|tail|migrate` (migrate: audit-migrate.ts).
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { EXPORT_MEDIA, exportRecords, iterateLog } from '../core/audit/export.js';
import { verifyLogParallel } from '../core/audit/parallel-verify.js';
import { compileFilter } from '../core/audit/query.js';
import { AUDIT_OUTCOMES, type AuditRecord } from '../core/audit/record.js';
import type { AuditFilter, ExportFormat } from '../core/audit/types.js';
import { readLog } from '../core/audit/verify.js';
import type { AuditHead, Store } from '../core/store.js';
import { MIGRATE_HELP, migrateCommand } from './audit-migrate.js';
import { CliError, type CliIO, EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK } from './io.js';

const CONFIG_OPTION = `  -c, --config FILE      the gateway's config file: the trail is read from its store
                         (default: the embedded config, whose in-memory store lives only
                         inside a running gateway)`;

export const AUDIT_HELP = `Usage:
  parley audit verify [-c FILE] [--known-head SEQ:HASH] [--workers N] [--json]
      Recompute the hash chain. Exit 0 when intact, 1 when broken (naming the first bad record).
  parley audit export [-c FILE] --format jsonl|csv|eml [--from ISO] [--to ISO] [--user U] [--domain D]
                      [--decision allow|redact|deny] [--outcome O] [--kind K] [--rule R]
                      [--category decision|outcome|admin] [--event ID] [--trace ID] [--out FILE]
      Stream the matching records (oldest first) to stdout or FILE. eml: an mboxrd stream with one
      message per conversation.
  parley audit tail [-c FILE] [-n N] [--follow] [--interval MS]
      Print the last N records (default 10); --follow keeps printing new ones until interrupted.
  parley audit migrate --from STORE --to STORE
      Copy the trail into an empty store (Redis, SQLite, PostgreSQL or a JSONL file) and
      verify that the copy has the source's head.

${CONFIG_OPTION}
Run "parley audit <command> --help" for the options of a command.
`;

/** Help of each audit command: its usage with -c and every option. */
export const AUDIT_COMMAND_HELP: Record<string, string> = {
  migrate: MIGRATE_HELP,
  verify: `Usage: parley audit verify [-c FILE] [--known-head SEQ:HASH] [--workers N] [--json]

Recomputes the hash chain of the audit trail. Exit 0 when intact, 1 when broken (naming
the first bad record), 2 on bad input. A store that other threads can read (SQLite,
PostgreSQL) is verified on every core.

Options:
${CONFIG_OPTION}
  --known-head SEQ:HASH  also check that the chain still contains this head (e.g. one kept
                         offline): a truncated or rewritten trail fails
  --workers N            threads that hash records (default: the cores available; 1: this
                         thread only)
  --json                 print the result as JSON
  -h, --help             this help
`,
  export: `Usage: parley audit export [-c FILE] --format jsonl|csv|eml [filters] [--out FILE]

Streams the matching records (oldest first) to standard output or FILE. eml: an mboxrd
stream with one message per conversation.

Options:
${CONFIG_OPTION}
  -f, --format F         jsonl (default), csv or eml
  --from ISO, --to ISO   time range
  --user U, --domain D, --network N, --kind K, --rule R, --q TEXT
  --decision D           allow, redact or deny (what the policy decided)
  --outcome O            what happened: delivered, queued, pending, refused, failed, denied,
                         rate-limited, unroutable, unsupported, invalid, bounced or expired
  --category C           decision, outcome (a later record of what happened) or admin
  --event ID             one event's records: its decision and what later happened to it
  --trace ID             every record of one trace
  -o, --out FILE         write to FILE instead of standard output
  -h, --help             this help
`,
  tail: `Usage: parley audit tail [-c FILE] [-n N] [--follow] [--interval MS]

Prints the last N records, one line each; with --follow, keeps printing new ones until
interrupted (Ctrl-C).

Options:
${CONFIG_OPTION}
  -n N                   how many records (default 10)
  -f, --follow           keep printing new records
  --interval MS          how often --follow looks for new records (default 1000, at least 10)
  -h, --help             this help
`,
};

export interface AuditCommandOptions {
  /** Stops `tail --follow` (default: SIGINT). */
  signal?: AbortSignal;
}

const FORMATS: readonly ExportFormat[] = ['jsonl', 'csv', 'eml'];
const DECISIONS = ['allow', 'redact', 'deny'] as const;
const CATEGORIES = ['decision', 'outcome', 'admin'] as const;

/** One line per record, for `tail`. */
export function formatRecordLine(r: AuditRecord): string {
  const rule = r.rule ? ` rule=${r.rule}` : '';
  const reason = r.reason ? ` reason=${JSON.stringify(r.reason)}` : '';
  const actor = r.actor ? ` actor=${r.actor}` : '';
  const outcome = r.outcome
    ? ` outcome=${r.outcome}${r.outcomeReason ? ` (${JSON.stringify(r.outcomeReason)})` : ''}`
    : '';
  const kind = r.category === 'admin' ? `admin:${r.kind}` : r.kind;
  return `${r.seq} ${r.time} ${r.decision.padEnd(6)} ${kind} ${r.from} -> ${r.to}${rule}${reason}${outcome}${actor} hash=${r.hash.slice(0, 12)}`;
}

function parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${AUDIT_HELP}`, EXIT_BAD_INPUT);
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function isoOption(v: unknown, name: string): string | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  if (Number.isNaN(Date.parse(s))) throw new CliError(`--${name} is not an ISO 8601 date/time: "${s}"`);
  return s;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], name: string): T | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(s)) {
    throw new CliError(`--${name} must be one of ${allowed.join(', ')} (got "${s}")`);
  }
  return s as T;
}

function parseHead(v: unknown): AuditHead | null {
  const s = str(v);
  if (s === undefined) return null;
  const m = /^(\d+):([0-9a-f]{64})$/.exec(s);
  if (!m) throw new CliError(`--known-head must be SEQ:HASH (64 hex digits), e.g. 42:${'ab'.repeat(32)}`);
  return { seq: Number(m[1]), hash: m[2] as string };
}

async function verify(argv: string[], io: CliIO, store: () => Promise<Store>): Promise<number> {
  const { values } = parse(argv, {
    'known-head': { type: 'string' },
    workers: { type: 'string' },
    json: { type: 'boolean' },
  });
  const knownHead = parseHead(values['known-head']);
  const workers = values.workers === undefined ? undefined : Number(values.workers);
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 1 || workers > 256))
    throw new CliError(`--workers must be a whole number from 1 to 256 (got "${String(values.workers)}")`);
  const s = await store();
  try {
    const v = await verifyLogParallel(s.audit, {
      knownHead,
      ...(workers !== undefined ? { workers } : {}),
      onWarning: (w) => io.stderr(`parley audit verify: note: ${w}\n`),
    });
    if (values.json) io.stdout(`${JSON.stringify(v)}\n`);
    if (v.ok) {
      if (!values.json) {
        const head = v.head ? `head ${v.head.seq} ${v.head.hash}` : 'empty log';
        io.stdout(`audit chain intact: ${v.records} records verified, ${head}\n`);
      }
      return EXIT_OK;
    }
    if (!values.json) io.stdout(`audit chain broken at record ${v.firstBad}: ${v.problem}\n`);
    return EXIT_CHECK_FAILED;
  } finally {
    await s.close();
  }
}

async function exportCmd(argv: string[], io: CliIO, store: () => Promise<Store>): Promise<number> {
  const { values } = parse(argv, {
    format: { type: 'string', short: 'f' },
    from: { type: 'string' },
    to: { type: 'string' },
    user: { type: 'string' },
    domain: { type: 'string' },
    network: { type: 'string' },
    kind: { type: 'string' },
    rule: { type: 'string' },
    decision: { type: 'string' },
    category: { type: 'string' },
    outcome: { type: 'string' },
    q: { type: 'string' },
    event: { type: 'string' },
    trace: { type: 'string' },
    out: { type: 'string', short: 'o' },
  });
  const format = oneOf(values.format ?? 'jsonl', FORMATS, 'format') as ExportFormat;
  const filter: AuditFilter = {};
  const from = isoOption(values.from, 'from');
  const to = isoOption(values.to, 'to');
  if (from !== undefined) filter.from = from;
  if (to !== undefined) filter.to = to;
  for (const k of ['user', 'domain', 'network', 'kind', 'rule', 'q'] as const) {
    const v = str(values[k]);
    if (v !== undefined) filter[k] = v;
  }
  const decision = oneOf(values.decision, DECISIONS, 'decision');
  if (decision) filter.decision = decision;
  const category = oneOf(values.category, CATEGORIES, 'category');
  if (category) filter.category = category;
  const outcome = oneOf(values.outcome, AUDIT_OUTCOMES, 'outcome');
  if (outcome) filter.outcome = outcome;
  const eventId = str(values.event);
  if (eventId !== undefined) filter.eventId = eventId;
  const traceId = str(values.trace);
  if (traceId !== undefined) filter.traceId = traceId;
  compileFilter(filter);

  const outFile = str(values.out);
  const s = await store();
  try {
    const chunks = exportRecords(iterateLog(s.audit, filter), format);
    if (outFile === undefined) {
      for await (const c of chunks) io.stdout(c);
      return EXIT_OK;
    }
    const path = resolve(io.cwd, outFile);
    const fh = await open(path, 'w');
    let bytes = 0;
    try {
      for await (const c of chunks) {
        const b = Buffer.from(c, 'utf8');
        bytes += b.length;
        await fh.write(b);
      }
    } finally {
      await fh.close();
    }
    io.stderr(`wrote ${bytes} bytes of ${format} (${EXPORT_MEDIA[format].contentType}) to ${path}\n`);
    return EXIT_OK;
  } finally {
    await s.close();
  }
}

async function tail(
  argv: string[],
  io: CliIO,
  store: () => Promise<Store>,
  opts: AuditCommandOptions,
): Promise<number> {
  const { values } = parse(argv, {
    n: { type: 'string', short: 'n' },
    follow: { type: 'boolean', short: 'f' },
    interval: { type: 'string' },
  });
  const n = values.n === undefined ? 10 : Number(values.n);
  if (!Number.isInteger(n) || n < 0)
    throw new CliError(`-n must be a whole number (got "${String(values.n)}")`);
  const interval = values.interval === undefined ? 1000 : Number(values.interval);
  if (!Number.isFinite(interval) || interval < 10) throw new CliError('--interval must be at least 10 (ms)');
  const s = await store();
  try {
    const head = await s.audit.head();
    const last = head && n > 0 ? await s.audit.reverseRange(head.seq, n) : [];
    for (const r of last.reverse()) io.stdout(`${formatRecordLine(r)}\n`);
    if (!values.follow) return EXIT_OK;

    let next = (head?.seq ?? 0) + 1;
    const controller = new AbortController();
    const stop = () => controller.abort();
    const signal = opts.signal ?? controller.signal;
    if (!opts.signal) process.once('SIGINT', stop);
    try {
      while (!signal.aborted) {
        await new Promise<void>((done) => {
          const timer = setTimeout(done, interval);
          signal.addEventListener(
            'abort',
            () => {
              clearTimeout(timer);
              done();
            },
            { once: true },
          );
        });
        if (signal.aborted) break;
        try {
          for await (const r of readLog(s.audit, 500, next)) {
            io.stdout(`${formatRecordLine(r)}\n`);
            next = r.seq + 1;
          }
        } catch (err) {
          io.stderr(`audit tail: ${(err as Error).message} (retrying)\n`);
        }
      }
    } finally {
      process.off('SIGINT', stop);
    }
    return EXIT_OK;
  } finally {
    await s.close();
  }
}

export async function auditCommand(
  argv: string[],
  io: CliIO,
  openStore: () => Promise<Store>,
  opts: AuditCommandOptions = {},
): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout(AUDIT_COMMAND_HELP[sub ?? ''] ?? AUDIT_HELP);
      return EXIT_OK;
    }
    switch (sub) {
      case 'verify':
        return await verify(rest, io, openStore);
      case 'export':
        return await exportCmd(rest, io, openStore);
      case 'tail':
        return await tail(rest, io, openStore, opts);
      case 'migrate':
        return await migrateCommand(
          rest,
          io,
          (a) =>
            parse(a, { from: { type: 'string' }, to: { type: 'string' }, page: { type: 'string' } }).values,
        );
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(AUDIT_HELP);
        return sub === undefined ? EXIT_BAD_INPUT : EXIT_OK;
      default:
        throw new CliError(`unknown audit command "${sub}"\n\n${AUDIT_HELP}`);
    }
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr(`${err.message.trimEnd()}\n`);
      return err.exitCode;
    }
    if (err instanceof RangeError) {
      io.stderr(`${err.message}\n`);
      return EXIT_BAD_INPUT;
    }
    io.stderr(`parley audit ${sub}: ${(err as Error)?.message ?? String(err)}\n`);
    return EXIT_CHECK_FAILED;
  }
}
