// Decision types shared by the policy engine, the pipeline and the adapters.
import type { CanonicalEvent } from '../model.js';

/** How much presence a rule lets through (`obligations.presence`). */
export type PresenceLevel = 'basic' | 'coarse' | 'full';

export interface PolicyObligations {
  /** Text added to the first message of a conversation. */
  disclaimer?: string;
  /**
   * How much presence is shared (docs/policy.md, "Presence levels"): the strictest level of
   * the matching rules. `basic`: online/offline only; `coarse`: online/away/dnd/offline;
   * `full`: everything. Neither `basic` nor `coarse` carries status text, activity or idle time.
   */
  presence?: PresenceLevel;
  /** "N/min" per sender. */
  rateLimit?: string;
}

/**
 * Which rule did what to the event, and why (the rule's reason, else its description).
 * `disclaimer`: the rule's disclaimer is due on this message; the pipeline adds it to the
 * first message of a conversation only (and records the transform only then).
 */
export interface AppliedTransform {
  rule: string;
  effect: 'redact' | 'presence-basic' | 'presence-coarse' | 'disclaimer';
  reason: string | null;
}

export interface Decision {
  decision: 'allow' | 'deny';
  /** The deciding rule (the first matching deny, else the first matching allow or redact; null for the default). */
  rule: string | null;
  reason: string | null;
  /** Merged obligations of every matching allow/redact rule. */
  obligations: PolicyObligations;
  /** Rate limits of each matching rule, for the pipeline to enforce in the store. */
  rateLimits: { rule: string; limit: number; windowMs: number }[];
  /** True when a redact rule changed the body. */
  redacted: boolean;
  transforms: AppliedTransform[];
  /** The event as it would be delivered (redacted, presence reduced; disclaimer not yet added). */
  event: CanonicalEvent;
}

/** Where a party sits, as the policy sees it. */
export interface Classification {
  fromZone: string | null;
  toZone: string | null;
  /** inbound: into the enterprise zone; outbound: out of it; internal: both inside; external: neither. */
  direction: 'inbound' | 'outbound' | 'internal' | 'external';
}

/** Why one rule did or did not match an event (`parley policy explain`). */
export interface RuleExplanation {
  id: string;
  effect: 'allow' | 'deny' | 'redact';
  matched: boolean;
  /** Each clause of the rule's match, in plain words, with whether it held. */
  because: string[];
}

/** Every rule's verdict on one event, in file order, and the final decision. */
export interface Explanation {
  classification: Classification;
  rules: RuleExplanation[];
  decision: Decision;
}
