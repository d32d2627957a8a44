// The pipeline: the only way an event crosses the boundary.
//   adapter.submit -> validate -> route -> classify + decide (policy) -> obligations
//   -> capabilities -> audit the decision (durable first when failClosed)
//   -> deliver -> audit the outcome | refuse (the outcome in the decision record)
// Adapters never see each other; they receive Deliveries, which only this module issues.
import { randomUUID } from 'node:crypto';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type {
  Adapter,
  AdapterContext,
  Capabilities,
  Degradation,
  Delivery,
  DeliveryResult,
  LinkState,
  Refusal,
  RefusalCode,
  SubmitOutcome,
} from './adapter.js';
import { type Address, tryParseAddress } from './address.js';
import { auditContent } from './audit/content.js';
import type { AuditDecision, AuditEntry, AuditOutcome } from './audit/record.js';
import { isoTime } from './audit/time.js';
import { BounceRights } from './bounce.js';
import { noticeDegraded } from './degrade-notice.js';
import { REPLICA_ID } from './delivery/replica.js';
import { adapterServices } from './delivery/services.js';
import { type Fitted, rulesOf } from './kinds/index.js';
import { degradedSentences } from './kinds/message.js';
import type { Logger } from './logger.js';
import { type CanonicalEvent, CanonicalEvent as CanonicalEventSchema, type Network } from './model.js';
import { displayNameOf } from './network.js';
import { nullObserver, type PipelineObserver } from './observer.js';
import type { Classification, Decision } from './policy/types.js';
import { type BaseEntry, baseEntry, decidedCopy, NO_CONTENT, recordedTransforms } from './records.js';
import { RoutingTable } from './routing.js';
import type { Store } from './store.js';

/** What the pipeline needs of a policy (CompiledPolicy satisfies it). */
export interface DecidingPolicy {
  readonly version: string;
  evaluate(event: CanonicalEvent, now?: Date): Decision;
  classify(event: CanonicalEvent): Classification;
}

/** What the pipeline needs of the audit trail (AuditWriter satisfies it). */
export interface AuditSink {
  write(entry: AuditEntry): Promise<{ seq: number; hash: string }>;
  /** Write without waiting (failures logged by the sink); `write` is used when absent. */
  post?(entry: AuditEntry): void;
}

export interface PipelineOptions {
  /** The policy in force now (it may be reloaded between events). */
  policy: () => DecidingPolicy;
  audit: AuditSink;
  store: Store;
  logger: Logger;
  /** How much of the content the audit keeps. */
  auditContent?: 'full' | 'hash' | 'none';
  /** Deliver only after the audit record is durable (default: true). */
  failClosed?: boolean;
  observer?: PipelineObserver;
  /** How long a conversation counts as "started" for disclaimers. */
  disclaimerTtlMs?: number;
  /**
   * A sender is told that their events were degraded for a network once per sender,
   * target network and kind of degradation in this period (a notice per edit would be noise).
   */
  degradeNoticeTtlMs?: number;
  now?: () => Date;
  /** This replica's id in leases (default REPLICA_ID; tests run several replicas in one process). */
  replicaId?: string;
}

const checkEvent = TypeCompiler.Compile(CanonicalEventSchema);
/** The deliveries this pipeline issued; only these reach an adapter (`#deliver`). */
const issued = new WeakSet<Delivery>();

/** True only for deliveries this pipeline issued after a decision. */
export const isIssuedDelivery = (d: Delivery): boolean => issued.has(d);

