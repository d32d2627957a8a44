// Retention and legal holds (docs/compliance.md): retention trims old records unless a
// legal hold covers them.
//
// - Holds live in the Store (hash `audit:holds`, one JSON value per hold id), so every
//   replica sees the same holds. A hold covers a record when every criterion it gives
//   holds (user: either party; domain: either party's domain; from/to: the record's time).
// - A trim reads the log from its start, in seq order, up to the first record whose time is
//   within retention (`audit.retentionDays`): records before it are past retention and are
//   deleted unless a hold covers them. Record times are event times and so only roughly
//   ordered: stopping at the first record within retention never deletes a record that is
//   within it (a late, older record after it waits for a later trim). The store's trim moves
//   the anchor to the record just before the cut, so the chain above it verifies as before;
//   held records below the anchor are checked on their own (their hash, and their link to a
//   held predecessor).
// - The periodic trim runs every `intervalMs` (default one hour) when retention is set, and
//   records an `audit.trim` admin record when it deleted something.
import { randomUUID } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import { compileFilter, type RecordPredicate } from './core/audit/query.js';
import type { AuditFilter } from './core/audit/types.js';
import type { Logger } from './core/logger.js';
import type { Store } from './core/store.js';
import {
  type LegalHold,
  type LegalHoldInput,
  LegalHoldSchema,
  type RetentionServices,
  type TrimReport,
} from './http/services.js';

export const HOLDS_KEY = 'audit:holds';
const DAY_MS = 86_400_000;

export type RecordAdmin = (action: string, actor: string, details: Record<string, unknown>) => Promise<void>;

export interface RetentionOptions {
  store: Store;
  /** `audit.retentionDays`; null or undefined: records are kept forever. */
  retentionDays?: number | null;
  /** Writes an admin record (the periodic trim records what it deleted). */
  record: RecordAdmin;
  logger: Logger;
  /** Periodic trim interval (default one hour). */
  intervalMs?: number;
  /** Delay before the first periodic trim after start (default 10 s). */
  firstRunMs?: number;
  /** Records read per page while trimming (default 1000). */
  pageSize?: number;
  now?: () => Date;
}

/** Check a hold's criteria; the message says what to change. */
export function holdProblem(input: LegalHoldInput): string | null {
  const { user, domain, from, to } = input;
  if (!user && !domain && !from && !to) {
    return 'a hold needs at least one of user, domain, from or to (a hold on everything is a retention change)';
  }
  const f = from === undefined ? null : Date.parse(from);
  const t = to === undefined ? null : Date.parse(to);
  if (f !== null && Number.isNaN(f)) return `from is not an ISO 8601 instant: "${from}"`;
  if (t !== null && Number.isNaN(t)) return `to is not an ISO 8601 instant: "${to}"`;
  if (f !== null && t !== null && f >= t) return 'from must be before to';
  if (!input.reason || input.reason.trim() === '')
    return 'a hold needs a reason (the matter or case it is for)';
  return null;
}

/** The audit filter a hold stands for. */
export function holdFilter(h: LegalHoldInput): AuditFilter {
  const f: AuditFilter = {};
  if (h.user) f.user = h.user;
  if (h.domain) f.domain = h.domain;
  if (h.from) f.from = h.from;
  if (h.to) f.to = h.to;
  return f;
}

export class Retention implements RetentionServices {
  readonly #o: RetentionOptions;
  #timers: NodeJS.Timeout[] = [];
  #running: Promise<TrimReport> | null = null;

  constructor(opts: RetentionOptions) {
    if (opts.retentionDays !== undefined && opts.retentionDays !== null && !(opts.retentionDays > 0)) {
      throw new RangeError('retentionDays must be a positive number of days');
    }
    this.#o = opts;
  }

  retentionDays(): number | null {
    return this.#o.retentionDays ?? null;
  }

