// What the pipeline delivers to XMPP, by event kind (a KindTable), and how: sent at once
// while the link is up here and nothing waits; otherwise queued in the core delivery queue
// (`xmpp:<name>:outbox`), which the replica holding the link drains in order. Chat states
// are not queued (stale typing is noise) and call signalling is sent now or not at all (a
// caller would ring into nothing). A standby (another replica holds the link) queues
// everything, and also the refusals and degradation notices for XMPP senders, since only
// the holder can send.
import { randomUUID } from 'node:crypto';
import { type Element, xml } from '@xmpp/xml';
import type { BounceOutcome, DeliveryResult, Notice, Refusal } from '../../core/adapter.js';
import type { DeliveryQueue, QueuedItem } from '../../core/delivery/queue.js';
import type { KindTable } from '../../core/kind-table.js';
import type { CanonicalEvent } from '../../core/model.js';
import type { XmppCalls } from './calls.js';
import { bareJid } from './jid.js';
import type { XmppPresence } from './presence.js';
import type { XmppRuntime } from './runtime.js';
import {
  addressesOut,
  type Outbound,
  refusalError,
  refusalMessage,
  writeMessage,
  xmlSafe,
} from './stanza.js';

/** How an event kind goes out: queued while it cannot be sent, dropped, or now or never. */
type Mode = 'queue' | 'transient' | 'now';

/**
 * The outbound table. `out` is resolved per delivery (the adapter's running instance); the
 * module-level capabilities derive their kinds from a table whose handlers are never called.
 */
export function outboundTable(out: () => XmppOutbound): KindTable {
  return {
    message: (d) => out().deliver(d.event, 'queue'),
    presence: (d) => out().deliver(d.event, 'queue'),
    chatstate: (d) => out().deliver(d.event, 'transient'),
    receipt: (d) => out().deliver(d.event, 'queue'),
    call: (d) => out().deliver(d.event, 'now'),
  };
}

/** Besides events: a refusal or a notice a standby queued for the holder to tell the sender. */
export interface OutboxExtra {
  refusal?: Refusal;
  notice?: Notice;
}

/** The link as the outbound side sees it. */
export interface LinkView {
  /** The link is up in this replica. */
  up(): boolean;
  /** Another replica holds the link and it is up there: deliveries go through the queue. */
  standingBy(): boolean;
  stopping(): boolean;
}

/** How often the link's holder looks for events other replicas queued for it. */
const OUTBOX_POLL_MS = 100;

export class XmppOutbound {
  readonly #rt: XmppRuntime;
  readonly #presence: XmppPresence;
  readonly #calls: XmppCalls;
  readonly #link: LinkView;
  readonly queue: DeliveryQueue<OutboxExtra>;

  constructor(
    rt: XmppRuntime,
    parts: { presence: XmppPresence; calls: XmppCalls; link: LinkView; consumer: () => boolean },
  ) {
    this.#rt = rt;
    this.#presence = parts.presence;
    this.#calls = parts.calls;
    this.#link = parts.link;
    this.queue = rt.ctx.queue<OutboxExtra>('outbox', {
      maxLength: rt.cfg.queue.maxLength,
      maxAgeMs: rt.cfg.queue.timeoutMs,
      send: (item) => this.#sendQueued(item),
      expired: (item) => this.#bounce(item, 'delivery', this.#expiredReason(), 'expired'),
      // Only the link's holder consumes the shared outbox, and only while its link is up.
      consumer: parts.consumer,
      ready: () => parts.link.up(),
      backoff: { initialMs: rt.cfg.reconnect.initialDelayMs, maxMs: rt.cfg.reconnect.maxDelayMs },
      pollMs: OUTBOX_POLL_MS,
      // A standby's count of what waits (the queue depth metric) is as fresh as its lease view.
      syncMs: rt.cfg.lease.renewMs,
    });
  }