export class Pipeline {
  readonly routes = new RoutingTable();
  readonly #opts: Required<Omit<PipelineOptions, 'observer' | 'now'>> & {
    observer: PipelineObserver;
    now: () => Date;
  };
  readonly #status = new Map<string, { state: LinkState; detail?: string; since: string }>();
  #inFlight = 0;
  #idle: (() => void)[] = [];
  #accepting = true;
  readonly #bounces: BounceRights;

  constructor(opts: PipelineOptions) {
    this.#opts = {
      auditContent: 'full',
      failClosed: true,
      disclaimerTtlMs: 24 * 3600_000,
      degradeNoticeTtlMs: 24 * 3600_000,
      replicaId: REPLICA_ID,
      observer: nullObserver,
      now: () => new Date(),
      ...opts,
    };
    this.#bounces = new BounceRights(this.routes, this.#opts.store);
  }

  /** Add an adapter to the routing table; returns the context it is started with. */
  register(adapter: Adapter): AdapterContext {
    this.routes.add(adapter);
    this.#status.set(adapter.name, { state: 'starting', since: this.#opts.now().toISOString() });
    const log = this.#opts.logger.child({ adapter: adapter.name });
    const ctx: AdapterContext = {
      ...adapterServices(this.#opts.store, adapter, this.#opts.replicaId, log, (...a) => ctx.bounce(...a)),
      submit: (event) => this.submit(adapter, event),
      reject: (event, reason) => this.submit(adapter, event, reason),
      logger: log,
      networkOf: (domain) => this.routes.lookup(domain)?.network ?? null,
      setStatus: (state, detail) => {
        const s: { state: LinkState; detail?: string; since: string } = {
          state,
          since: this.#opts.now().toISOString(),
        };
        if (detail) s.detail = detail;
        this.#status.set(adapter.name, s);
        log.info({ state, detail }, 'link status');
      },
      bounce: async (event, refusal, outcome = 'bounced') => {
        // Only the adapter the event was delivered to may bounce it, and only once: any
        // other bounce would put words of the gateway's choosing in front of a sender who
        // never sent that event (issue 15.9). Refused bounces are logged, never told.
        const valid = typeof event === 'object' && event !== null && checkEvent.Check(event);
        const right = valid ? await this.#bounces.claim(adapter, event) : null;
        if (!right) {
          log.warn(
            { eventId: event?.id, claimedSource: event?.adapter, code: refusal?.code },
            'bounce refused: the event was not delivered to this adapter, or was bounced already',
          );
          return false;
        }
        log.warn(
          { eventId: event.id, to: event.to, code: refusal.code },
          'queued event bounced to its sender',
        );
        const decided = right.decided ?? decidedCopy(event, adapter, this.#opts.policy());
        this.#outcome(decided, outcome, refusal.reason);
        await this.#refuse(right.source, event, refusal);
        return true;
      },
    };
    return ctx;
  }

  /** Stop taking new events (shutdown); events already in flight finish. */
  stopIntake(): void {
    this.#accepting = false;
  }

  /** Resolves when no event is in flight. */
  drain(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** `forged`: the adapter refuses the event (AdapterContext.reject) with this reason. */
  async submit(source: Adapter, event: CanonicalEvent, forged?: string): Promise<SubmitOutcome> {
    if (!this.#accepting) {
      return this.#fail(source, event, 'shutdown', 'The gateway is shutting down; try again shortly.');
    }
    this.#inFlight++;
    try {
      return await this.#process(source, event, forged);
    } catch (err) {
      // A bug or a broken adapter must not lose the event silently.
      this.#opts.logger.error({ err, eventId: event?.id }, 'pipeline error');
      return this.#fail(source, event, 'delivery', 'The gateway could not process this message.');
    } finally {
      if (--this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  async #process(source: Adapter, event: CanonicalEvent, forged?: string): Promise<SubmitOutcome> {
    const started = performance.now();
    const o = this.#opts;
    if (!checkEvent.Check(event)) {
      const first = checkEvent.Errors(event).First();
      const where = first ? `${first.path || '/'}: ${first.message}` : 'malformed';
      o.logger.warn({ adapter: source.name, where }, 'invalid event from adapter');
      return this.#fail(source, event, 'invalid', `Malformed event (${where}).`);
    }
    const problem = rulesOf(event.kind).problem?.(event) ?? null;
    if (problem) {
      o.logger.warn({ adapter: source.name, where: problem.path }, 'invalid event from adapter');
      return this.#fail(source, event, 'invalid', `Malformed event (${problem.path}: ${problem.message}).`);
    }
    if (event.adapter !== source.name) event = { ...event, adapter: source.name };
    const from = tryParseAddress(event.from);
    const to = tryParseAddress(event.to);
    if (!from || !to) {
      return this.#fail(source, event, 'invalid', `Malformed address ${from ? event.to : event.from}.`);
    }

    const policy = o.policy();
    const t0 = performance.now();
    let decision = policy.evaluate(event, o.now());
    // AdapterContext.reject: denied without a rule, and audited as every refusal is (0003).
    if (forged !== undefined) decision = { ...decision, decision: 'deny', rule: null, reason: forged };
    const decisionSeconds = (performance.now() - t0) / 1e3;
    const target = this.routes.lookup(to.domain);
    const c: Step = {
      source,
      target,
      event,
      started,
      decisionSeconds,
      decision,
      base: baseEntry(event, policy, from.network, to.network, source.name, target?.name ?? null),
    };

    if (decision.decision === 'deny') {
      return this.#deny(c, 'policy', 'denied', decision.rule, decision.reason ?? 'Denied by policy.', null);
    }
    if (!target) {
      const why = `No network here serves the domain ${to.domain}.`;
      return this.#deny(c, 'unroutable', 'unroutable', null, why, why);
    }
    if (target === source) {
      const why = `${to.domain} is served by the network the message came from.`;
      return this.#deny(c, 'unroutable', 'unroutable', null, why, why);
    }

    for (const rl of decision.rateLimits) {
      const count = await o.store.incrWindow(`rl:${rl.rule}:${event.from}`, rl.windowMs);
      if (count > rl.limit) {
        const per = `${rl.limit} per ${rl.windowMs / 1000} s`;
        return this.#deny(
          c,
          'rate-limit',
          'rate-limited',
          rl.rule,
          `Rate limit exceeded (${per}).`,
          `Rate limit of rule ${rl.rule} exceeded: ${per} per sender.`,
        );
      }
    }

    const fitted = fitToCapabilities(decision.event, target.capabilities);
    if (!fitted.ok) return this.#deny(c, 'unsupported', 'unsupported', null, fitted.reason, fitted.reason);
    let delivered = fitted.event;
    let disclaimed = false;
    const disclaim = rulesOf(delivered.kind).withDisclaimer;
    if (decision.obligations.disclaimer && disclaim !== undefined) {
      disclaimed = await o.store.setIfAbsent(`disclaimer:${event.from}|${event.to}`, '1', o.disclaimerTtlMs);
      if (disclaimed) delivered = disclaim(delivered, decision.obligations.disclaimer);
    }
    if (delivered !== decision.event) decision = { ...decision, event: delivered };

    const auditDecision: AuditDecision = decision.redacted ? 'redact' : 'allow';
    const entry = c.base as AuditEntry;
    entry.time = isoTime(o.now());
    entry.decision = auditDecision;
    entry.rule = decision.rule;
    entry.reason = decision.reason;
    const transforms = recordedTransforms(decision.transforms, disclaimed);
    if (transforms) entry.transforms = transforms;
    entry.content = auditContent(delivered, o.auditContent);
    // Written before the delivery (failClosed): what happened comes in an outcome record.
    entry.outcome = 'pending';
    // The record says what the recipient got and why it differs from what was sent.
    if (fitted.degraded) entry.details = { degraded: fitted.degraded };
    const record = o.audit.write(entry);
    let auditSeq = 0;
    if (o.failClosed) {
      try {
        auditSeq = (await record).seq;
      } catch (err) {
        o.logger.error({ err, eventId: event.id }, 'audit write failed; event not delivered (failClosed)');
        this.#observe(c, 'audit');
        await this.#refuse(source, event, {
          code: 'audit',
          rule: null,
          reason: 'The message could not be archived, so it was not delivered.',
        });
        return { status: 'failed', code: 'audit', reason: 'audit write failed' };
      }
    } else {
      record.catch((err: unknown) =>
        o.logger.error({ err, eventId: event.id }, 'audit write failed (failClosed off)'),
      );
    }

    const delivery: Delivery = Object.freeze({
      event: delivered,
      decision: auditDecision,
      rule: decision.rule,
      obligations: decision.obligations,
      auditSeq,
      ...(fitted.degraded ? { degraded: fitted.degraded } : {}),
    });
    this.#bounces.grant(delivered, { target, source, decided: entry });
    const result = await this.#deliver(target, delivery);
    if (!result.ok) {
      // The network's answer (a SIP 404, a homeserver's 403, no online XMPP resource) is a
      // refusal, and says so (`refused`); a link that failed or timed out is a failure.
      this.#outcome(entry, result.refused === true ? 'refused' : 'failed', result.reason);
      this.#observe(c, 'delivery');
      o.logger.warn({ eventId: event.id, target: target.name, reason: result.reason }, 'delivery failed');
      await this.#refuse(source, event, {
        code: 'delivery',
        rule: null,
        reason: `Could not deliver to ${to.domain}: ${result.reason}`,
      });
      return { status: 'failed', code: 'delivery', reason: result.reason };
    }
    if (result.notSent !== undefined) this.#outcome(entry, 'unsupported', result.notSent);
    else this.#outcome(entry, result.queued ? 'queued' : 'delivered', null);
    this.#observe(c, auditDecision);
    if (fitted.changes.length) this.#noticeLater(source, event, target.network, to, fitted.changes);
    const status = result.queued ? 'queued' : 'delivered';
    return { status, decision: auditDecision, rule: decision.rule, auditSeq };
  }

  /**
   * Issue a delivery and hand it to its target: the one call of Adapter.deliver in the
   * gateway, so every delivery an adapter receives was issued here, after its decision and
   * (with failClosed) its durable audit record — by construction; no adapter need check
   * (isIssuedDelivery). An adapter that throws has refused the delivery.
   */
  async #deliver(target: Adapter, delivery: Delivery): Promise<DeliveryResult> {
    issued.add(delivery);
    try {
      return await target.deliver(delivery);
    } catch (err) {
      return { ok: false, refused: true, reason: err instanceof Error ? err.message : String(err) };
    }
  }

  #observe(c: Step, outcome: string): void {
    this.#opts.observer.decided({
      kind: c.event.kind,
      outcome,
      sourceAdapter: c.source.name,
      targetAdapter: c.target?.name ?? null,
      decisionSeconds: c.decisionSeconds,
      totalSeconds: (performance.now() - c.started) / 1e3,
    });
  }

  /**
   * Write the outcome record of an event whose decision record (`decided`) was written
   * before its delivery: same event, its decision repeated, no content. Not awaited: the
   * delivery has happened (or failed) already, and the sender's answer must not wait for
   * the archive; a store failure is logged (the decision record says `pending`).
   */
  #outcome(decided: AuditEntry, outcome: AuditOutcome, outcomeReason: string | null): void {
    const o = this.#opts;
    const e: AuditEntry = {
      category: 'outcome',
      time: isoTime(o.now()),
      eventTime: decided.eventTime,
      traceId: decided.traceId,
      eventId: decided.eventId,
      kind: decided.kind,
      from: decided.from,
      to: decided.to,
      fromNetwork: decided.fromNetwork,
      toNetwork: decided.toNetwork,
      direction: decided.direction,
      decision: decided.decision,
      rule: decided.rule,
      reason: decided.reason,
      policyVersion: decided.policyVersion,
      content: NO_CONTENT,
      sourceAdapter: decided.sourceAdapter,
      targetAdapter: decided.targetAdapter,
      outcome,
      outcomeReason,
    };
    if (o.audit.post) o.audit.post(e);
    else
      o.audit
        .write(e)
        .catch((err: unknown) =>
          o.logger.error({ err, eventId: e.eventId, outcome }, 'audit write failed for an outcome record'),
        );
  }

  /**
   * Audit an event that does not cross — with the policy's decision and what happened
   * instead (`outcome`, `outcomeReason`) in one record — tell the sender, answer the submit.
   * `rule` and `reason` are what the sender is told.
   */
  async #deny(
    c: Step,
    code: RefusalCode,
    outcome: AuditOutcome,
    rule: string | null,
    reason: string,
    outcomeReason: string | null,
  ): Promise<SubmitOutcome> {
    const o = this.#opts;
    let auditSeq: number | null = null;
    const d = c.decision;
    const entry = c.base as AuditEntry;
    entry.time = isoTime(o.now());
    if (d.decision === 'deny') {
      entry.decision = 'deny';
      entry.rule = d.rule;
      entry.reason = reason;
      entry.content = auditContent(c.event, o.auditContent);
    } else {
      // The policy allowed it; something after the policy refused it. The content is kept
      // as the policy left it (redacted), never as sent.
      entry.decision = d.redacted ? 'redact' : 'allow';
      entry.rule = d.rule;
      entry.reason = d.reason;
      const transforms = recordedTransforms(d.transforms, false);
      if (transforms) entry.transforms = transforms;
      entry.content = auditContent(d.event, o.auditContent);
    }
    entry.outcome = outcome;
    entry.outcomeReason = outcomeReason;
    try {
      auditSeq = (await o.audit.write(entry)).seq;
    } catch (err) {
      // The event is refused anyway; the refusal still reaches the sender.
      o.logger.error({ err, eventId: c.event.id }, 'audit write failed for a refused event');
    }
    this.#observe(c, code === 'policy' ? 'deny' : code);
    await this.#refuse(c.source, c.event, { code, reason, rule });
    return { status: 'denied', rule, reason, auditSeq };
  }

  async #fail(
    source: Adapter,
    event: CanonicalEvent,
    code: RefusalCode,
    reason: string,
  ): Promise<SubmitOutcome> {
    await this.#refuse(source, event, { code, reason, rule: null });
    return { status: 'failed', code, reason };
  }

  /**
   * Tell the sender that their event was delivered degraded — in the background, so that an
   * in-band answer (a SIP 200) is not held up by it, and counted in flight so that drain()
   * waits for it. Not audited: the decision record already names the degradation.
   */
  #noticeLater(
    source: Adapter,
    event: CanonicalEvent,
    network: Network,
    to: Address,
    changes: readonly Degradation[],
  ): void {
    this.#inFlight++;
    const o = this.#opts;
    const text = (fresh: readonly Degradation[]) => degradedText(fresh, network, `${to.user}@${to.domain}`);
    noticeDegraded(o.store, o.degradeNoticeTtlMs, source, event, network, changes, text)
      .catch((err: unknown) =>
        this.#opts.logger.error(
          { err, adapter: source.name, eventId: event.id },
          'could not tell the sender of a degraded delivery',
        ),
      )
      .finally(() => {
        if (--this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
      });
  }

  async #refuse(source: Adapter, event: CanonicalEvent, refusal: Refusal): Promise<void> {
    try {
      await source.refuse(event, refusal);
    } catch (err) {
      this.#opts.logger.error(
        { err, adapter: source.name },
        'adapter failed to tell the sender of a refusal',
      );
    }
  }

  /** Link status by adapter (for /readyz). */
  linkStatus(): Map<string, { state: LinkState; detail?: string; since: string; network: Network }> {
    const out = new Map<string, { state: LinkState; detail?: string; since: string; network: Network }>();
    for (const a of this.routes.all()) {
      const s = this.#status.get(a.name) ?? { state: 'starting' as const, since: '' };
      out.set(a.name, { ...s, network: a.network });
    }
    return out;
  }
}

