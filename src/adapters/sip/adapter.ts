// The SIP adapter: Parley's SIP side, composed of its parts. Requests from permitted peers
// (peers.ts) pass the gate (gate.ts: digest authentication, asserted identities) and are
// handled by method: MESSAGE becomes canonical events answered in-band from the pipeline's
// SubmitOutcome (inbound-message.ts, answers.ts), INVITE and its dialog go to calls.ts,
// SUBSCRIBE and PUBLISH to presence.ts. Outbound events go through the kind table
// (outbound.ts) as MESSAGE, NOTIFY or INVITE requests to the next hop, each in a client
// transaction. Bytes move through a Transport (transport.ts: sockets, or one a test injects).
import net from 'node:net';
import type {
  Adapter,
  AdapterContext,
  Capabilities,
  Delivery,
  DeliveryResult,
  LinkStatus,
  Notice,
  Refusal,
  SubmitOutcome,
} from '../../core/adapter.js';
import { formatAddress, tryParseAddress } from '../../core/address.js';
import { dispatchKind, type KindTable, kindsOf } from '../../core/kind-table.js';
import type { Logger } from '../../core/logger.js';
import type { CanonicalEvent, EventKind } from '../../core/model.js';
import { InBandRefusals, makeResponse, warning } from './answers.js';
import { DigestAuth } from './auth.js';
import { CallManager } from './calls.js';
import { TransactionClaims } from './claims.js';
import type { ResolvedSipConfig } from './config.js';
import { SipResolver } from './dns.js';
import { RequestGate } from './gate.js';
import { ImdnState } from './imdn.js';
import { MessageIntake } from './inbound-message.js';
import {
  ParseError,
  type SipMessage,
  type SipRequest,
  type SipResponse,
  salvageRequest,
  validateRequest,
  validateResponse,
} from './message.js';
import { defaultTransport, Router } from './nexthop.js';
import { MessageOutbound, SIP_KINDS, sipKindTable } from './outbound.js';
import { PeerAcl } from './peers.js';
import { PresenceManager } from './presence.js';
import { randomHex } from './random.js';
import { RequestHandler } from './requests.js';
import { type ServerTransaction, TransactionLayer } from './transaction.js';
import {
  type Endpoint,
  SipTransport,
  stampVia,
  type Transport,
  type TransportFactory,
  type TransportHandlers,
  type TransportName,
} from './transport.js';

export { makeResponse } from './answers.js';

/** What a SIP link carries; the longest body depends on the route's transport (RFC 3428 §6). */
export function sipCapabilities(
  routeTransport: TransportName,
  kinds: ReadonlySet<EventKind> = SIP_KINDS,
): Capabilities {
  return {
    kinds,
    edits: false,
    html: false,
    attachments: false,
    // Trickle ICE has no SIP counterpart here: candidates travel in the SDP.
    callActions: new Set(['invite', 'ringing', 'answer', 'hangup']),
    maxBodyLength: routeTransport === 'udp' ? 1000 : 60_000,
  };
}

export interface SipAdapterOptions {
  /** Makes the transport (default: SipTransport on the configured listeners). */
  transport?: TransportFactory;
}

export class SipAdapter implements Adapter {
  readonly network = 'sip' as const;
  readonly domains: readonly string[];
  readonly capabilities: Capabilities;
  readonly transport: Transport;
  readonly layer: TransactionLayer;
  /** Server transactions claimed in the store, so that replicas handle each once. */
  readonly #claims: TransactionClaims;
  readonly calls: CallManager;
  readonly presence: PresenceManager;
  readonly router: Router;
  #ctx: AdapterContext | null = null;
  readonly #peers: PeerAcl;
  readonly #requests: RequestHandler;
  readonly #outbound: MessageOutbound;
  /** Outbound handling per event kind; `capabilities.kinds` derive from it. */
  readonly #table: KindTable;
  /** The route's transport, else the transport of the first listener (Via/Contact before retargeting). */
  readonly #transportDefault: TransportName;
  /** Refusals of events whose requests are answered in-band (SIP responses). */
  readonly #inBand = new InBandRefusals();
  #stopping = false;
  #imdn: ImdnState | null = null;

