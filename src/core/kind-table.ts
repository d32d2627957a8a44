// An adapter's outbound handling, one entry per event kind: a handler, or an explicit
// 'unsupported'. The mapped type makes the compiler fail until a new kind is handled or
// declined, and the capabilities' `kinds` derive from the table, so they cannot drift.
import type { Delivery, DeliveryResult } from './adapter.js';
import type { CanonicalEvent, EventKind } from './model.js';

/** The event of one kind. */
export type EventOf<K extends EventKind> = Extract<CanonicalEvent, { kind: K }>;

/** A delivery whose event is of kind K. */
export type DeliveryOf<K extends EventKind> = Delivery & { readonly event: EventOf<K> };

export type KindHandler<K extends EventKind> = (delivery: DeliveryOf<K>) => Promise<DeliveryResult>;

/** Every kind, handled or declined. */
export type KindTable = { readonly [K in EventKind]: KindHandler<K> | 'unsupported' };

/** The kinds a table handles: what the adapter declares in `capabilities.kinds`. */
export function kindsOf(table: KindTable): ReadonlySet<EventKind> {
  const kinds = new Set<EventKind>();
  for (const kind of Object.keys(table) as EventKind[]) if (table[kind] !== 'unsupported') kinds.add(kind);
  return kinds;
}

/**
 * Hand a delivery to its kind's handler. A declined kind answers as a refusal; the pipeline
 * never issues one (it checks `capabilities.kinds` first), so this is the table's own guard.
 */
export function dispatchKind(table: KindTable, delivery: Delivery): Promise<DeliveryResult> {
  const handler = table[delivery.event.kind] as KindHandler<EventKind> | 'unsupported';
  if (handler === 'unsupported') {
    return Promise.resolve({
      ok: false,
      refused: true,
      reason: `cannot carry ${delivery.event.kind} events`,
    });
  }
  return handler(delivery as DeliveryOf<EventKind>);
}