  async listHolds(): Promise<LegalHold[]> {
    const all = await this.#o.store.hgetall(HOLDS_KEY);
    const out: LegalHold[] = [];
    for (const [id, text] of Object.entries(all)) {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        value = null;
      }
      if (Value.Check(LegalHoldSchema, value)) out.push(value);
      else {
        // Never drop a hold silently: an unreadable one holds everything until fixed.
        this.#o.logger.error(
          { id },
          'legal hold unreadable in the store; holding every record until it is fixed',
        );
        out.push({
          id,
          reason: 'unreadable hold',
          createdAt: '',
          createdBy: '',
          from: '1970-01-01T00:00:00Z',
        });
      }
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async setHold(input: LegalHoldInput, actor: string): Promise<LegalHold> {
    const problem = holdProblem(input);
    if (problem) throw new RangeError(problem);
    const hold: LegalHold = {
      id: randomUUID(),
      ...holdFilter(input),
      reason: input.reason,
      createdAt: (this.#o.now?.() ?? new Date()).toISOString(),
      createdBy: actor,
    };
    await this.#o.store.hset(HOLDS_KEY, hold.id, JSON.stringify(hold));
    return hold;
  }

  async releaseHold(id: string): Promise<LegalHold | null> {
    const hold = (await this.listHolds()).find((h) => h.id === id) ?? null;
    if (hold) await this.#o.store.hdel(HOLDS_KEY, id);
    return hold;
  }

  /** One trim at a time: a second call while one runs gets the same result. */
  trim(): Promise<TrimReport> {
    if (!this.#running) {
      this.#running = this.#trim().finally(() => {
        this.#running = null;
      });
    }
    return this.#running;
  }

  async #trim(): Promise<TrimReport> {
    const log = this.#o.store.audit;
    const days = this.retentionDays();
    if (days === null) {
      return { retentionDays: null, cutoff: null, removed: 0, held: 0, anchor: await log.anchor() };
    }
    const now = (this.#o.now?.() ?? new Date()).getTime();
    const cutoffMs = now - days * DAY_MS;
    const holds: RecordPredicate[] = (await this.listHolds()).map((h) => compileFilter(holdFilter(h)));
    const keep = new Set<number>();
    const pageSize = this.#o.pageSize ?? 1000;
    let cut: number | null = null;
    let lastSeq = 0;
    let next = 1;
    scan: for (;;) {
      const page = await log.range(next, pageSize);
      for (const r of page) {
        const t = Date.parse(r.time);
        // Within retention (or a time that cannot be read): stop here, keep it and what follows.
        if (Number.isNaN(t) || t >= cutoffMs) {
          cut = r.seq;
          break scan;
        }
        if (holds.some((covers) => covers(r))) keep.add(r.seq);
        lastSeq = r.seq;
      }
      const last = page[page.length - 1];
      if (!last || page.length < pageSize) break;
      next = last.seq + 1;
    }
    const beforeSeq = cut ?? lastSeq + 1;
    const removed = beforeSeq > 1 ? await log.trim(beforeSeq, keep) : 0;
    return {
      retentionDays: days,
      cutoff: new Date(cutoffMs).toISOString(),
      removed,
      held: keep.size,
      anchor: await log.anchor(),
    };
  }

  /** Run the periodic trim (no-op without retention). */
  start(): void {
    if (this.retentionDays() === null || this.#timers.length > 0) return;
    const run = async (): Promise<void> => {
      try {
        const report = await this.trim();
        if (report.removed > 0) {
          this.#o.logger.info({ ...report }, 'retention: trimmed audit records past retention');
          await this.#o.record('audit.trim', 'retention', { ...report });
        }
      } catch (err) {
        this.#o.logger.error({ err }, 'retention: trim failed; it runs again at the next interval');
      }
    };
    const first = setTimeout(() => void run(), this.#o.firstRunMs ?? 10_000);
    const periodic = setInterval(() => void run(), this.#o.intervalMs ?? 3_600_000);
    first.unref();
    periodic.unref();
    this.#timers = [first, periodic];
  }

  /** Stop the periodic trim; waits for a trim in progress. */
  async stop(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
    await this.#running?.catch(() => {});
  }
}
