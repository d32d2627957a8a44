// What the core does with one kind of event beyond its schema: one module per kind
// (kinds/<kind>.ts), gathered in a table keyed by every kind (kinds/index.ts), so that a
// new kind does not compile until its module says how it is checked, fitted and audited.
import type { TSchema } from '@sinclair/typebox';
import type { Capabilities, Degradation } from '../adapter.js';
import type { CanonicalEvent, EventKind, EventOf } from '../model.js';

/** An event fitted to a target: carried (maybe degraded, saying how), or refused with a reason. */
export type Fitted<E extends CanonicalEvent = CanonicalEvent> =
  | { ok: true; event: E; degraded?: string; changes: readonly Degradation[] }
  | { ok: false; reason: string };

/** A problem the schema cannot express, at a JSON pointer into the event. */
export interface KindProblem {
  path: string;
  message: string;
}

/** How a redaction rewrites text (a compiled `content.pattern`). */
export interface TextRewrite {
  replaceAll(text: string, replacement: string): string;
}

/**
 * One kind's rules. The optional ones are absent for kinds they do not apply to (only
 * messages carry a disclaimer or text to redact; only presence has levels).
 */
export interface KindRules<K extends EventKind> {
  /** The kind's schema (model.ts). */
  readonly schema: TSchema;
  /** Fields a typed-in event (CLI, admin API) gets when it leaves them out. */
  inputDefaults(): Record<string, unknown>;
  /** The first problem the schema cannot check, or null. */
  problem?(event: EventOf<K>): KindProblem | null;
  /**
   * Fit the event to a target that carries its kind: as is, degraded visibly (saying how),
   * or refused with a reason.
   */
  fit(event: EventOf<K>, caps: Capabilities): Fitted<EventOf<K>>;
  /** The event with a policy disclaimer appended. */
  withDisclaimer?(event: EventOf<K>, text: string): EventOf<K>;
  /** The event with every match of `pattern` replaced; the event itself when nothing matched. */
  redact?(event: EventOf<K>, pattern: TextRewrite, replacement: string): EventOf<K>;
  /** The event as a presence level lets it through (docs/policy.md, "Presence levels"). */
  reducePresence?(event: EventOf<K>, level: 'basic' | 'coarse'): EventOf<K>;
  /** The text the audit keeps (`full`) or hashes (`hash`) of the event's content. */
  auditText(event: EventOf<K>): string;
}

const NO_CHANGES: readonly Degradation[] = Object.freeze([]);

/** Carried as is: what a target that carries the kind does with most kinds. */
export const asIs = <E extends CanonicalEvent>(event: E): Fitted<E> => ({
  ok: true,
  event,
  changes: NO_CHANGES,
});
