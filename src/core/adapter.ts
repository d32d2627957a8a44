// The adapter contract: the core's port toward networks. An adapter translates between its
// network and canonical events. It hands what it receives to the pipeline (`submit`) and
// delivers only what the pipeline gives it (`deliver`) — never to another adapter.
import type { AdapterServices } from './delivery/services.js';
import type { Logger } from './logger.js';
import type { CallAction, CanonicalEvent, EventKind, Network } from './model.js';
import type { PolicyObligations } from './policy/types.js';

/** What a network can carry; the core degrades or refuses what it cannot (docs/architecture.md). */
export interface Capabilities {
  kinds: ReadonlySet<EventKind>;
  /** Message corrections (XEP-0308, m.replace). Without: an edit becomes a new message marked as a correction. */
  edits: boolean;
  /** Rich text; without it the plain body is sent. */
  html: boolean;
  /** Attachment descriptors (links); without it the links are appended to the body. */
  attachments: boolean;
  /** Which call actions it can signal. */
  callActions: ReadonlySet<CallAction>;
  /** Largest message body it carries, in characters. */
  maxBodyLength: number;
}

export type LinkState = 'starting' | 'up' | 'down' | 'stopped';

export interface LinkStatus {
  state: LinkState;
  /** Why it is down, for /readyz. */
  detail?: string;
  since: string;
}

/** The pipeline's answer to a submitted event. */
export type SubmitOutcome =
  | { status: 'delivered'; decision: 'allow' | 'redact'; rule: string | null; auditSeq: number }
  | { status: 'queued'; decision: 'allow' | 'redact'; rule: string | null; auditSeq: number }
  | { status: 'denied'; rule: string | null; reason: string; auditSeq: number | null }
  | { status: 'failed'; reason: string; code: RefusalCode };

export type RefusalCode =
  | 'policy' // the policy denied it
  | 'rate-limit' // a rateLimit obligation was exceeded
  | 'unroutable' // no adapter serves the recipient's domain
  | 'unsupported' // the target network cannot carry this kind
  | 'audit' // failClosed and the audit record could not be written
  | 'delivery' // the target link failed or timed out
  | 'invalid' // the event was malformed
  | 'shutdown'; // the gateway is stopping

/** Told to the sender's adapter so that it answers in its network's terms. */
export interface Refusal {
  code: RefusalCode;
  /** Human-readable, safe to show the sender (e.g. the rule's reason). */
  reason: string;
  rule: string | null;
}

/** What the core changed so that the target network could carry an event. */
export type Degradation = 'edit' | 'html' | 'attachments';

/**
 * Told to the sender's adapter when their event was delivered, but not as sent (the core
 * degrades visibly: docs/decisions/0005-degrade-notice.md). The pipeline decides when and
 * writes the text; the adapter renders it.
 */
export interface Notice {
  code: 'degraded';
  /** What was changed; the pipeline tells a sender once per degradation and period. */
  degradations: readonly Degradation[];
  /** Human-readable, safe to show the sender. */
  text: string;
}

/**
 * A delivery is issued only by the pipeline after a policy decision and (with failClosed)
 * a durable audit record. Adapters receive nothing else.
 */
export interface Delivery {
  /** The event as it is to be delivered (after redaction, disclaimers, presence: basic). */
  readonly event: CanonicalEvent;
  readonly decision: 'allow' | 'redact';
  readonly rule: string | null;
  readonly obligations: PolicyObligations;
  readonly auditSeq: number;
  /** Set when the target cannot carry the event as is and the core degraded it. */
  readonly degraded?: string;
}

/**
 * `queued`: the link is down and the event waits in the adapter's bounded store queue.
 * A failure is audited as `refused` when the target network (or the adapter on its behalf)
 * declined the event — `reason` is its answer, e.g. `480 Temporarily Unavailable` — and as
 * `failed` when the link failed or timed out. `refused: true` says it was refused; without
 * it the failure is audited `failed`.
 */
