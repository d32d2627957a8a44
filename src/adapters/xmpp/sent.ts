// What the adapter remembers of recent traffic, in this process: where each received event
// came from (so that a refusal reaches the sender's resource), and what was sent to local
// users (so that a server's error, or a client's answer to a call signal, finds the event
// it is about and bounces it). Bounded; the oldest tenth is evicted at once.
import type { Element } from '@xmpp/xml';
import type { CanonicalEvent } from '../../core/model.js';

/** How many sent message ids (and sender JIDs) are remembered. */
export const SENT_MEMORY = 10_000;

export class SentMemory {
  /** The stanza each submitted event came from (for error replies to the full JID). */
  readonly #origin = new WeakMap<CanonicalEvent, Element>();
  /**
   * The full JID each recent message came from, by event id: a refusal that arrives later
   * as another object (from a queue, or from a standby replica) still reaches the sender's
   * resource (the server drops error messages to a bare JID).
   */
  readonly #senders = new Map<string, string>();
  /** Messages and call signals sent to local users, by `<user bare JID> <id>`. */
  readonly #sent = new Map<string, CanonicalEvent>();

  /** `event` was read from `el`. */
  received(event: CanonicalEvent, el: Element): void {
    this.#origin.set(event, el);
    if (event.kind === 'message' && el.attrs.from) {
      this.#senders.set(event.id, el.attrs.from);
      evict(this.#senders);
    }
  }

  /** The stanza `event` was read from, if this process read it. */
  originOf(event: CanonicalEvent): Element | undefined {
    return this.#origin.get(event);
  }

  /** The full JID a message came from, as remembered. */
  senderOf(event: CanonicalEvent): string | undefined {
    return this.#origin.get(event)?.attrs.from ?? this.#senders.get(event.id);
  }

  /** Keep what was sent (by recipient and id) so that errors and answers find their event. */
  remember(event: CanonicalEvent, stanza: Element): void {
    if (event.kind !== 'message' && event.kind !== 'call') return;
    // The stanza's `to` is the recipient's JID as written: its bare part is the key.
    const to = stanza.attrs.to as string | undefined;
    if (!to) return;
    const slash = to.indexOf('/');
    this.#sent.set(`${slash < 0 ? to : to.slice(0, slash)} ${event.id}`, event);
    evict(this.#sent);
  }

  /** The event sent to `userBare` as stanza `id`, forgotten as it is returned. */
  take(userBare: string, id: string): CanonicalEvent | undefined {
    const key = `${userBare} ${id}`;
    const event = this.#sent.get(key);
    if (event) this.#sent.delete(key);
    return event;
  }
}

/**
 * Evict the oldest tenth at once: asking a Map for its first key after single deletes walks
 * the deleted slots every time (V8 compacts only on rehash), which showed in bench:xmpp.
 */
function evict(map: Map<string, unknown>): void {
  if (map.size <= SENT_MEMORY) return;
  let n = SENT_MEMORY / 10;
  for (const key of map.keys()) {
    map.delete(key);
    if (--n <= 0) break;
  }
}
