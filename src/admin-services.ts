// AdminServices for the HTTP surfaces, built from the gateway's parts.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { exportRecords, iterateLog } from './core/audit/export.js';
import { verifyLogParallel } from './core/audit/parallel-verify.js';
import { compileFilter, queryLog } from './core/audit/query.js';
import type { AuditRecord } from './core/audit/record.js';
import type { AuditFilter, ExportFormat } from './core/audit/types.js';
import type { AuditSink, Pipeline } from './core/pipeline.js';
import { eventFromInput } from './core/policy/index.js';
import type { Store } from './core/store.js';
import type { AdminServices, ReadyReport, RetentionServices } from './http/services.js';
import type { PolicyRuntime } from './policy-runtime.js';

export interface AdminServicesDeps {
  policy: PolicyRuntime;
  store: Store;
  audit: AuditSink;
  pipeline: Pipeline;
  metrics: () => Promise<{ contentType: string; body: string }>;
  /** Retention and legal holds (src/retention.ts); omitted: no hold or trim routes. */
  retention?: RetentionServices;
  /** How often the live view polls the log head (default 500 ms). */
  followPollMs?: number;
}

/** Writes administrative actions (sign-in, export, reload, trim...) to the audit trail. */
export function adminRecorder(audit: AuditSink, policyVersion: () => string) {
  return async (action: string, actor: string, details: Record<string, unknown>): Promise<void> => {
    await audit.write({
      category: 'admin',
      time: new Date().toISOString(),
      traceId: randomUUID(),
      eventId: randomUUID(),
      kind: action,
      from: actor,
      to: '',
      fromNetwork: '',
      toNetwork: '',
      direction: 'internal',
      decision: 'allow',
      rule: null,
      reason: null,
      policyVersion: policyVersion(),
      content: { mode: 'none' },
      sourceAdapter: 'api',
      targetAdapter: null,
      actor,
      details,
    });
  };
}

/**
 * Records appended after `afterSeq` (null: after the current head) that match `filter`:
 * polls the log head every `pollMs` and reads what is new. Ends when `signal` aborts.
 */
export async function* followLog(
  log: Store['audit'],
  filter: AuditFilter,
  afterSeq: number | null,
  signal: AbortSignal,
  pollMs = 500,
): AsyncGenerator<AuditRecord> {
  const match = compileFilter(filter);
  let last = afterSeq ?? (await log.head())?.seq ?? 0;
  while (!signal.aborted) {
    const head = await log.head();
    if (head && head.seq > last) {
      let next = last + 1;
      while (next <= head.seq && !signal.aborted) {
        const page = await log.range(next, Math.min(500, head.seq - next + 1));
        const lastInPage = page[page.length - 1];
        if (!lastInPage) break;
        for (const r of page) if (r.seq <= head.seq && match(r)) yield r;
        next = lastInPage.seq + 1;
      }
      last = head.seq;
    }
    await sleep(pollMs, undefined, { signal }).catch(() => {});
  }
}

export function createAdminServices(d: AdminServicesDeps): AdminServices {
  const recordAdmin = adminRecorder(d.audit, () => d.policy.current.version);
  return {
    policy: {
      current() {
        const p = d.policy.current;
        const err = d.policy.lastError;
        return {
          name: p.name,
          version: p.version,
          file: d.policy.file,
          rules: p.ruleCount,
          loadedAt: d.policy.loadedAt,
          document: p.document,
          lastError: err ? { at: err.at, message: err.message } : null,
        };
      },
      validate: (text, name) => d.policy.validate(text, name),
      reload: async () => d.policy.reload(),
      evaluate: (input) => d.policy.current.evaluate(eventFromInput(input, 'request body')),
      explain: (input) => d.policy.current.explain(eventFromInput(input, 'request body')),
    },
    audit: {
      query: (filter: AuditFilter, before, limit) => queryLog(d.store.audit, filter, before, limit),
      // On every core where the log has a source (a store other threads can read).
      verify: () => verifyLogParallel(d.store.audit),
      export: (format: ExportFormat, filter: AuditFilter) =>
        exportRecords(iterateLog(d.store.audit, filter), format),
      recordAdmin,
      follow: (filter, afterSeq, signal) =>
        followLog(d.store.audit, filter, afterSeq, signal, d.followPollMs),
    },
    ...(d.retention ? { retention: d.retention } : {}),
    health: () => ({ live: true }),
    async readiness(): Promise<ReadyReport> {
      const storeOk = await d.store.ping().catch(() => false);
      const adapters: ReadyReport['adapters'] = {};
      let linksUp = true;
      for (const [name, s] of d.pipeline.linkStatus()) {
        adapters[name] = s;
        if (s.state !== 'up') linksUp = false;
      }
      return { ready: storeOk && linksUp, store: { ok: storeOk, kind: d.store.kind }, adapters };
    },
    metrics: d.metrics,
  };
}