export type DeliveryResult =
  | {
      ok: true;
      queued?: boolean;
      /**
       * The adapter took the event and, by design, sent nothing — why (e.g. a receipt the
       * SIP user did not ask for, RFC 5438 §7). Audited as `unsupported`; the sender is
       * not told.
       */
      notSent?: string;
    }
  | {
      ok: false;
      reason: string;
      refused?: boolean;
    };

/**
 * A wrong adapter config block: `path` names the key below the adapter's block, so the
 * gateway can point at the file's line. Adapters throw it (or a subclass of their own).
 */
export class AdapterConfigError extends Error {
  override name = 'AdapterConfigError';
  constructor(
    readonly path: (string | number)[],
    message: string,
  ) {
    super(message);
  }
}

/** A schema error's JSON pointer (`/listen/0`) as a key path (`['listen', 0]`). */
export const pointerToPath = (pointer: string): (string | number)[] =>
  pointer
    .split('/')
    .filter(Boolean)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));

/**
 * What the gateway gives an adapter when it starts. With it come the core's delivery
 * services (src/core/delivery/services.ts): `replicaId`, `state` (the adapter's own keys),
 * `ids` (canonical ↔ network ids), `queue(name, opts)` and `lease(name, opts)`.
 */
export interface AdapterContext extends AdapterServices {
  /** Hand an event received from the network to the pipeline. */
  submit(event: CanonicalEvent): Promise<SubmitOutcome>;
  /**
   * Refuse an event because its network asserted an identity this link may not speak for
   * (a forged sender): the pipeline denies it without a rule, with `reason`, and audits
   * it like every refusal; it is never routed or delivered.
   */
  reject(event: CanonicalEvent, reason: string): Promise<SubmitOutcome>;
  logger: Logger;
  /** Domains served by every adapter, for building ghost addresses: domain -> network. */
  networkOf(domain: string): Network | null;
  /** Report a change of the link (up/down) for /readyz. */
  setStatus(status: LinkState, detail?: string): void;
  /**
   * Tell the sender of an event this adapter accepted earlier (its delivery answered
   * `queued`, or the network refused it after it was sent) that it could not be delivered
   * after all (e.g. the link stayed down too long): the pipeline hands the refusal to the
   * adapter the event came from. `event` is the `event` of the Delivery this adapter was
   * issued, or — for a queued delivery — its copy read back from the store. Only the
   * adapter an event was delivered to (for a copy: the adapter its recipient's domain
   * routes to) may bounce it, and only once: otherwise the bounce is refused (logged;
   * nothing is sent) and this resolves false. An allowed bounce is an `outcome` audit
   * record of the event: `bounced` (the network refused it after it was sent; the default),
   * `expired` (it waited in a queue too long) or `failed` (it could not be sent at all).
   */
  bounce(event: CanonicalEvent, refusal: Refusal, outcome?: BounceOutcome): Promise<boolean>;
}

/** What a bounce records as the event's outcome (see AdapterContext.bounce). */
export type BounceOutcome = 'bounced' | 'expired' | 'failed';

export interface Adapter {
  /** The link's name from the config (e.g. `corp`). */
  readonly name: string;
  readonly network: Network;
  /** Domains whose users live behind this adapter. */
  readonly domains: readonly string[];
  readonly capabilities: Capabilities;
  start(ctx: AdapterContext): Promise<void>;
  /** Deliver an event the pipeline has decided on; only the pipeline calls it. */
  deliver(delivery: Delivery): Promise<DeliveryResult>;
  /**
   * Tell the sender (on this adapter's network) that their event was refused. The pipeline
   * calls it for every refusal; an adapter that answers in-band (a SIP response) may answer
   * from the SubmitOutcome instead and treat this call as a no-op for that event.
   */
  refuse(event: CanonicalEvent, refusal: Refusal): Promise<void>;
  /**
   * Tell the sender (on this adapter's network) that their event was delivered degraded,
   * in the network's idiom (a message or notice from the recipient's ghost). Only the
   * pipeline calls it, after the delivery; it is not an event and is not audited.
   */
  notice(event: CanonicalEvent, notice: Notice): Promise<void>;
  /** Stop intake, finish in-flight work, close the link. */
  stop(): Promise<void>;
}
