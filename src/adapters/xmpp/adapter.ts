// The XMPP adapter: an external component (XEP-0114) on the enterprise's (or a partner's)
// XMPP server. Local users write to ghosts (`user%domain@<component>`); what they send is
// translated and submitted to the pipeline; what the pipeline delivers is sent as the
// remote user's ghost. Among replicas sharing a store, the holder of the link lease
// connects; the others queue what they deliver for it. The parts: inbound.ts (stanzas by
// name), outbound.ts (deliveries by kind, the outbox), presence.ts, calls.ts.
import { randomUUID } from 'node:crypto';
import type { Element } from '@xmpp/xml';
import type {
  Adapter,
  AdapterContext,
  Capabilities,
  Delivery,
  DeliveryResult,
  LinkState,
  LinkStatus,
  Notice,
  Refusal,
} from '../../core/adapter.js';
import type { LinkLease } from '../../core/delivery/link-lease.js';
import { dispatchKind, kindsOf } from '../../core/kind-table.js';
import type { Logger } from '../../core/logger.js';
import { CALL_ACTIONS, type CanonicalEvent } from '../../core/model.js';
import { isIssuedDelivery, newTraceId } from '../../core/pipeline.js';
import { XmppCalls } from './calls.js';
import type { ResolvedXmppConfig } from './config.js';
import { dispatchStanza, type InboundTable, inboundTable } from './inbound.js';
import { componentLink, type XmppLink, type XmppLinkFactory } from './link.js';
import { outboundTable, XmppOutbound } from './outbound.js';
import { XmppPresence } from './presence.js';
import type { XmppRuntime } from './runtime.js';
import { SentMemory } from './sent.js';
import { MAX_BODY } from './stanza.js';

export { XMPP_SOFTWARE } from './inbound.js';

const declarationOnly = (): XmppOutbound => {
  throw new Error('the capabilities table is never called');
};

export const XMPP_CAPABILITIES: Capabilities = {
  kinds: kindsOf(outboundTable(declarationOnly)),
  edits: true,
  html: false,
  attachments: true,
  callActions: new Set(CALL_ACTIONS),
  maxBodyLength: MAX_BODY,
};

export interface XmppAdapterOptions {
  /** How the link to the server is made (default: a XEP-0114 component connection). */
  link?: XmppLinkFactory;
}

/** What one start builds: the parts that need the context. */
interface Running {
  ctx: AdapterContext;
  rt: XmppRuntime;
  presence: XmppPresence;
  out: XmppOutbound;
  inbound: InboundTable;
  /** The link lease: only its holder among the replicas connects. */
  lease: LinkLease;
}

export class XmppAdapter implements Adapter {
  readonly network = 'xmpp' as const;
  readonly domains: readonly string[];
  readonly capabilities = XMPP_CAPABILITIES;
  readonly #cfg: ResolvedXmppConfig;
  readonly #log: Logger;
  readonly #makeLink: XmppLinkFactory;
  readonly #table = outboundTable(() => this.#run!.out);
  #run: Running | null = null;
  #link: XmppLink | null = null;
  #status: LinkStatus = { state: 'starting', since: new Date().toISOString() };
  #stopping = false;

  constructor(
    readonly name: string,
    cfg: ResolvedXmppConfig,
    logger: Logger,
    opts: XmppAdapterOptions = {},
  ) {
    this.#cfg = cfg;
    this.domains = cfg.domains;
    this.#log = logger;
    this.#makeLink = opts.link ?? componentLink;
  }

  /** The component domain ghosts live under. */
  get component(): string {
    return this.#cfg.component;
  }

  /** Events waiting for the link (the queue depth metric). */
  get queued(): number {
    return this.#run?.out.queue.size ?? 0;
  }

  /** Resolves when the link is up (tests, startup probes). */
  whenUp(timeoutMs = 10_000): Promise<void> {
    if (!this.#link) {
      const why = this.#run ? 'another replica holds the link (this one stands by)' : 'not started';
      return Promise.reject(new Error(why));
    }
    return this.#link.whenUp(timeoutMs);
  }