/** One event's way through the pipeline (one object instead of a closure per step). */
interface Step {
  source: Adapter;
  target: Adapter | undefined;
  event: CanonicalEvent;
  started: number;
  decisionSeconds: number;
  /** The policy's decision. */
  decision: Decision;
  /** The audit entry without its decision fields, completed once the outcome is known. */
  base: BaseEntry;
}

/** What a sender is told about a degraded delivery, one sentence per degradation. */
export function degradedText(changes: readonly Degradation[], network: Network, recipient: string): string {
  const net = displayNameOf(network);
  const sentence = degradedSentences(recipient, net);
  return changes.map((d) => sentence[d]).join(' ');
}

/**
 * Fit an event to what the target network can carry: refused when the network does not
 * carry its kind; otherwise as its kind says (kinds/<kind>.ts): carried, degraded visibly
 * (an edit becomes a marked new message, HTML falls back to text, attachments become
 * links), or refused with a reason.
 */
export function fitToCapabilities(event: CanonicalEvent, caps: Capabilities): Fitted {
  if (!caps.kinds.has(event.kind)) {
    return { ok: false, reason: `The recipient's network cannot carry ${event.kind} events.` };
  }
  return rulesOf(event.kind).fit(event, caps);
}

/** A fresh trace id (adapters use it when the network gives none). */
export const newTraceId = (): string => randomUUID();
