// The pipeline reports what it does through this port; src/http/metrics.ts turns it into
// Prometheus metrics. The core stays free of metrics libraries.
import type { EventKind } from './model.js';

export interface DecisionObservation {
  kind: EventKind;
  /** allow | redact | deny, or the refusal code when the event never reached a decision. */
  outcome: string;
  sourceAdapter: string;
  targetAdapter: string | null;
  /** Time spent deciding (policy evaluation), in seconds. */
  decisionSeconds: number;
  /** Time from submit to delivery (or refusal), in seconds. */
  totalSeconds: number;
}

export interface PipelineObserver {
  decided(o: DecisionObservation): void;
  /** Records accepted by the audit writer but not yet durable. */
  auditLag(pending: number): void;
  /** Seconds an audit batch took to become durable. */
  auditFlushed(records: number, seconds: number): void;
  /** Events waiting in an adapter's outbound queue. */
  queued(adapter: string, depth: number): void;
}

export const nullObserver: PipelineObserver = {
  decided: () => {},
  auditLag: () => {},
  auditFlushed: () => {},
  queued: () => {},
};
