// The XMPP adapter: an external component (XEP-0114) on the enterprise's (or a partner's)
// XMPP server. Local users write to ghosts (`user%domain@<component>`); what they send is
// translated and submitted to the pipeline; what the pipeline delivers is sent as the
// remote user's ghost. Presence of remote users is cached per local user and answers
// probes; the subscription handshake toward ghosts is answered here, XEP-0100 style.
import { randomUUID } from 'node:crypto';
import type { Element } from '@xmpp/xml';
import { xml } from '@xmpp/xml';
import type {
  Adapter,
  AdapterContext,
  BounceOutcome,
  Capabilities,
  Delivery,
  DeliveryResult,
  LinkStatus,
  Notice,
  Refusal,
} from '../../core/adapter.js';
import type { Logger } from '../../core/logger.js';
import {
  CALL_ACTIONS,
  type CallEvent,
  type CanonicalEvent,
  type EventKind,
  type PresenceEvent,
} from '../../core/model.js';
import { isIssuedDelivery, newTraceId } from '../../core/pipeline.js';
import type { ResolvedXmppConfig } from './config.js';
import { fromGhost } from './ghost.js';
import { answerIq, ghostCaps, ghostName } from './iq.js';
import { bareJid, fullJid, type Jid, parseJid } from './jid.js';
import { readJingle, writeJingle } from './jingle.js';
import { REPLICA_ID } from './lease.js';
import { ComponentLink } from './link.js';
import { NS } from './ns.js';
import { Outbox, type OutboxItem } from './outbox.js';
import { LinkOwnership } from './ownership.js';
import {
  addressesOut,
  aggregatePresence,
  describeError,
  errorReply,
  MAX_BODY,
  presenceEvent,
  type ResourcePresence,
  readMessage,
  readPresence,
  refusalError,
  refusalMessage,
  route,
  type StanzaEnv,
  writeMessage,
  writePresence,
  xmlSafe,
} from './stanza.js';

export const XMPP_SOFTWARE = { name: 'Parley', version: '0.1.0' };

export const XMPP_CAPABILITIES: Capabilities = {
  kinds: new Set<EventKind>(['message', 'presence', 'chatstate', 'receipt', 'call']),
  edits: true,
  html: false,
  attachments: true,
  callActions: new Set(CALL_ACTIONS),
  maxBodyLength: MAX_BODY,
};

/** How many sent message ids are remembered, to bounce a server's error back to the sender. */
const SENT_MEMORY = 10_000;
/** How often the link's holder looks for events other replicas queued for it. */
const OUTBOX_POLL_MS = 100;
/** The resource ghosts use for Jingle (calls need full JIDs). */
const GHOST_RESOURCE = 'parley';
/** How long a call's routing is remembered without a hangup. */
const CALL_TTL_MS = 6 * 3600_000;

/** Where a call's XMPP leg goes: the local user's full JID and the ghost's. */
interface CallLeg {
  local: string;
  ghost: string;
}

export class XmppAdapter implements Adapter {
  readonly network = 'xmpp' as const;
  readonly domains: readonly string[];
  readonly capabilities = XMPP_CAPABILITIES;
  readonly #cfg: ResolvedXmppConfig;
  readonly #log: Logger;
  #ctx: AdapterContext | null = null;
  #link: ComponentLink | null = null;
  #outbox: Outbox | null = null;
  /** The link lease: only its holder among the replicas connects (see ownership.ts). */
  #ownership: LinkOwnership | null = null;
  #sweeper: NodeJS.Timeout | null = null;
  #status: LinkStatus = { state: 'starting', since: new Date().toISOString() };
  #stopping = false;
  /** The stanza each submitted event came from (for error replies to the full JID). */
  readonly #origin = new WeakMap<CanonicalEvent, Element>();
  /**
   * The full JID each recent message came from, by event id: a refusal that arrives later
   * as another object (from a queue, or from a standby replica) still reaches the sender's
   * resource (the server drops error messages to a bare JID).
   */
  readonly #senders = new Map<string, string>();
  /** Messages sent to local users, by `<user bare JID> <id>`: a server error bounces them. */
  readonly #sent = new Map<string, CanonicalEvent>();
  /**
   * The tail of each call's submissions, by Jingle sid. The iq is acknowledged at once, so
   * a client sends session-accept right after session-info <ringing/>; without this the
   * accept could overtake the ringing in the pipeline and the ringing would be dropped.
   */
  readonly #callTails = new Map<string, Promise<void>>();
  /** Ghost presences shown as available to local users (`to\nfrom`): made unavailable at stop. */
  readonly #shown = new Set<string>();
  #flushing: Promise<void> | null = null;