  async deliver(event: CanonicalEvent, mode: Mode): Promise<DeliveryResult> {
    const link = this.#link;
    if (link.standingBy()) return this.#queueForHolder(event);
    const built = await this.build(event);
    if (!built.ok) return { ok: false, refused: true, reason: built.reason };
    if (link.stopping()) return { ok: false, reason: 'the XMPP link is stopping' };
    if (mode === 'now') {
      if (await this.#sendEvent(event, built.stanza)) return { ok: true };
      return { ok: false, reason: 'the XMPP link is down' };
    }
    const queue = this.queue;
    // Sent directly only when that overtakes nothing queued.
    if (link.up() && queue.idle && (await this.#sendEvent(event, built.stanza))) return { ok: true };
    if (mode === 'transient') return { ok: false, reason: 'the XMPP link is down' };
    if (await queue.push(event)) {
      this.#rt.log.debug({ eventId: event.id, queued: queue.size }, 'xmpp link down: event queued');
      // The link may have come back meanwhile (or a drain just finished): send it now.
      if (link.up()) void queue.drain();
      return { ok: true, queued: true };
    }
    return {
      ok: false,
      reason: `the XMPP link is down and ${this.#rt.cfg.queue.maxLength} events already wait for it`,
    };
  }

  async refuse(event: CanonicalEvent, refusal: Refusal): Promise<void> {
    const rt = this.#rt;
    // A standby cannot send: the replica holding the link tells the sender.
    if ((event.kind === 'message' || event.kind === 'call') && this.#link.standingBy()) {
      if (!(await this.queue.push(event, { refusal }))) {
        rt.log.warn({ eventId: event.id }, 'could not tell the XMPP sender of a refusal: outbox full');
      }
      return;
    }
    // Only messages get an error back: refused presence is not leaked, and errors for chat
    // states or receipts would be noise.
    if (event.kind === 'call') return this.#calls.refuse(event, refusal);
    if (event.kind !== 'message') {
      rt.log.debug({ eventId: event.id, kind: event.kind, code: refusal.code }, 'refused (no reply)');
      return;
    }
    const el = refusalMessage(
      event,
      refusalError(refusal.code, refusal.reason),
      rt.cfg.component,
      rt.sent.senderOf(event),
    );
    if (!el) return;
    if (!(await rt.send(el))) {
      rt.log.warn({ eventId: event.id }, 'could not tell the XMPP sender of a refusal: link down');
    }
  }

  async notice(event: CanonicalEvent, notice: Notice): Promise<void> {
    const rt = this.#rt;
    // A standby cannot send: the replica holding the link tells the sender.
    if (this.#link.standingBy()) {
      if (!(await this.queue.push(event, { notice }))) {
        rt.log.warn({ eventId: event.id }, 'could not tell the XMPP sender of a degradation: outbox full');
      }
      return;
    }
    // A chat message from the recipient's ghost, so it shows in the conversation it is about.
    const a = addressesOut({ ...event, from: event.to, to: event.from }, rt.cfg.component);
    if (!a.ok) return;
    const to = rt.sent.originOf(event)?.attrs.from ?? bareJid(a.to);
    const el = xml(
      'message',
      { from: bareJid(a.ghost), to, type: 'chat', id: `parley-notice-${randomUUID()}` },
      xml('body', {}, xmlSafe(`[Parley] ${notice.text}`)),
    );
    if (!(await rt.send(el))) {
      rt.log.warn({ eventId: event.id }, 'could not tell the XMPP sender of a degradation: link down');
    }
  }

  /** The stanza for an event; presence is also cached for probes, a call's routing kept. */
  build(event: CanonicalEvent): Promise<Outbound> {
    if (event.kind === 'presence') return this.#presence.build(event);
    if (event.kind === 'call') return this.#calls.build(event);
    return Promise.resolve(writeMessage(event, this.#rt.cfg.component));
  }

  /** A memory store dies with the process: tell the senders of what waits now rather than never. */
  async bounceAll(): Promise<void> {
    for (const item of await this.queue.takeAll()) {
      await this.#bounce(item, 'shutdown', 'The gateway stopped before the XMPP server came back.', 'failed');
    }
  }

  /**
   * A standby's delivery: queued for the holder, which sends it within ~100 ms — chat
   * states and call signalling too, since the link is up there. A call is built (its
   * routing state read and written) by the holder only.
   */
  async #queueForHolder(event: CanonicalEvent): Promise<DeliveryResult> {
    const check =
      event.kind === 'call' ? addressesOut(event, this.#rt.cfg.component) : await this.build(event);
    if (!check.ok) return { ok: false, refused: true, reason: check.reason };
    if (await this.queue.push(event)) return { ok: true, queued: true };
    return {
      ok: false,
      reason: `${this.#rt.cfg.queue.maxLength} events already wait for the replica that holds the XMPP link`,
    };
  }

  async #sendEvent(event: CanonicalEvent, stanza: Element): Promise<boolean> {
    if (!(await this.#rt.send(stanza))) return false;
    this.#rt.sent.remember(event, stanza);
    return true;
  }

  /** The queue's send: a queued event, or a refusal or notice a standby left for its sender. */
  async #sendQueued(item: QueuedItem<OutboxExtra>): Promise<boolean> {
    const { event } = item;
    if (item.refusal) {
      await this.refuse(event, item.refusal);
      return true;
    }
    if (item.notice) {
      await this.notice(event, item.notice);
      return true;
    }
    const built = await this.build(event);
    if (!built.ok) {
      this.#rt.log.warn({ eventId: event.id, reason: built.reason }, 'queued event cannot be sent');
      await this.#bounce({ event }, 'delivery', built.reason, 'failed');
      return true;
    }
    return this.#sendEvent(event, built.stanza);
  }

  #expiredReason(): string {
    const { domains, queue } = this.#rt.cfg;
    return `The XMPP server of ${domains.join(', ')} was unreachable for longer than ${Math.round(queue.timeoutMs / 1000)} s.`;
  }

  async #bounce(
    item: OutboxExtra & { event: CanonicalEvent },
    code: 'delivery' | 'shutdown',
    reason: string,
    outcome: BounceOutcome,
  ): Promise<void> {
    const rt = this.#rt;
    if (item.refusal || item.notice) {
      rt.log.warn(
        { eventId: item.event.id },
        `a ${item.refusal ? 'refusal' : 'notice'} for an XMPP sender expired unsent`,
      );
      return;
    }
    rt.log.warn({ eventId: item.event.id, code }, 'queued event bounced');
    try {
      await rt.ctx.bounce(item.event, { code, rule: null, reason }, outcome);
    } catch (err) {
      rt.log.error({ err }, 'bounce failed');
    }
  }
}
