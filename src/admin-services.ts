// AdminServices for the HTTP surfaces, built from the gateway's parts.
import { randomUUID } from 'node:crypto';
import { exportRecords, iterateLog } from './core/audit/export.js';
import { queryLog } from './core/audit/query.js';
import type { AuditFilter, ExportFormat } from './core/audit/types.js';
import { verifyLog } from './core/audit/verify.js';
import type { AuditSink, Pipeline } from './core/pipeline.js';
import { eventFromInput } from './core/policy/index.js';
import type { Store } from './core/store.js';
import type { AdminServices, ReadyReport } from './http/services.js';
import type { PolicyRuntime } from './policy-runtime.js';

export interface AdminServicesDeps {
  policy: PolicyRuntime;
  store: Store;
  audit: AuditSink;
  pipeline: Pipeline;
  metrics: () => Promise<{ contentType: string; body: string }>;
}

export function createAdminServices(d: AdminServicesDeps): AdminServices {
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
    },
    audit: {
      query: (filter: AuditFilter, before, limit) => queryLog(d.store.audit, filter, before, limit),
      verify: () => verifyLog(d.store.audit),
      export: (format: ExportFormat, filter: AuditFilter) =>
        exportRecords(iterateLog(d.store.audit, filter), format),
      async recordAdmin(action, actor, details) {
        await d.audit.write({
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
          policyVersion: d.policy.current.version,
          content: { mode: 'none' },
          sourceAdapter: 'api',
          targetAdapter: null,
          actor,
          details,
        });
      },
    },
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
