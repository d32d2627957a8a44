// Bounce rights (AdapterContext.bounce): only the adapter an event was delivered to may tell
// its sender that it did not arrive after all, and only once — any other bounce would put
// words of the gateway's choosing in front of a sender who never sent that event.
import type { Adapter } from './adapter.js';
import { tryParseAddress } from './address.js';
import type { AuditEntry } from './audit/record.js';
import type { CanonicalEvent } from './model.js';
import type { RoutingTable } from './routing.js';
import type { Store } from './store.js';

/** Who may bounce a delivered event: the adapter it went to; whom the bounce tells: its source. */
export interface BounceRight {
  target: Adapter;
  source: Adapter;
  /** The decision record, which a bounce's outcome record repeats. */
  decided: AuditEntry;
}

/**
 * How long the store remembers that an event was bounced (so that it is bounced once, in
 * every replica): longer than any queue may hold an event (the XMPP outbox waits at most
 * 7 days).
 */
const BOUNCED_TTL_MS = 8 * 24 * 3600_000;

export class BounceRights {
  /**
   * Bounce rights by the delivered event object (the `event` of an issued Delivery, which
   * only its target receives): weak, so that a delivery nobody bounces costs nothing later.
   */
  readonly #rights = new WeakMap<CanonicalEvent, BounceRight>();

  constructor(
    private readonly routes: RoutingTable,
    private readonly store: Store,
  ) {}

  /** `event` (the delivered object) goes to `right.target`, which may bounce it. */
  grant(event: CanonicalEvent, right: BounceRight): void {
    this.#rights.set(event, right);
  }

  /**
   * The adapter to tell of a bounce by `by`, or null when `by` may not bounce this (valid)
   * event. The Delivery's own event object (this process delivered it) names its target
   * exactly. A queued event comes back from the store as a new object, maybe in another
   * replica: then `by` must be the adapter its recipient's domain routes to, and the source
   * it names must be on the sender's network and not another adapter's domain — no adapter
   * can bounce an event addressed to another's users, or tell another adapter's senders.
   * (That `by` received this very event is not checked for a copy: remembering every queued
   * delivery in the store would cost a write per event on the busiest path, an XMPP
   * standby's.) Once only: the first bounce takes a mark in the store, in every replica.
   */
  async claim(
    by: Adapter,
    event: CanonicalEvent,
  ): Promise<{ source: Adapter; decided: AuditEntry | null } | null> {
    let source: Adapter | undefined;
    const right = this.#rights.get(event);
    if (right) {
      if (right.target !== by) return null;
      source = right.source;
    } else {
      const from = tryParseAddress(event.from);
      const to = tryParseAddress(event.to);
      if (!from || !to || this.routes.lookup(to.domain) !== by) return null;
      source = this.routes.byName(event.adapter);
      // The sender is on the source's network, and in a domain the source serves or one no
      // adapter serves (a user of another homeserver that federates with ours, say).
      const served = this.routes.lookup(from.domain);
      if (!source || source.network !== from.network || (served && served !== source)) return null;
    }
    if (source === by) return null;
    const first = await this.store.setIfAbsent(`bounced:${by.name}:${event.id}`, '1', BOUNCED_TTL_MS);
    if (!first) return null;
    this.#rights.delete(event);
    return { source, decided: right?.decided ?? null };
  }
}