  constructor(
    readonly name: string,
    cfg: ResolvedXmppConfig,
    logger: Logger,
    /** This replica's name in the link lease (tests run several in one process). */
    readonly replica: string = REPLICA_ID,
  ) {
    this.#cfg = cfg;
    this.domains = cfg.domains;
    this.#log = logger;
  }

  /** The component domain ghosts live under. */
  get component(): string {
    return this.#cfg.component;
  }

  /** Stanzas waiting for the link. */
  get queued(): number {
    return this.#outbox?.size ?? 0;
  }

  /** Resolves when the link is up (tests, startup probes). */
  whenUp(timeoutMs = 10_000): Promise<void> {
    if (!this.#link) {
      const why = this.#ownership ? 'another replica holds the link (this one stands by)' : 'not started';
      return Promise.reject(new Error(why));
    }
    return this.#link.whenUp(timeoutMs);
  }

  async start(ctx: AdapterContext): Promise<void> {
    this.#ctx = ctx;
    this.#stopping = false;
    const log = this.#log;
    this.#outbox = new Outbox({
      store: ctx.store,
      key: `xmpp:${this.name}:outbox`,
      maxLength: this.#cfg.queue.maxLength,
      timeoutMs: this.#cfg.queue.timeoutMs,
      onCorrupt: (p) => log.error({ payload: p.slice(0, 200) }, 'unreadable item in the xmpp outbox dropped'),
    });
    await this.#outbox.load();
    const period = Math.max(50, Math.min(1000, Math.floor(this.#cfg.queue.timeoutMs / 4)));
    this.#sweeper = setInterval(() => void this.#sweep(), period);
    this.#sweeper.unref();
    const outbox = this.#outbox;
    this.#ownership = new LinkOwnership({
      store: ctx.store,
      adapter: this.name,
      replica: this.replica,
      ...this.#cfg.lease,
      pollMs: OUTBOX_POLL_MS,
      outbox,
      logger: log,
      connect: () => this.#connect(),
      disconnect: (reason) => this.#disconnect(reason),
      report: (state, detail) => this.#setStatus(state, detail),
      pending: () =>
        void outbox.sync().then(
          () => this.#flush(),
          () => {},
        ),
      linkUp: () => this.#link?.up ?? false,
    });
    await this.#ownership.start();
  }

  /** Another replica holds the link and it is up there: deliveries go through the outbox. */
  #standingBy(): boolean {
    return !!this.#ownership && !this.#ownership.owner && this.#status.state === 'up' && !this.#stopping;
  }

  /**
   * A standby's delivery: queued for the holder, which sends it within ~100 ms — chat
   * states and call signalling too, since the link is up there. A call is built (its
   * routing state read and written) by the holder only.
   */
  async #queueForHolder(event: CanonicalEvent): Promise<DeliveryResult> {
    const check = event.kind === 'call' ? addressesOut(event, this.#cfg.component) : await this.#build(event);
    if (!check.ok) return { ok: false, retryable: false, reason: check.reason };
    if (await this.#outbox!.push(event)) return { ok: true, queued: true };
    return {
      ok: false,
      retryable: true,
      reason: `${this.#cfg.queue.maxLength} events already wait for the replica that holds the XMPP link`,
    };
  }

  /** This replica took the link lease: connect (resolves after the first attempt). */
  async #connect(): Promise<void> {
    if (this.#stopping) return;
    if (this.#status.state !== 'starting') this.#setStatus('starting', 'took the link lease; connecting');
    const link = new ComponentLink({
      service: this.#cfg.service,
      domain: this.#cfg.component,
      secret: this.#cfg.secret,
      initialDelayMs: this.#cfg.reconnect.initialDelayMs,
      maxDelayMs: this.#cfg.reconnect.maxDelayMs,
      connectTimeoutMs: this.#cfg.connectTimeoutMs,
      logger: this.#log,
      onStanza: (el) => this.#onStanza(el),
      onUp: () => {
        this.#setStatus('up');
        void this.#flush();
      },
      onDown: (detail) => this.#setStatus('down', detail),
    });
    this.#link = link;
    await link.start();
  }

  /** Another replica holds the link now (or may, soon): close it here and stand by. */
  async #disconnect(reason: string): Promise<void> {
    const link = this.#link;
    this.#link = null;
    this.#shown.clear();
    await link?.stop();
    this.#log.warn({ reason }, 'xmpp link closed: another replica may hold it now');
  }

  async deliver(d: Delivery): Promise<DeliveryResult> {
    if (!isIssuedDelivery(d))
      return { ok: false, retryable: false, reason: 'delivery not issued by the pipeline' };
    const event = d.event;
    if (this.#standingBy()) return this.#queueForHolder(event);
    const built = await this.#build(event);
    if (!built.ok) return { ok: false, retryable: false, reason: built.reason };
    if (this.#stopping) return { ok: false, retryable: true, reason: 'the XMPP link is stopping' };
    // Call signalling cannot wait for a link that is down: the caller would ring into nothing.
    if (event.kind === 'call') {
      if (await this.#send(built.stanza)) {
        this.#remember(event, built.stanza);
        return { ok: true };
      }
      return { ok: false, retryable: true, reason: 'the XMPP link is down' };
    }
    const outbox = this.#outbox!;
    if (this.#link?.up && outbox.size === 0 && !this.#flushing) {
      if (await this.#send(built.stanza)) {
        this.#remember(event, built.stanza);
        return { ok: true };
      }
    }
    // Chat states are transient: waiting for the link would only show stale typing.
    if (event.kind === 'chatstate') return { ok: false, retryable: true, reason: 'the XMPP link is down' };
    if (await outbox.push(event)) {
      this.#log.debug({ eventId: event.id, queued: outbox.size }, 'xmpp link down: event queued');
      // The link may have come back meanwhile (or a flush just finished): send it now.
      if (this.#link?.up) void this.#flush();
      return { ok: true, queued: true };
    }
    return {
      ok: false,
      retryable: true,
      reason: `the XMPP link is down and ${this.#cfg.queue.maxLength} events already wait for it`,
    };
  }

  async refuse(event: CanonicalEvent, refusal: Refusal): Promise<void> {
    // A standby cannot send: the replica holding the link tells the sender.
    if ((event.kind === 'message' || event.kind === 'call') && this.#standingBy()) {
      if (!(await this.#outbox!.push(event, refusal))) {
        this.#log.warn({ eventId: event.id }, 'could not tell the XMPP sender of a refusal: outbox full');
      }
      return;
    }
    // Only messages get an error back: refused presence is not leaked, and errors for chat
    // states or receipts would be noise.
    if (event.kind === 'call') return this.#refuseCall(event, refusal);
    if (event.kind !== 'message') {
      this.#log.debug({ eventId: event.id, kind: event.kind, code: refusal.code }, 'refused (no reply)');
      return;
    }
    const origin = this.#origin.get(event);
    const el = refusalMessage(
      event,
      refusalError(refusal.code, refusal.reason),
      this.#cfg.component,
      origin?.attrs.from ?? this.#senders.get(event.id),
    );
    if (!el) return;
    if (!(await this.#link?.send(el))) {
      this.#log.warn({ eventId: event.id }, 'could not tell the XMPP sender of a refusal: link down');
    }
  }

  async notice(event: CanonicalEvent, notice: Notice): Promise<void> {
    // A standby cannot send: the replica holding the link tells the sender.
    if (this.#standingBy()) {
      if (!(await this.#outbox!.push(event, undefined, notice))) {
        this.#log.warn({ eventId: event.id }, 'could not tell the XMPP sender of a degradation: outbox full');
      }
      return;
    }
    // A chat message from the recipient's ghost, so it shows in the conversation it is about.
    const a = addressesOut({ ...event, from: event.to, to: event.from }, this.#cfg.component);
    if (!a.ok) return;
    const to = this.#origin.get(event)?.attrs.from ?? bareJid(a.to);
    const el = xml(
      'message',
      { from: bareJid(a.ghost), to, type: 'chat', id: `parley-notice-${randomUUID()}` },
      xml('body', {}, xmlSafe(`[Parley] ${notice.text}`)),
    );
    if (!(await this.#link?.send(el))) {
      this.#log.warn({ eventId: event.id }, 'could not tell the XMPP sender of a degradation: link down');
    }
  }

  status(): LinkStatus {
    return this.#status;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = null;
    await this.#flushing;
    // Ghosts shown online would otherwise stay online in the users' rosters.
    for (const key of this.#shown) {
      const [to, from] = key.split('\n');
      if (to && from) await this.#link?.send(xml('presence', { from, to, type: 'unavailable' }));
    }
    this.#shown.clear();
    await this.#link?.stop();
    await this.#ownership?.stop();
    // A memory store dies with the process: tell the senders now rather than never.
    if (this.#ctx && this.#outbox && this.#ctx.store.kind === 'memory') {
      for (const item of await this.#outbox.drainAll()) {
        await this.#bounce(
          item,
          'shutdown',
          'The gateway stopped before the XMPP server came back.',
          'failed',
        );
      }
    }
    this.#setStatus('stopped');
  }

  // -------------------------------------------------------------------------------------

  /** Made once per context: building it per stanza (six closures) showed in bench:xmpp. */
  #envCache: { ctx: AdapterContext; env: StanzaEnv } | null = null;

  #env(): StanzaEnv {
    const ctx = this.#ctx!;
    if (this.#envCache?.ctx === ctx) return this.#envCache.env;
    const env: StanzaEnv = {
      adapter: this.name,
      component: this.#cfg.component,
      domains: this.#cfg.domains,
      networkOf: (d) => ctx.networkOf(d),
      now: () => new Date(),
      newId: () => `parley-${randomUUID()}`,
      newTraceId,
    };
    this.#envCache = { ctx, env };
    return env;
  }

  #setStatus(state: LinkStatus['state'], detail?: string): void {
    this.#status = { state, since: new Date().toISOString(), ...(detail ? { detail } : {}) };
    this.#ctx?.setStatus(state, detail);
    if (state !== 'stopped') this.#ownership?.publish(state, detail);
  }

  async #send(el: Element): Promise<boolean> {
    const ok = (await this.#link?.send(el)) ?? false;
    if (ok && el.name === 'presence' && el.attrs.from?.endsWith(`/${GHOST_RESOURCE}`) && el.attrs.to) {
      const key = `${el.attrs.to}\n${el.attrs.from}`;
      if (el.attrs.type === undefined) this.#shown.add(key);
      else if (el.attrs.type === 'unavailable') this.#shown.delete(key);
    }
    return ok;
  }

  #onStanza(el: Element): void {
    if (this.#stopping) return;
    const work =
      el.name === 'message'
        ? this.#onMessage(el)
        : el.name === 'presence'
          ? this.#onPresence(el)
          : el.name === 'iq'
            ? this.#onIq(el)
            : Promise.resolve();
    work.catch((err: unknown) => this.#log.error({ err, stanza: el.name }, 'xmpp stanza handling failed'));
  }

  async #submit(event: CanonicalEvent, el: Element): Promise<void> {
    this.#origin.set(event, el);
    if (event.kind === 'message' && el.attrs.from) {
      this.#senders.set(event.id, el.attrs.from);
      // Evict the oldest tenth at once, as #remember does (single deletes slow the Map down).
      if (this.#senders.size > SENT_MEMORY) {
        let n = SENT_MEMORY / 10;
        for (const key of this.#senders.keys()) {
          this.#senders.delete(key);
          if (--n <= 0) break;
        }
      }
    }
    const out = await this.#ctx!.submit(event);
    if (out.status === 'denied' || out.status === 'failed') {
      this.#log.debug(
        { eventId: event.id, kind: event.kind, outcome: out.status },
        'xmpp event not delivered',
      );
    }
  }

  async #onMessage(el: Element): Promise<void> {
    if (el.attrs.type === 'error') return this.#onMessageError(el);
    const r = readMessage(el, this.#env());
    if (r.kind === 'ignore') {
      this.#log.debug({ why: r.why, id: el.attrs.id }, 'xmpp message ignored');
      return;
    }
    if (r.kind === 'error') {
      await this.#send(errorReply(el, r.error));
      return;
    }
    for (const e of r.events) await this.#submit(e, el);
  }

  /** A local server's error for a message Parley sent (e.g. the user is offline): bounce it. */
  async #onMessageError(el: Element): Promise<void> {
    const from = parseJid(el.attrs.from);
    if (!from || !el.attrs.id) return;
    const key = `${bareJid(from)} ${el.attrs.id}`;
    const event = this.#sent.get(key);
    if (!event) {
      this.#log.debug({ id: el.attrs.id, error: describeError(el) }, 'xmpp error for an unknown message');
      return;
    }
    this.#sent.delete(key);
    await this.#ctx?.bounce(event, {
      code: 'delivery',
      rule: null,
      reason: `${bareJid(from)} could not receive it (${describeError(el)})`,
    });
  }

  /** Keep what was sent (by recipient and id) so that errors and answers find their event. */
  #remember(event: CanonicalEvent, stanza: Element): void {
    if (event.kind !== 'message' && event.kind !== 'call') return;
    // The stanza's `to` is the recipient's JID as written: its bare part is the key.
    const to = stanza.attrs.to as string | undefined;
    if (!to) return;
    const slash = to.indexOf('/');
    this.#sent.set(`${slash < 0 ? to : to.slice(0, slash)} ${event.id}`, event);
    // Evict the oldest tenth at once: asking a Map for its first key after single deletes
    // walks the deleted slots every time (V8 compacts only on rehash), which showed up in
    // bench:xmpp's profile.
    if (this.#sent.size > SENT_MEMORY) {
      let n = SENT_MEMORY / 10;
      for (const key of this.#sent.keys()) {
        this.#sent.delete(key);
        if (--n <= 0) break;
      }
    }
  }

  async #onPresence(el: Element): Promise<void> {
    const type = el.attrs.type;
    if (type === 'error') return;
    const to = parseJid(el.attrs.to);
    const from = parseJid(el.attrs.from);
    if (!to || !from || to.domain !== this.#cfg.component) return;
    if (!to.local) return this.#presenceToComponent(el, type, from);
    const r = route(el, this.#env());
    if (!r.ok) {
      if (type === 'subscribe' || type === 'probe') {
        await this.#send(
          xml('presence', {
            from: el.attrs.to,
            to: bareJid(from),
            type: type === 'subscribe' ? 'unsubscribed' : 'unavailable',
          }),
        );
      }
      return;
    }
    const ghost = bareJid(r.to);
    const user = bareJid(r.from);
    switch (type) {
      case undefined:
      case 'unavailable': {
        const agg = await this.#trackResource(r.from, readPresence(el));
        await this.#submit(presenceEvent(agg, r.sender, r.recipient, this.#env(), el.attrs.id), el);
        return;
      }
      case 'probe': {
        const cached = await this.#cachedPresence(user, r.recipient);
        await this.#send(
          writePresence(
            cached ?? { show: 'offline' },
            `${ghost}/${GHOST_RESOURCE}`,
            el.attrs.from ?? user,
            undefined,
            this.#capsOf(r.to),
          ),
        );
        return;
      }
      case 'subscribe': {
        // XEP-0100: the gateway approves for the remote contact, asks for the user's
        // presence in return, and tells what it knows of the contact.
        await this.#send(xml('presence', { from: ghost, to: user, type: 'subscribed' }));
        await this.#send(xml('presence', { from: ghost, to: user, type: 'subscribe' }));
        const cached = await this.#cachedPresence(user, r.recipient);
        if (cached) {
          await this.#send(
            writePresence(cached, `${ghost}/${GHOST_RESOURCE}`, user, undefined, this.#capsOf(r.to)),
          );
        }
        return;
      }
      case 'unsubscribe':
        await this.#send(xml('presence', { from: ghost, to: user, type: 'unsubscribed' }));
        await this.#send(xml('presence', { from: ghost, to: user, type: 'unavailable' }));
        return;
      case 'unsubscribed':
        // The user no longer shares presence with the contact: they see them go offline.
        await this.#submit(
          presenceEvent({ show: 'offline', priority: 0 }, r.sender, r.recipient, this.#env()),
          el,
        );
        return;
      default:
        return;
    }
  }

  /** The caps element for a ghost's presence (XEP-0115), or undefined if it is no ghost. */
  #capsOf(ghost: Jid): Element | undefined {
    const r = fromGhost(
      { network: 'xmpp', user: ghost.local, domain: ghost.domain },
      { component: this.#cfg.component },
    );
    return r ? ghostCaps(ghostName(r.user, r.domain)) : undefined;
  }

  async #presenceToComponent(el: Element, type: string | undefined, from: Jid): Promise<void> {
    const me = this.#cfg.component;
    if (type === 'probe') await this.#send(xml('presence', { from: me, to: el.attrs.from ?? bareJid(from) }));
    else if (type === 'subscribe') {
      await this.#send(xml('presence', { from: me, to: bareJid(from), type: 'subscribed' }));
      await this.#send(xml('presence', { from: me, to: bareJid(from) }));
    } else if (type === 'unsubscribe') {
      await this.#send(xml('presence', { from: me, to: bareJid(from), type: 'unsubscribed' }));
    }
  }

  /** Record one resource's presence; returns the user's aggregate presence. */
  async #trackResource(from: Jid, p: ResourcePresence): Promise<ResourcePresence> {
    const store = this.#ctx!.store;
    const key = `xmpp:${this.name}:resources:${bareJid(from)}`;
    const field = from.resource || '';
    if (p.show === 'offline') await store.hdel(key, field);
    else await store.hset(key, field, JSON.stringify(p));
    const all = await store.hgetall(key);
    const list: ResourcePresence[] = [];
    for (const v of Object.values(all)) {
      try {
        list.push(JSON.parse(v) as ResourcePresence);
      } catch {
        // ignore a corrupt entry
      }
    }
    const agg = aggregatePresence(list);
    // Going offline keeps the status text the last resource left with.
    return agg.show === 'offline' && p.status ? { ...agg, status: p.status } : agg;
  }

  #presenceKey(userBare: string): string {
    return `xmpp:${this.name}:presence:${userBare}`;
  }

  async #cachedPresence(
    userBare: string,
    remote: string,
  ): Promise<Pick<PresenceEvent, 'show' | 'status' | 'lastActive'> | null> {
    const v = await this.#ctx!.store.hget(this.#presenceKey(userBare), remote);
    if (!v) return null;
    try {
      return JSON.parse(v) as Pick<PresenceEvent, 'show' | 'status' | 'lastActive'>;
    } catch {
      return null;
    }
  }

  async #onIq(el: Element): Promise<void> {
    const type = el.attrs.type;
    if (type === 'error' || type === 'result') return this.#onIqAnswer(el);
    const jingle = el.getChild('jingle', NS.jingle);
    if (type === 'set' && jingle && el.getChildElements().length === 1) return this.#onJingle(el, jingle);
    const reply = answerIq(el, {
      component: this.#cfg.component,
      networkOf: (d) => this.#ctx!.networkOf(d),
      displayName: this.#cfg.displayName,
      software: XMPP_SOFTWARE,
    });
    if (reply) await this.#send(reply);
  }

  /** The stanza for an event; presence is also cached for probes. */
  async #build(
    event: CanonicalEvent,
  ): Promise<{ ok: true; stanza: Element } | { ok: false; reason: string }> {
    if (event.kind === 'presence') {
      const a = addressesOut(event, this.#cfg.component);
      if (!a.ok) return a;
      const cached: Pick<PresenceEvent, 'show' | 'status' | 'lastActive'> = { show: event.show };
      if (event.status) cached.status = event.status;
      if (event.lastActive) cached.lastActive = event.lastActive;
      await this.#ctx!.store.hset(this.#presenceKey(bareJid(a.to)), event.from, JSON.stringify(cached));
      // From the ghost's one resource, which is also where its calls come from.
      return {
        ok: true,
        stanza: writePresence(
          cached,
          `${bareJid(a.ghost)}/${GHOST_RESOURCE}`,
          bareJid(a.to),
          event.id,
          this.#capsOf(a.ghost),
        ),
      };
    }
    if (event.kind === 'call') return this.#buildCall(event);
    return writeMessage(event, this.#cfg.component);
  }

  // -- calls (Jingle) ---------------------------------------------------------------

  #callKey(sid: string): string {
    return `xmpp:${this.name}:call:${sid}`;
  }

  async #callLeg(sid: string): Promise<CallLeg | null> {
    const v = await this.#ctx!.store.get(this.#callKey(sid));
    if (!v) return null;
    try {
      return JSON.parse(v) as CallLeg;
    } catch {
      return null;
    }
  }

  /** A Jingle request from a local user to a ghost: acknowledge, then submit the call event. */
  async #onJingle(el: Element, jingle: Element): Promise<void> {
    const r = route(el, this.#env());
    if (!r.ok) {
      if (r.result.kind === 'error') await this.#send(errorReply(el, r.result.error));
      return;
    }
    const read = readJingle(jingle);
    if (!read) {
      // session-info without ringing (mute, hold) is acknowledged; other actions are not carried.
      if (jingle.attrs.action === 'session-info') await this.#send(iqResult(el));
      else {
        await this.#send(
          errorReply(el, {
            type: 'cancel',
            condition: 'feature-not-implemented',
            text: `Jingle ${jingle.attrs.action ?? '(no action)'} is not carried by this gateway.`,
          }),
        );
      }
      return;
    }
    await this.#send(iqResult(el));
    const prev = this.#callTails.get(read.sid);
    const run = (prev ?? Promise.resolve()).then(() => this.#submitJingle(el, r, read));
    const tail = run.catch(() => undefined);
    this.#callTails.set(read.sid, tail);
    try {
      await run;
    } finally {
      if (this.#callTails.get(read.sid) === tail) this.#callTails.delete(read.sid);
    }
  }

  async #submitJingle(
    el: Element,
    r: Extract<ReturnType<typeof route>, { ok: true }>,
    read: NonNullable<ReturnType<typeof readJingle>>,
  ): Promise<void> {
    const leg: CallLeg = { local: fullJid(r.from), ghost: `${bareJid(r.to)}/${GHOST_RESOURCE}` };
    if (read.action === 'hangup') await this.#ctx!.store.del(this.#callKey(read.sid));
    else await this.#ctx!.store.set(this.#callKey(read.sid), JSON.stringify(leg), CALL_TTL_MS);
    const env = this.#env();
    const event: CallEvent = {
      kind: 'call',
      id: el.attrs.id && el.attrs.id.length <= 512 ? el.attrs.id : env.newId(),
      time: env.now().toISOString(),
      from: r.sender,
      to: r.recipient,
      adapter: this.name,
      traceId: env.newTraceId(),
      action: read.action,
      callId: read.sid,
      ...(read.session ? { session: read.session } : {}),
      ...(read.reason ? { reason: read.reason } : {}),
    };
    await this.#submit(event, el);
  }

  /** The iq carrying a call event to the local user (the full JID of the call, or their best resource). */
  async #buildCall(event: CallEvent): Promise<{ ok: true; stanza: Element } | { ok: false; reason: string }> {
    const a = addressesOut(event, this.#cfg.component);
    if (!a.ok) return a;
    const ghost = `${bareJid(a.ghost)}/${GHOST_RESOURCE}`;
    let leg = await this.#callLeg(event.callId);
    if (!leg) {
      if (event.action !== 'invite')
        return { ok: false, reason: `no call ${event.callId} with ${bareJid(a.to)}` };
      const resource = await this.#bestResource(bareJid(a.to));
      if (resource === null) {
        return {
          ok: false,
          reason: `${bareJid(a.to)} has no online XMPP resource known to the gateway (share presence with the caller first)`,
        };
      }
      leg = { local: resource ? `${bareJid(a.to)}/${resource}` : bareJid(a.to), ghost };
    }
    if (event.action === 'hangup') await this.#ctx!.store.del(this.#callKey(event.callId));
    else await this.#ctx!.store.set(this.#callKey(event.callId), JSON.stringify(leg), CALL_TTL_MS);
    return {
      ok: true,
      stanza: xml(
        'iq',
        { type: 'set', from: leg.ghost, to: leg.local, id: xmlSafeId(event.id) },
        writeJingle(
          event.action,
          event.callId,
          { initiator: leg.ghost, responder: leg.ghost },
          event.session,
          event.reason,
        ),
      ),
    };
  }

  /** The resource of a local user with the highest priority, from their presence toward ghosts. */
  async #bestResource(userBare: string): Promise<string | null> {
    const all = await this.#ctx!.store.hgetall(`xmpp:${this.name}:resources:${userBare}`);
    let best: { r: string; p: number } | null = null;
    for (const [r, v] of Object.entries(all)) {
      try {
        const p = (JSON.parse(v) as ResourcePresence).priority ?? 0;
        if (!best || p > best.p) best = { r, p };
      } catch {
        // ignore a corrupt entry
      }
    }
    return best?.r ?? null;
  }

  async #refuseCall(event: CallEvent, refusal: Refusal): Promise<void> {
    if (event.action === 'hangup') return;
    const leg = await this.#callLeg(event.callId);
    if (!leg) return;
    await this.#ctx!.store.del(this.#callKey(event.callId));
    const reason =
      refusal.code === 'policy'
        ? 'policy'
        : refusal.code === 'unsupported'
          ? 'unsupported-applications'
          : 'connectivity-error';
    const jingle = writeJingle('hangup', event.callId, {}, undefined, reason);
    jingle.getChild('reason')?.append(xml('text', {}, refusal.reason));
    await this.#send(
      xml('iq', { type: 'set', from: leg.ghost, to: leg.local, id: `parley-${randomUUID()}` }, jingle),
    );
  }

  /** A local client's answer to an iq Parley sent: an error bounces the call event. */
  async #onIqAnswer(el: Element): Promise<void> {
    const from = parseJid(el.attrs.from);
    if (!from || !el.attrs.id) return;
    const key = `${bareJid(from)} ${el.attrs.id}`;
    const event = this.#sent.get(key);
    if (!event) return;
    this.#sent.delete(key);
    if (el.attrs.type === 'error') {
      await this.#ctx?.bounce(event, {
        code: 'delivery',
        rule: null,
        reason: `${bareJid(from)} refused the call signal (${describeError(el)})`,
      });
    }
  }

  async #flush(): Promise<void> {
    if (this.#flushing || !this.#outbox) return;
    const outbox = this.#outbox;
    const run = async () => {
      // Let the assignment below happen before the loop can finish.
      await Promise.resolve();
      try {
        while (outbox.size > 0 && this.#link?.up) {
          const before = outbox.size;
          const sent = await outbox.flush(
            async (event, item) => {
              if (item.refusal) {
                await this.refuse(event, item.refusal);
                return true;
              }
              if (item.notice) {
                await this.notice(event, item.notice);
                return true;
              }
              const built = await this.#build(event);
              if (!built.ok) {
                this.#log.warn({ eventId: event.id, reason: built.reason }, 'queued event cannot be sent');
                await this.#bounce({ event, at: 0 }, 'delivery', built.reason, 'failed');
                return true;
              }
              const ok = await this.#send(built.stanza);
              if (ok) this.#remember(event, built.stanza);
              return ok;
            },
            (item) => this.#bounce(item, 'delivery', this.#expiredReason(), 'expired'),
          );
          if (sent > 0) this.#log.info({ sent }, 'xmpp outbox flushed');
          if (outbox.size >= before) break;
        }
      } catch (err) {
        this.#log.error({ err }, 'xmpp outbox flush failed');
      } finally {
        this.#flushing = null;
      }
    };
    this.#flushing = run();
    await this.#flushing;
  }

  #expiredReason(): string {
    return `The XMPP server of ${this.#cfg.domains.join(', ')} was unreachable for longer than ${Math.round(this.#cfg.queue.timeoutMs / 1000)} s.`;
  }

  async #sweep(): Promise<void> {
    const outbox = this.#outbox;
    // Only the link's holder consumes the shared outbox.
    if (!outbox || outbox.size === 0 || this.#flushing || !this.#ownership?.owner) return;
    try {
      await outbox.sweep((item) => this.#bounce(item, 'delivery', this.#expiredReason(), 'expired'));
    } catch (err) {
      this.#log.error({ err }, 'xmpp outbox sweep failed');
    }
  }

  async #bounce(
    item: OutboxItem,
    code: 'delivery' | 'shutdown',
    reason: string,
    outcome: BounceOutcome,
  ): Promise<void> {
    if (item.refusal || item.notice) {
      this.#log.warn(
        { eventId: item.event.id },
        `a ${item.refusal ? 'refusal' : 'notice'} for an XMPP sender expired unsent`,
      );
      return;
    }
    this.#log.warn({ eventId: item.event.id, code }, 'queued event bounced');
    try {
      await this.#ctx?.bounce(item.event, { code, rule: null, reason }, outcome);
    } catch (err) {
      this.#log.error({ err }, 'bounce failed');
    }
  }
}

function iqResult(el: Element): Element {
  const attrs: Record<string, string> = { type: 'result' };
  if (el.attrs.to) attrs.from = el.attrs.to;
  if (el.attrs.from) attrs.to = el.attrs.from;
  if (el.attrs.id !== undefined) attrs.id = el.attrs.id;
  return xml('iq', attrs);
}

const xmlSafeId = (id: string): string => id.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD]/gu, '');