  async start(ctx: AdapterContext): Promise<void> {
    this.#stopping = false;
    // Everything a delivery needs exists before the first await: other adapters may
    // deliver while this one is still taking its lease.
    const rt: XmppRuntime = {
      name: this.name,
      cfg: this.#cfg,
      log: this.#log,
      ctx,
      sent: new SentMemory(),
      env: {
        adapter: this.name,
        component: this.#cfg.component,
        domains: this.#cfg.domains,
        networkOf: (d) => ctx.networkOf(d),
        now: () => new Date(),
        newId: () => `parley-${randomUUID()}`,
        newTraceId,
      },
      send: (el) => this.#send(el),
      submit: (event, el) => this.#submit(event, el),
    };
    const presence = new XmppPresence(rt);
    const calls = new XmppCalls(rt, presence);
    const lease = ctx.lease('link', {
      ...this.#cfg.lease,
      acquired: () => this.#connect(),
      lost: (reason) => this.#disconnect(reason),
      standby: (state, detail) => this.#setStatus(state, detail),
    });
    const out = new XmppOutbound(rt, {
      presence,
      calls,
      consumer: () => lease.held,
      link: {
        up: () => this.#link?.up ?? false,
        standingBy: () => !lease.held && this.#status.state === 'up' && !this.#stopping,
        stopping: () => this.#stopping,
      },
    });
    this.#run = { ctx, rt, presence, out, inbound: inboundTable(rt, presence, calls), lease };
    await out.queue.start();
    await lease.start();
  }

  async deliver(d: Delivery): Promise<DeliveryResult> {
    if (!isIssuedDelivery(d))
      return { ok: false, refused: true, reason: 'delivery not issued by the pipeline' };
    if (!this.#run) return { ok: false, reason: 'the XMPP adapter is not started' };
    return dispatchKind(this.#table, d);
  }

  async refuse(event: CanonicalEvent, refusal: Refusal): Promise<void> {
    await this.#run?.out.refuse(event, refusal);
  }

  async notice(event: CanonicalEvent, notice: Notice): Promise<void> {
    await this.#run?.out.notice(event, notice);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const run = this.#run;
    await run?.out.queue.stop();
    await run?.presence.hideAll();
    await this.#link?.stop();
    await run?.lease.stop();
    if (run && run.ctx.state.kind === 'memory') await run.out.bounceAll();
    this.#setStatus('stopped');
  }

  /** This replica took the link lease: connect (resolves after the first attempt). */
  async #connect(): Promise<void> {
    if (this.#stopping) return;
    if (this.#status.state !== 'starting') this.#setStatus('starting', 'took the link lease; connecting');
    const link = this.#makeLink({
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
        void this.#run?.out.queue.drain();
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
    this.#run?.presence.forget();
    await link?.stop();
    this.#log.warn({ reason }, 'xmpp link closed: another replica may hold it now');
  }

  #setStatus(state: LinkState, detail?: string): void {
    this.#status = { state, since: new Date().toISOString(), ...(detail ? { detail } : {}) };
    this.#run?.ctx.setStatus(state, detail);
    if (state !== 'stopped') this.#run?.lease.publish(state, detail);
  }

  async #send(el: Element): Promise<boolean> {
    const ok = (await this.#link?.send(el)) ?? false;
    if (ok) this.#run?.presence.sent(el);
    return ok;
  }

  #onStanza(el: Element): void {
    const run = this.#run;
    if (this.#stopping || !run) return;
    dispatchStanza(run.inbound, el).catch((err: unknown) =>
      this.#log.error({ err, stanza: el.name }, 'xmpp stanza handling failed'),
    );
  }

  async #submit(event: CanonicalEvent, el: Element): Promise<void> {
    const run = this.#run!;
    run.rt.sent.received(event, el);
    const out = await run.ctx.submit(event);
    if (out.status === 'denied' || out.status === 'failed') {
      this.#log.debug(
        { eventId: event.id, kind: event.kind, outcome: out.status },
        'xmpp event not delivered',
      );
    }
  }
}
