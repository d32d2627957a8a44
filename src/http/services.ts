// What the HTTP surfaces need from the gateway. The composition root (src/gateway.ts)
// implements it; tests may give a small fake. The HTTP layer never reaches further in.

import type { LinkStatus } from '../core/adapter.js';
import type { AuditRecord } from '../core/audit/record.js';
import type { AuditFilter, ExportFormat, VerifyResult } from '../core/audit/types.js';
import type { Decision } from '../core/policy/types.js';

export type { AuditFilter, ExportFormat, VerifyResult };

export interface AuditPage {
  records: AuditRecord[];
  /** Pass as `before` to get the next (older) page; null at the end. */
  next: number | null;
}

export interface PolicyInfo {
  name: string;
  version: string;
  file: string | null;
  rules: number;
  loadedAt: string;
  /** The policy document as parsed (for display). */
  document: unknown;
  /** The last reload that failed, if the running policy is older than the file. */
  lastError: { at: string; message: string } | null;
}

export interface PolicyProblem {
  file: string;
  line: number | null;
  column: number | null;
  path: string;
  message: string;
}

export interface ReadyReport {
  ready: boolean;
  store: { ok: boolean; kind: string };
  adapters: Record<string, LinkStatus & { network: string }>;
}

export interface AdminServices {
  policy: {
    current(): PolicyInfo;
    /** Check a policy text without loading it. */
    validate(
      text: string,
      name?: string,
    ): { ok: true; rules: number } | { ok: false; problems: PolicyProblem[] };
    /** Re-read the policy file; a bad file keeps the old policy. */
    reload(): Promise<{ ok: true; version: string } | { ok: false; problems: PolicyProblem[] }>;
    /** Decide one event (CLI event JSON) against the running policy; throws EventInputError on bad input. */
    evaluate(event: unknown): Decision;
  };
  audit: {
    query(filter: AuditFilter, before: number | null, limit: number): Promise<AuditPage>;
    verify(): Promise<VerifyResult>;
    /** Stream an export, chunk by chunk. */
    export(format: ExportFormat, filter: AuditFilter): AsyncIterable<string>;
    /** Record an administrative action (sign-in, export, reload...) in the trail. */
    recordAdmin(action: string, actor: string, details: Record<string, unknown>): Promise<void>;
  };
  health(): { live: true };
  readiness(): Promise<ReadyReport>;
  /** Prometheus text exposition. */
  metrics(): Promise<{ contentType: string; body: string }>;
}