  constructor(
    readonly name: string,
    readonly config: ResolvedSipConfig,
    readonly logger: Logger,
    options: SipAdapterOptions = {},
  ) {
    this.domains = config.domains;
    this.#transportDefault = defaultTransport(config);
    this.#peers = new PeerAcl(config.peers);
    const handlers: TransportHandlers = {
      onMessage: (msg, source) => this.#onMessage(msg, source),
      onUnparsable: (raw, err, source) => this.#onUnparsable(raw, err, source),
    };
    const accept = (address: string) => this.permitted(address);
    this.transport = options.transport
      ? options.transport(handlers, accept)
      : new SipTransport(
          config.listen,
          handlers,
          logger,
          {
            maxBody: config.maxBodyBytes,
            udpReceiveBuffer: config.udpReceiveBufferBytes,
            udpThread: config.udpThread,
            tcp: config.tcp,
          },
          config.tls,
          accept,
        );
    this.layer = new TransactionLayer(this.transport, config.timers, logger);
    this.#claims = new TransactionClaims({
      state: () => this.#ctx?.state ?? null,
      layer: this.layer,
      ttlMs: 64 * config.timers.t1,
      logger,
    });
    const route = config.route;
    this.router = new Router(
      this.layer,
      route ? { transport: route.transport, address: route.host, port: route.port } : null,
      route ? null : new SipResolver(config.dns ?? { timeoutMs: 2000, tries: 2, cacheMs: 30_000 }),
      (t) => this.#local(t),
    );
    this.calls = new CallManager({
      name,
      layer: this.layer,
      logger,
      local: (t) => this.#local(t),
      router: this.router,
      submit: (e) => this.#submit(e),
      refusalResponse: (id, outcome) =>
        this.#inBand.answer(id, outcome) ?? [500, 'Server Internal Error', []],
    });
    this.presence = new PresenceManager({
      name,
      layer: this.layer,
      logger,
      state: () => this.#ctx?.state ?? null,
      networkOf: (d) => this.#ctx?.networkOf(d) ?? null,
      local: (t) => this.#local(t),
      router: this.router,
      submit: (e) => this.#submit(e),
    });
    const gate = new RequestGate({
      name,
      auth: config.auth ? new DigestAuth(config.auth) : null,
      peers: this.#peers,
      logger,
      state: () => this.#ctx?.state ?? null,
      isKnownDialog: (req) => this.calls.isKnownDialog(req),
      reject: (e, why) => this.#reject(e, why),
    });
    const intake = new MessageIntake({
      name,
      logger,
      started: () => this.#ctx !== null,
      imdn: () => this.#imdn,
      submit: (e) => this.#submit(e),
      answer: (id, outcome) => this.#inBand.answer(id, outcome),
    });
    this.#requests = new RequestHandler({
      logger,
      layer: this.layer,
      gate,
      intake,
      calls: this.calls,
      presence: this.presence,
      stopping: () => this.#stopping,
    });
    this.#outbound = new MessageOutbound({
      router: this.router,
      logger,
      transport: this.#transportDefault,
      local: () => this.#local(),
      imdn: () => this.#imdn,
    });
    this.#table = sipKindTable({
      message: (e) => this.#outbound.message(e),
      chatstate: (e) => this.#outbound.chatstate(e),
      receipt: (e) => this.#outbound.receipt(e),
      presence: (e) => this.presence.deliver(e),
      call: (e) => this.calls.deliver(e),
    });
    this.capabilities = sipCapabilities(this.#transportDefault, kindsOf(this.#table));
  }

  /** Submit an event whose request is answered in-band (its refusal is kept for the answer). */
  async #submit(e: CanonicalEvent): Promise<SubmitOutcome> {
    if (!this.#ctx) return { status: 'failed', code: 'shutdown', reason: 'not started' };
    this.#inBand.begin(e.id);
    try {
      return await this.#ctx.submit(this.#recipientOnItsNetwork(e));
    } finally {
      this.#inBand.end(e.id);
    }
  }

  /**
   * Audit and refuse the event a request with a forged identity would have been. The gate
   * answers the request (403), so the refusal sends no bounce MESSAGE to the forged sender.
   */
  async #reject(event: CanonicalEvent, why: string): Promise<void> {
    const ctx = this.#ctx;
    if (!ctx) return;
    this.#inBand.begin(event.id);
    try {
      await ctx.reject(this.#recipientOnItsNetwork(event), why);
    } finally {
      this.#inBand.end(event.id);
      this.#inBand.take(event.id);
    }
  }

  /**
   * A SIP user addresses everyone as `sip:user@domain` (SIP routes by domain). The canonical
   * recipient carries the scheme of the network that serves its domain, as events from the
   * other adapters do, so that routing, policy (`to.network`, URI segments) and the audit see
   * the recipient's real network.
   */
  #recipientOnItsNetwork(e: CanonicalEvent): CanonicalEvent {
    const to = tryParseAddress(e.to);
    if (to?.network !== 'sip') return e;
    const network = this.#ctx?.networkOf(to.domain);
    if (!network || network === 'sip') return e;
    const mapped = tryParseAddress(formatAddress({ network, user: to.user, domain: to.domain }));
    return mapped ? { ...e, to: formatAddress(mapped) } : e;
  }

  #local(transport = this.#transportDefault): { hostport: string; transport: TransportName } | null {
    const l = this.transport.local(transport);
    return l ? { hostport: this.#hostport(l.host, l.port), transport: l.transport } : null;
  }

  #hostport(host: string, port: number): string {
    const h = this.config.advertise ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);
    return `${net.isIPv6(h) ? `[${h}]` : h}:${port}`;
  }

  async start(ctx: AdapterContext): Promise<void> {
    this.#ctx = ctx;
    this.#imdn = new ImdnState(ctx.state, 'imdn:');
    try {
      await this.transport.start();
    } catch (err) {
      this.#setState('down', `cannot listen: ${(err as Error).message}`);
      throw err;
    }
    this.#setState('up');
    this.logger.info({ listen: this.transport.bound() }, 'SIP adapter listening');
  }

  #setState(state: LinkStatus['state'], detail?: string): void {
    this.#ctx?.setStatus(state, detail);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.calls.stop();
    this.layer.stop();
    await this.transport.stop();
    this.#setState('stopped');
  }

  /** True when the source address is one of the configured peers. */
  permitted(address: string): boolean {
    return this.#peers.permitted(address);
  }

  // -------------------------------------------------------------------------------------
  // Inbound

  #respondStateless(req: SipRequest, source: Endpoint, res: SipResponse): void {
    let dest: Endpoint;
    try {
      dest = this.transport.responseTarget(req, source);
    } catch {
      return;
    }
    this.transport.send(res, dest).catch((err: unknown) => {
      this.logger.warn({ err: (err as Error).message }, 'could not send a SIP response');
    });
  }

  #onUnparsable(raw: Buffer, err: ParseError, source: Endpoint): void {
    if (!this.permitted(source.address)) return; // garbage from strangers: dropped, logged by the transport
    const req = salvageRequest(raw);
    if (!req) return;
    try {
      stampVia(req, source);
    } catch {
      return;
    }
    this.#respondStateless(req, source, makeResponse(req, err.status, err.message, [], randomHex(8)));
  }

  #onMessage(msg: SipMessage, source: Endpoint): void {
    if (msg.kind === 'response') {
      try {
        validateResponse(msg);
        if (!this.layer.receiveResponse(msg))
          this.logger.debug({ status: msg.status }, 'SIP response matches no transaction');
      } catch (err) {
        this.logger.warn({ source, reason: (err as Error).message }, 'dropped a malformed SIP response');
      }
      return;
    }
    try {
      stampVia(msg, source);
    } catch (err) {
      this.logger.warn({ source, reason: (err as Error).message }, 'dropped a SIP request with a bad Via');
      return;
    }
    if (msg.method === 'ACK' && !this.permitted(source.address)) return;
    if (!this.permitted(source.address)) {
      this.logger.warn({ source, method: msg.method }, 'SIP request from an address not in peers');
      const why = 'Source address is not a permitted peer';
      this.#respondStateless(msg, source, makeResponse(msg, 403, 'Forbidden', [warning(why)], randomHex(8)));
      return;
    }
    let tx: ServerTransaction | null;
    try {
      validateRequest(msg);
      tx = this.layer.receiveRequest(msg, source);
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      if (msg.method !== 'ACK')
        this.#respondStateless(msg, source, makeResponse(msg, err.status, err.message, [], randomHex(8)));
      return;
    }
    if (msg.method === 'ACK') {
      if (tx) this.calls.ack(msg); // an ACK for a 2xx (one for a non-2xx was absorbed by its transaction)
      return;
    }
    if (!tx) return; // an absorbed retransmission
    // A copy a UDP Service sent to this replica may belong to another's transaction.
    if (tx.source.transport === 'udp') {
      const own = tx;
      void this.#claims.claim(own).then((mine) => mine && this.#requests.dispatch(msg, own));
      return;
    }
    this.#requests.dispatch(msg, tx);
  }

  /** The pipeline reports refusals here; SIP answers them in-band from the SubmitOutcome. */
  async refuse(event: CanonicalEvent, refusal: Refusal): Promise<void> {
    if (this.#inBand.answering(event.id)) {
      this.#inBand.keep(event.id, refusal);
      return;
    }
    // Its MESSAGE was answered already (202: queued elsewhere) and it failed later: tell
    // the sender with a MESSAGE from the recipient's address (RFC 3428 has no later error).
    if (event.kind === 'message' && event.adapter === this.name) {
      const text = `[Parley] Your message could not be delivered: ${refusal.reason}`;
      const r = await this.#outbound.send(
        event.to,
        event.from,
        Buffer.from(text, 'utf8'),
        'text/plain;charset=UTF-8',
      );
      if (!r.ok)
        this.logger.warn({ eventId: event.id, reason: r.reason }, 'could not tell a SIP sender of a bounce');
    }
  }

  /** A degraded delivery: a MESSAGE to the sender from the recipient's address (as a bounce is). */
  async notice(event: CanonicalEvent, notice: Notice): Promise<void> {
    if (this.#stopping) return;
    const text = Buffer.from(`[Parley] ${notice.text}`, 'utf8');
    const r = await this.#outbound.send(event.to, event.from, text, 'text/plain;charset=UTF-8');
    if (!r.ok)
      this.logger.warn(
        { eventId: event.id, reason: r.reason },
        'could not tell a SIP sender of a degradation',
      );
  }

  // -------------------------------------------------------------------------------------
  // Outbound

  async deliver(delivery: Delivery): Promise<DeliveryResult> {
    if (this.#stopping) return { ok: false, reason: 'the SIP adapter is stopping' };
    return dispatchKind(this.#table, delivery);
  }
}
