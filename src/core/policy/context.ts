// What a compiled rule's clauses look at: the two parties of an event as the policy sees
// them, the event, the direction and the decision time; and how a clause is settled for a
// whole bucket (event kind, sender zone, recipient zone) at compile time.
import { type CanonicalEvent, EVENT_KINDS, type EventKind } from '../model.js';
import type { DIRECTIONS } from './schema.js';

/** One end of an event as the policy sees it (cached per address string). */
export interface Party {
  uri: string;
  valid: boolean;
  error: string | null;
  network: string;
  /** Lower-cased user part. */
  user: string;
  /** Host without port, lower case. */
  host: string;
  bare: string;
  canon: string;
  /** Zone index, -1 when no zone matches. */
  zone: number;
  /** Membership per segment index. */
  segs: Uint8Array;
  /** Domain index keys: the host, then `*.` + each proper suffix. */
  domainKeys: string[];
}

/** Event kinds by their index in the compiled policy (EvalContext.kind). */
export const KIND_INDEX: Record<string, number> = Object.fromEntries(EVENT_KINDS.map((k, i) => [k, i]));
export const kindIndex = (k: EventKind): number => KIND_INDEX[k] ?? -1;

export interface EvalContext {
  event: CanonicalEvent;
  /** The event's kind index (kindIndex). */
  kind: number;
  from: Party;
  to: Party;
  direction: Direction;
  /** The decision time when given; otherwise the event's own time is used. */
  now: Date | undefined;
  /** Milliseconds since the epoch of the decision time; NaN until a time clause needs it. */
  nowMs: number;
}

/** The decision time of `ctx` (computed once, only when a rule looks at the clock). */
export function nowOf(ctx: EvalContext): number {
  if (Number.isNaN(ctx.nowMs)) {
    const t = ctx.now ? ctx.now.getTime() : Date.parse(ctx.event.time);
    ctx.nowMs = Number.isNaN(t) ? Date.now() : t;
  }
  return ctx.nowMs;
}

export type Direction = (typeof DIRECTIONS)[number];

/** Tri-state for compile-time bucketing: 0 never, 1 maybe (check per event), 2 always. */
export type Tri = 0 | 1 | 2;

/** Both hold: the lesser. */
export const and = (a: Tri, b: Tri): Tri => (a < b ? a : b);
/** Either holds: the greater. */
export const or = (a: Tri, b: Tri): Tri => (a > b ? a : b);

export interface Clause {
  name: string;
  test(ctx: EvalContext): boolean;
  /** Plain words for `explain`, given whether the clause held. */
  explain(ctx: EvalContext, held: boolean): string;
  /** What the clause is for an event of this kind between these zones (before looking closer). */
  tri(kind: number, fromZone: number, toZone: number, direction: Direction): Tri;
}
