// Prometheus metrics: the pipeline reports through the PipelineObserver port and this
// class turns the reports into prom-client metrics in a registry of its own (never the
// global one, so that several gateways or tests in one process do not collide).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DecisionObservation, PipelineObserver } from '../core/observer.js';

/** Policy decisions take microseconds; the buckets span 1 µs .. 10 ms. */
export const DECISION_BUCKETS = [
  1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2,
] as const;
/** Submit to delivery includes the audit write and the target network: 100 µs .. 10 s. */
export const PIPELINE_BUCKETS = [
  1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;
/** An audit batch becoming durable (memory store: µs; Redis: ms). */
export const AUDIT_FLUSH_BUCKETS = [
  1e-5, 1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.5, 1, 5,
] as const;

export interface PrometheusMetricsOptions {
  /** Collect prom-client's default process metrics (CPU, memory, event loop, GC). Default true. */
  defaultMetrics?: boolean;
  /** Constant labels added to every metric (e.g. `{ replica: 'parley-0' }`). */
  labels?: Record<string, string>;
}

export class PrometheusMetrics implements PipelineObserver {
  readonly registry: Registry;
  private readonly events: Counter<'kind' | 'outcome' | 'source' | 'target'>;
  private readonly decisionSeconds: Histogram<'kind'>;
  private readonly pipelineSeconds: Histogram<'kind' | 'outcome'>;
  private readonly auditLagGauge: Gauge;
  private readonly auditFlushSeconds: Histogram;
  private readonly auditFlushedRecords: Counter;
  private readonly queueDepth: Gauge<'adapter'>;
  private readonly linkUp: Gauge<'adapter' | 'network'>;

  constructor(opts: PrometheusMetricsOptions = {}) {
    this.registry = new Registry();
    if (opts.labels) this.registry.setDefaultLabels(opts.labels);
    const registers = [this.registry];
    this.events = new Counter({
      name: 'parley_events_total',
      help: 'Events that reached the policy (or were refused before it), by kind, outcome (allow, redact, deny or the refusal code), source and target adapter.',
      labelNames: ['kind', 'outcome', 'source', 'target'],
      registers,
    });
    this.decisionSeconds = new Histogram({
      name: 'parley_decision_seconds',
      help: 'Time spent evaluating the policy for one event, in seconds.',
      labelNames: ['kind'],
      buckets: [...DECISION_BUCKETS],
      registers,
    });
    this.pipelineSeconds = new Histogram({
      name: 'parley_pipeline_seconds',
      help: 'Time from submit to delivery (or refusal) of one event, in seconds.',
      labelNames: ['kind', 'outcome'],
      buckets: [...PIPELINE_BUCKETS],
      registers,
    });
    this.auditLagGauge = new Gauge({
      name: 'parley_audit_lag',
      help: 'Audit records accepted by the writer but not yet durable.',
      registers,
    });
    this.auditFlushSeconds = new Histogram({
      name: 'parley_audit_flush_seconds',
      help: 'Time an audit batch took to become durable, in seconds.',
      buckets: [...AUDIT_FLUSH_BUCKETS],
      registers,
    });
    this.auditFlushedRecords = new Counter({
      name: 'parley_audit_records_flushed_total',
      help: 'Audit records made durable.',
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'parley_queue_depth',
      help: "Events waiting in an adapter's outbound queue.",
      labelNames: ['adapter'],
      registers,
    });
    this.linkUp = new Gauge({
      name: 'parley_link_up',
      help: "1 when an adapter's link to its network is up, 0 otherwise.",
      labelNames: ['adapter', 'network'],
      registers,
    });
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  decided(o: DecisionObservation): void {
    this.events.inc({
      kind: o.kind,
      outcome: o.outcome,
      source: o.sourceAdapter,
      target: o.targetAdapter ?? 'none',
    });
    // An event refused before the policy (unroutable, invalid...) reports 0: no decision to time.
    if (Number.isFinite(o.decisionSeconds) && o.decisionSeconds > 0) {
      this.decisionSeconds.observe({ kind: o.kind }, o.decisionSeconds);
    }
    if (Number.isFinite(o.totalSeconds) && o.totalSeconds >= 0) {
      this.pipelineSeconds.observe({ kind: o.kind, outcome: o.outcome }, o.totalSeconds);
    }
  }

  auditLag(pending: number): void {
    this.auditLagGauge.set(pending);
  }

  auditFlushed(records: number, seconds: number): void {
    this.auditFlushedRecords.inc(Math.max(0, records));
    if (Number.isFinite(seconds) && seconds >= 0) this.auditFlushSeconds.observe(seconds);
  }

  queued(adapter: string, depth: number): void {
    this.queueDepth.set({ adapter }, depth);
  }

  /** Report a link going up or down (the gateway calls it from the adapters' setStatus). */
  linkStatus(adapter: string, network: string, up: boolean): void {
    this.linkUp.set({ adapter, network }, up ? 1 : 0);
  }

  /** The Prometheus text exposition of every metric in this registry. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
