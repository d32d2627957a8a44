// The SIP adapter: Parley's SIP side. Inbound MESSAGE (RFC 3428: text/plain, message/cpim,
// isComposing per RFC 3994) becomes canonical events, answered in-band from the pipeline's
// SubmitOutcome (200/202 on acceptance, 403 with the rule's reason when denied). Outbound
// events become MESSAGE requests to the configured next hop in a client transaction.
import { createHash } from 'node:crypto';
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
import { bareId, formatAddress, tryParseAddress } from '../../core/address.js';
import { ChurnMap } from '../../core/churn-map.js';
import type { Logger } from '../../core/logger.js';
import { Memo } from '../../core/memo.js';
import type { CanonicalEvent, MessageEvent, ReceiptEvent } from '../../core/model.js';
import { newTraceId } from '../../core/pipeline.js';
import { type AuthVerdict, DigestAuth } from './auth.js';
import { CallManager } from './calls.js';
import { TransactionClaims } from './claims.js';
import { domainServed, type ResolvedSipConfig } from './config.js';
import { isComposingXml, readBody } from './content.js';
import { SipResolver } from './dns.js';
import {
  cpimBody,
  dispositionOf,
  dispositionsFor,
  ImdnState,
  imdnMessageId,
  imdnXml,
  type Notification,
  readImdn,
  requestsOf,
  statusOf,
} from './imdn.js';
import {
  getHeader,
  getHeaders,
  type Header,
  hasControl,
  isSipUri,
  type NameAddrView,
  ParseError,
  parseCSeq,
  type SipMessage,
  type SipRequest,
  type SipResponse,
  salvageRequest,
  tagOf,
  validateRequest,
  validateResponse,
  viewNameAddr,
} from './message.js';
import { defaultTransport, Router } from './nexthop.js';
import { PresenceManager, pidfToPresence } from './presence.js';
import { randomHex } from './random.js';
import { ownVia, type ServerTransaction, TransactionLayer } from './transaction.js';
import { type Endpoint, SipTransport, stampVia, type TransportName } from './transport.js';

const ALLOW = 'INVITE, ACK, CANCEL, BYE, MESSAGE, OPTIONS, SUBSCRIBE, PUBLISH';
const ACCEPT = 'text/plain, message/cpim, application/im-iscomposing+xml';
/** RFC 3428 §6: over a transport without congestion control a MESSAGE stays under 1300 bytes. */
const UDP_MESSAGE_LIMIT = 1300;

const rand = (n = 8) => randomHex(n);
/** A reason phrase or Warning text: no control characters, no quotes, bounded. */
const phrase = (s: string) =>
  [...s]
    .map((c) => (hasControl(c) || c === '"' || c === '\\' ? ' ' : c))
    .join('')
    .slice(0, 200)
    .trim() || 'Forbidden';

export function sipCapabilities(routeTransport: TransportName): Capabilities {
  return {
    // Receipts travel as IMDN (RFC 5438) where the SIP user asked for them (imdn.ts).
    kinds: new Set(['message', 'chatstate', 'receipt', 'call', 'presence']),
    edits: false,
    html: false,
    attachments: false,
    // Trickle ICE has no SIP counterpart here: candidates travel in the SDP.
    callActions: new Set(['invite', 'ringing', 'answer', 'hangup']),
    maxBodyLength: routeTransport === 'udp' ? 1000 : 60_000,
  };
}

/** Build a response to a request (RFC 3261 §8.2.6): Via, From, To (+tag), Call-ID, CSeq copied. */
export function makeResponse(
  req: SipRequest,
  status: number,
  reason: string,
  extra: Header[] = [],
  toTag?: string,
): SipResponse {
  const headers: Header[] = [];
  for (const h of req.headers) {
    if (h.name === 'Via' || h.name === 'From' || h.name === 'Call-ID' || h.name === 'CSeq')
      headers.push({ ...h });
    else if (h.name === 'To') {
      let value = h.value;
      if (status > 100 && toTag) {
        try {
          if (!viewNameAddr(value, 'To').params.has('tag')) value = `${value};tag=${toTag}`;
        } catch {
          // unparsable To (a salvaged request): copied as is
        }
      }
      headers.push({ name: 'To', value });
    }
  }
  headers.push({ name: 'Server', value: 'Parley' }, ...extra);
  return { kind: 'response', status, reason: phrase(reason), headers, body: Buffer.alloc(0) };
}

/** An address and family as net.BlockList checks them (IPv4-mapped IPv6 as IPv4). */
const aclForm = (address: string): [string, 'ipv4' | 'ipv6'] => {
  const mapped = address.startsWith('::ffff:') && /^::ffff:\d+\./.test(address);
  if (mapped) return [address.slice(7), 'ipv4'];
  return [address, net.isIPv6(address) ? 'ipv6' : 'ipv4'];
};

export class SipAdapter implements Adapter {
  readonly network = 'sip' as const;
  readonly domains: readonly string[];
  readonly capabilities: Capabilities;
  readonly transport: SipTransport;
  readonly layer: TransactionLayer;
  /** Server transactions claimed in the store, so that replicas handle each once. */
  readonly #claims: TransactionClaims;
  readonly calls: CallManager;
  readonly presence: PresenceManager;
  #ctx: AdapterContext | null = null;
  #state: LinkStatus = { state: 'starting', since: new Date().toISOString() };
  readonly #acl = new net.BlockList();
  /** Each peers entry's addresses and the domains it may assert identities in. */
  readonly #peerLists: { list: net.BlockList; domains: readonly string[] }[] = [];
  readonly #auth: DigestAuth | null;
  /** The route's transport, else the transport of the first listener (Via/Contact before retargeting). */
  readonly #transportDefault: TransportName;
  readonly router: Router;
  /** Refusals the pipeline reported for events still being answered in-band. */
  readonly #refusals = new Map<string, { refusal: Refusal; at: number }>();
  /** Events submitted and not yet answered in-band (their refusals are answered as SIP responses). */
  readonly #answering = new ChurnMap<true>();
  #stopping = false;
  #imdn: ImdnState | null = null;

  constructor(
    readonly name: string,
    readonly config: ResolvedSipConfig,
    readonly logger: Logger,
  ) {
    this.domains = config.domains;
    this.#transportDefault = defaultTransport(config);
    this.capabilities = sipCapabilities(this.#transportDefault);
    for (const p of config.peers) {
      this.#acl.addSubnet(p.address, p.prefix, p.family);
      const list = new net.BlockList();
      list.addSubnet(p.address, p.prefix, p.family);
      this.#peerLists.push({ list, domains: p.domains });
    }
    this.#auth = config.auth ? new DigestAuth(config.auth) : null;
    this.transport = new SipTransport(
      config.listen,
      {
        onMessage: (msg, source) => this.#onMessage(msg, source),
        onUnparsable: (raw, err, source) => this.#onUnparsable(raw, err, source),
      },
      logger,
      {
        maxBody: config.maxBodyBytes,
        udpReceiveBuffer: config.udpReceiveBufferBytes,
        udpThread: config.udpThread,
        tcp: config.tcp,
      },
      config.tls,
      (address) => this.permitted(address),
    );
    this.layer = new TransactionLayer(this.transport, config.timers, logger);
    this.#claims = new TransactionClaims({
      adapter: name,
      store: () => this.#ctx?.store ?? null,
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
        this.#outcomeResponse(id, outcome) ?? [500, 'Server Internal Error', []],
    });
    this.presence = new PresenceManager({
      name,
      layer: this.layer,
      logger,
      store: () => this.#ctx?.store ?? null,
      networkOf: (d) => this.#ctx?.networkOf(d) ?? null,
      local: (t) => this.#local(t),
      router: this.router,
      submit: (e) => this.#submit(e),
    });
  }

  async #submit(e: CanonicalEvent): Promise<SubmitOutcome> {
    if (!this.#ctx) return { status: 'failed', code: 'shutdown', reason: 'not started' };
    this.#answering.set(e.id, true);
    try {
      return await this.#ctx.submit(this.#recipientOnItsNetwork(e));
    } finally {
      this.#answering.delete(e.id);
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
    this.#imdn = new ImdnState(ctx.store, `sip:${this.name}:imdn:`);
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
    this.#state = { state, since: new Date().toISOString(), ...(detail ? { detail } : {}) };
    this.#ctx?.setStatus(state, detail);
  }

  status(): LinkStatus {
    return this.#state;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.calls.stop();
    this.layer.stop();
    await this.transport.stop();
    this.#setState('stopped');
  }

  /** Answers per source address: BlockList.check builds a SocketAddress each time. */
  readonly #permittedMemo = new Memo<boolean>(4096);

  /** True when the source address is one of the configured peers. */
  permitted(address: string): boolean {
    return this.#permittedMemo.get(address, () => {
      const [a, family] = aclForm(address);
      return this.#acl.check(a, family);
    });
  }

  readonly #speaksForMemo = new Memo<readonly string[]>(4096);

  /**
   * The domains a peer address may assert identities in: those of every peers entry that
   * holds it (an entry without `domains` stands for all of the link's).
   */
  speaksFor(address: string): readonly string[] {
    return this.#speaksForMemo.get(address, () => {
      const [a, family] = aclForm(address);
      const out = new Set<string>();
      for (const p of this.#peerLists) if (p.list.check(a, family)) for (const d of p.domains) out.add(d);
      return [...out];
    });
  }

  /**
   * Why a request asserts an identity its sender may not speak for (null when it may): the
   * From of a MESSAGE, a new INVITE or SUBSCRIBE, and the From and To (the presentity) of a
   * PUBLISH must be in a domain the peer serves, and with digest authentication be the
   * authenticated user@domain itself. Requests inside a dialog were checked when it began;
   * what does not parse is left to the handler (400).
   */
  #identityProblem(req: SipRequest, source: Endpoint, verdict: AuthVerdict | null): string | null {
    const inDialog = tagOf(getHeader(req, 'To')) !== undefined;
    let headers: ('From' | 'To')[];
    switch (req.method) {
      case 'MESSAGE':
        headers = ['From'];
        break;
      case 'INVITE':
      case 'SUBSCRIBE':
        headers = inDialog ? [] : ['From'];
        break;
      case 'PUBLISH':
        headers = ['From', 'To'];
        break;
      default:
        headers = [];
    }
    for (const name of headers) {
      let uri: NameAddrView['uri'];
      try {
        uri = viewNameAddr(getHeader(req, name) ?? '', name).uri;
      } catch {
        continue;
      }
      if (!isSipUri(uri) || uri.user === undefined) continue;
      const host = uri.host.replace(/^\[|\]$/g, '').toLowerCase();
      if (!domainServed(host, this.speaksFor(source.address)))
        return `${name} domain not served by this peer`;
      const auth = this.#auth;
      if (verdict?.ok && auth && (uri.user !== verdict.user || host !== auth.config.domain))
        return `${name} is not the authenticated user ${verdict.user}@${auth.config.domain}`;
    }
    return null;
  }

  /**
   * A request with an identity its sender may not assert: 403 with the reason, logged, and
   * audited through the pipeline (AdapterContext.reject) as the event it would have been.
   */
  async #refuseIdentity(
    req: SipRequest,
    source: Endpoint,
    why: string,
    reply: (status: number, reason: string, extra?: Header[]) => void,
  ): Promise<void> {
    this.logger.warn(
      { method: req.method, source, from: getHeader(req, 'From'), reason: why },
      'SIP request refused: an identity this peer may not assert',
    );
    const event = this.#attemptedEvent(req);
    if (event && this.#ctx) {
      this.#answering.set(event.id, true); // answered here: no bounce MESSAGE to the forged sender
      try {
        await this.#ctx.reject(this.#recipientOnItsNetwork(event), why);
      } finally {
        this.#answering.delete(event.id);
        this.#refusals.delete(event.id);
      }
    }
    reply(403, why, [{ name: 'Warning', value: `399 parley "${phrase(why)}"` }]);
  }

  /**
   * The canonical event a refused request would have become, for its audit record: the
   * message or chat state of a MESSAGE, the call invite of an INVITE, the presence of a
   * PUBLISH (to the presentity). A SUBSCRIBE asks for presence to come later and carries
   * none: it is refused and logged, not audited; so is what has no sip: From and To.
   */
  #attemptedEvent(req: SipRequest): CanonicalEvent | null {
    const addr = (name: 'From' | 'To') => {
      try {
        const u = viewNameAddr(getHeader(req, name) ?? '', name).uri;
        if (!isSipUri(u) || u.user === undefined) return null;
        const a = tryParseAddress(formatAddress({ network: 'sip', user: u.user, domain: u.host }));
        return a ? formatAddress(a) : null;
      } catch {
        return null;
      }
    };
    const from = addr('From');
    const to = addr('To');
    if (!from || !to) return null;
    const cseq = getHeader(req, 'CSeq') ?? '';
    const base = {
      id: `${getHeader(req, 'Call-ID')}:${cseq}`.slice(0, 512),
      time: new Date().toISOString(),
      from,
      to,
      adapter: this.name,
      traceId: newTraceId(),
    };
    switch (req.method) {
      case 'MESSAGE': {
        let content: ReturnType<typeof readBody> | null;
        try {
          content = readBody(req);
        } catch {
          content = null;
        }
        if (content?.kind === 'composing') return { kind: 'chatstate', ...base, state: content.state };
        return { kind: 'message', ...base, body: content?.kind === 'text' ? content.text : '' };
      }
      case 'INVITE':
        return {
          kind: 'call',
          ...base,
          action: 'invite',
          callId: (getHeader(req, 'Call-ID') ?? 'x').slice(0, 256),
        };
      case 'PUBLISH': {
        const state = req.body.length ? pidfToPresence(req.body.toString('utf8')) : null;
        return {
          kind: 'presence',
          ...base,
          show: state?.show ?? 'offline',
          ...(state?.status ? { status: state.status } : {}),
        };
      }
      default:
        return null;
    }
  }

  // -------------------------------------------------------------------------------------
  // Inbound

  /**
   * Digest authentication when configured (null when not). CANCEL cannot be challenged
   * (RFC 3261 §22.1) and a BYE in a known call belongs to a dialog already authenticated.
   */
  #authenticate(req: SipRequest): AuthVerdict | null {
    if (!this.#auth || req.method === 'CANCEL') return null;
    if (req.method === 'BYE' && this.calls.isKnownDialog(req)) return null;
    const v = this.#auth.verify(req);
    if (!v.ok)
      this.logger.info(
        { method: req.method, status: v.status, reason: v.reason },
        'SIP digest authentication',
      );
    return v;
  }

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
    this.#respondStateless(req, source, makeResponse(req, err.status, err.message, [], rand()));
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
      this.#respondStateless(
        msg,
        source,
        makeResponse(msg, 403, 'Forbidden', [{ name: 'Warning', value: `399 parley "${why}"` }], rand()),
      );
      return;
    }
    let tx: ServerTransaction | null;
    try {
      validateRequest(msg);
      tx = this.layer.receiveRequest(msg, source);
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      if (msg.method !== 'ACK')
        this.#respondStateless(msg, source, makeResponse(msg, err.status, err.message, [], rand()));
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
      void this.#claims.claim(own).then((mine) => mine && this.#dispatch(msg, own));
      return;
    }
    this.#dispatch(msg, tx);
  }

  #dispatch(msg: SipRequest, tx: ServerTransaction): void {
    const toTag = rand();
    const reply = (status: number, reason: string, extra: Header[] = []) =>
      tx.respond(makeResponse(msg, status, reason, extra, toTag));
    if (this.#stopping) {
      reply(503, 'Service Unavailable', [{ name: 'Retry-After', value: '5' }]);
      return;
    }
    const verdict = this.#authenticate(msg);
    if (verdict && !verdict.ok) {
      reply(verdict.status, verdict.reason, verdict.headers);
      return;
    }
    if (!verdict) {
      this.#vouchAndHandle(msg, tx, null, toTag, reply);
      return;
    }
    this.#firstUse(verdict.once).then(
      (first) => {
        if (first) return this.#vouchAndHandle(msg, tx, verdict, toTag, reply);
        const again = this.#auth!.replayed();
        this.logger.warn({ method: msg.method, user: verdict.user }, 'SIP digest credentials used twice');
        if (!again.ok) reply(again.status, again.reason, again.headers);
      },
      (err: unknown) => {
        // Without the store the replay cannot be ruled out: refuse rather than accept.
        this.logger.error({ err }, 'SIP digest replay check failed');
        reply(500, 'Server Internal Error', [{ name: 'Retry-After', value: '5' }]);
      },
    );
  }

  #vouchAndHandle(
    msg: SipRequest,
    tx: ServerTransaction,
    verdict: AuthVerdict | null,
    toTag: string,
    reply: (status: number, reason: string, extra?: Header[]) => void,
  ): void {
    const why = this.#identityProblem(msg, tx.source, verdict);
    if (!why) {
      this.#handle(msg, tx, toTag, reply);
      return;
    }
    this.#refuseIdentity(msg, tx.source, why, reply).catch((err: unknown) => {
      this.logger.error({ err }, 'SIP identity refusal failed');
      reply(403, why);
    });
  }

  /** True the first time these credentials are seen (in every replica sharing the store). */
  #firstUse(once: string): Promise<boolean> {
    const ctx = this.#ctx;
    if (!ctx || !this.#auth) return Promise.resolve(false);
    const key = `sip:${this.name}:digest:${createHash('sha256').update(once).digest('base64url')}`;
    return ctx.store.setIfAbsent(key, '1', this.#auth.config.nonceTtlMs + 60_000);
  }

  #handle(
    msg: SipRequest,
    tx: ServerTransaction,
    toTag: string,
    reply: (status: number, reason: string, extra?: Header[]) => void,
  ): void {
    switch (msg.method) {
      case 'MESSAGE':
        this.#handleMessage(msg, reply).catch((err: unknown) => {
          this.logger.error({ err }, 'SIP MESSAGE handling failed');
          reply(500, 'Server Internal Error');
        });
        return;
      case 'OPTIONS':
        reply(200, 'OK', [
          { name: 'Allow', value: ALLOW },
          { name: 'Accept', value: ACCEPT },
          { name: 'Allow-Events', value: 'presence' },
        ]);
        return;
      case 'INVITE': {
        if (tagOf(getHeader(msg, 'To')) !== undefined) {
          // re-INVITE: refused, the dialog stays as it is.
          if (this.calls.isKnownDialog(msg)) reply(488, 'Not Acceptable Here');
          else reply(481, 'Call/Transaction Does Not Exist');
          return;
        }
        this.calls
          .inboundInvite(msg, tx, toTag, (status, reason, extra = []) =>
            makeResponse(msg, status, reason, extra, toTag),
          )
          .catch((err: unknown) => {
            this.logger.error({ err }, 'SIP INVITE handling failed');
            reply(500, 'Server Internal Error');
          });
        return;
      }
      case 'SUBSCRIBE':
        this.presence.subscribe(msg, toTag, reply).catch((err: unknown) => {
          this.logger.error({ err }, 'SIP SUBSCRIBE handling failed');
          reply(500, 'Server Internal Error');
        });
        return;
      case 'PUBLISH':
        this.presence.publish(msg, reply).catch((err: unknown) => {
          this.logger.error({ err }, 'SIP PUBLISH handling failed');
          reply(500, 'Server Internal Error');
        });
        return;
      case 'BYE': {
        const [status, reason] = this.calls.bye(msg);
        reply(status, reason);
        return;
      }
      case 'CANCEL': {
        const invite = this.layer.inviteFor(tx.key);
        const [status, reason] = invite
          ? this.calls.cancel(invite)
          : [481, 'Call/Transaction Does Not Exist'];
        reply(status, reason);
        return;
      }
      default:
        reply(501, 'Not Implemented', [{ name: 'Allow', value: ALLOW }]);
    }
  }

  async #handleMessage(
    req: SipRequest,
    reply: (status: number, reason: string, extra?: Header[]) => void,
  ): Promise<void> {
    const ctx = this.#ctx;
    if (!ctx) return reply(503, 'Service Unavailable');
    let content: ReturnType<typeof readBody>;
    let fromUri: NameAddrView['uri'];
    let toUri: NameAddrView['uri'];
    const imdn = readImdn(req);
    if (imdn.kind === 'error') return reply(400, imdn.reason);
    try {
      content = imdn.kind === 'notification' ? { kind: 'text', text: '' } : readBody(req);
      fromUri = viewNameAddr(getHeader(req, 'From')!, 'From').uri;
      toUri = viewNameAddr(getHeader(req, 'To')!, 'To').uri;
    } catch (err) {
      return reply(400, (err as Error).message);
    }
    if (content.kind === 'unsupported') {
      return reply(415, 'Unsupported Media Type', [{ name: 'Accept', value: ACCEPT }]);
    }
    if (!isSipUri(fromUri) || fromUri.user === undefined)
      return reply(400, 'From must be a sip: URI with a user');
    if (!isSipUri(toUri) || toUri.user === undefined) return reply(404, 'Not Found');
    const from = tryParseAddress(formatAddress({ network: 'sip', user: fromUri.user, domain: fromUri.host }));
    const to = tryParseAddress(formatAddress({ network: 'sip', user: toUri.user, domain: toUri.host }));
    if (!from || !to) return reply(400, 'Unusable From or To address');
    const cseq = parseCSeq(getHeader(req, 'CSeq')!);
    // A message with an imdn.Message-ID keeps it: its receipts will name it.
    const id =
      imdn.kind === 'request'
        ? imdn.request.messageId
        : `${getHeader(req, 'Call-ID')}:${cseq.seq}`.slice(0, 512);
    const base = {
      id,
      time: new Date().toISOString(),
      from: formatAddress(from),
      to: formatAddress(to),
      adapter: this.name,
      traceId: newTraceId(),
    };
    if (imdn.kind === 'notification') return this.#receiveImdn(imdn.notification, base, reply);
    // Remembered before the submit: the recipient's client may answer within the delivery.
    if (imdn.kind === 'request' && content.kind === 'text')
      await this.#imdn?.asked(bareId(from), imdn.request);
    const event: CanonicalEvent =
      content.kind === 'text'
        ? // isComposing (RFC 3994) carries chat states back; receipts need IMDN.
          {
            kind: 'message',
            ...base,
            body: content.text,
            requests: [
              'chatstates',
              ...(imdn.kind === 'request' ? requestsOf(imdn.request.dispositions) : []),
            ],
          }
        : { kind: 'chatstate', ...base, state: content.state };
    const outcome = await this.#submit(event);
    const answer = this.#outcomeResponse(id, outcome);
    if (!answer)
      return reply(outcome.status === 'queued' ? 202 : 200, outcome.status === 'queued' ? 'Accepted' : 'OK');
    reply(...answer);
  }

  /** An IMDN for a message Parley sent becomes a canonical receipt to that message's sender. */
  async #receiveImdn(
    n: Notification,
    base: Omit<ReceiptEvent, 'kind' | 'receipt' | 'messageId'>,
    reply: (status: number, reason: string, extra?: Header[]) => void,
  ): Promise<void> {
    const status = statusOf(n);
    const sent = await this.#imdn?.sentOf(n.messageId);
    const from = tryParseAddress(base.from);
    const to = tryParseAddress(base.to);
    // Only the recipient of a message Parley sent can acknowledge it, and only to its sender.
    if (!status || !sent || !from || !to || sent.to !== bareId(from) || sent.from !== bareId(to)) {
      this.logger.debug(
        { messageId: n.messageId, kind: n.kind, status: n.status },
        'IMDN not carried (no such message sent, or a disposition the model has no receipt for)',
      );
      return reply(200, 'OK');
    }
    const outcome = await this.#submit({
      kind: 'receipt',
      ...base,
      receipt: status,
      messageId: sent.canonicalId,
    });
    const answer = this.#outcomeResponse(base.id, outcome);
    if (!answer) return reply(200, 'OK');
    reply(...answer);
  }

  /** The SIP answer to a SubmitOutcome that was not a delivery (null when it was). */
  #outcomeResponse(id: string, outcome: SubmitOutcome): [number, string, Header[]] | null {
    const refusal = this.#refusals.get(id)?.refusal;
    this.#refusals.delete(id);
    switch (outcome.status) {
      case 'delivered':
      case 'queued':
        return null;
      case 'denied': {
        const code = refusal?.code ?? 'policy';
        const why = phrase(outcome.reason);
        const warn = [
          { name: 'Warning', value: `399 parley "${why}"` },
          ...(outcome.rule ? [{ name: 'Reason', value: `SIP;cause=403;text="${why}"` }] : []),
        ];
        if (code === 'unroutable') return [404, why, warn];
        if (code === 'unsupported') return [488, why, warn];
        return [403, why, warn];
      }
      case 'failed': {
        const why = phrase(refusal?.reason ?? outcome.reason);
        const warn = [{ name: 'Warning', value: `399 parley "${why}"` }];
        switch (outcome.code) {
          case 'invalid':
            return [400, why, warn];
          case 'shutdown':
            return [503, why, [...warn, { name: 'Retry-After', value: '5' }]];
          case 'delivery':
            return [480, why, warn];
          default:
            return [500, why, warn];
        }
      }
    }
  }

  /** The pipeline reports refusals here; SIP answers them in-band from the SubmitOutcome. */
  async refuse(event: CanonicalEvent, refusal: Refusal): Promise<void> {
    if (!this.#answering.has(event.id)) {
      // Its MESSAGE was answered already (202: queued elsewhere) and it failed later: tell
      // the sender with a MESSAGE from the recipient's address (RFC 3428 has no later error).
      if (event.kind === 'message' && event.adapter === this.name) {
        const text = `[Parley] Your message could not be delivered: ${refusal.reason}`;
        const r = await this.#sendMessage(
          event.to,
          event.from,
          Buffer.from(text, 'utf8'),
          'text/plain;charset=UTF-8',
        );
        if (!r.ok)
          this.logger.warn(
            { eventId: event.id, reason: r.reason },
            'could not tell a SIP sender of a bounce',
          );
      }
      return;
    }
    const now = Date.now();
    this.#refusals.set(event.id, { refusal, at: now });
    // Refusals of events answered in-band are consumed at once; those of events nobody
    // answers in-band (presence fan-out, call progress) expire here.
    if (this.#refusals.size > 1000) {
      for (const [id, r] of this.#refusals) if (now - r.at > 60_000) this.#refusals.delete(id);
    }
  }

  /** A degraded delivery: a MESSAGE to the sender from the recipient's address (as a bounce is). */
  async notice(event: CanonicalEvent, notice: Notice): Promise<void> {
    if (this.#stopping) return;
    const text = Buffer.from(`[Parley] ${notice.text}`, 'utf8');
    const r = await this.#sendMessage(event.to, event.from, text, 'text/plain;charset=UTF-8');
    if (!r.ok)
      this.logger.warn(
        { eventId: event.id, reason: r.reason },
        'could not tell a SIP sender of a degradation',
      );
  }

  // -------------------------------------------------------------------------------------
  // Outbound

  async deliver(delivery: Delivery): Promise<DeliveryResult> {
    const e = delivery.event;
    if (e.kind === 'presence') {
      if (this.#stopping) return { ok: false, reason: 'the SIP adapter is stopping' };
      return this.presence.deliver(e);
    }
    if (e.kind === 'call') {
      if (this.#stopping) return { ok: false, reason: 'the SIP adapter is stopping' };
      return this.calls.deliver(e);
    }
    if (this.#stopping) return { ok: false, reason: 'the SIP adapter is stopping' };
    if (e.kind === 'receipt') return this.#deliverReceipt(e);
    if (e.kind === 'message') {
      const out = await this.#messageBody(e);
      return this.#sendMessage(e.from, e.to, out.body, out.type);
    }
    const body = Buffer.from(isComposingXml(e.state === 'composing' ? 'active' : 'idle'), 'utf8');
    return this.#sendMessage(e.from, e.to, body, 'application/im-iscomposing+xml');
  }

  /**
   * text/plain, or CPIM asking for the notifications the sender will take back (e.requests)
   * when the recipient has shown it speaks IMDN (it asked for notifications itself) and the
   * result still fits.
   */
  async #messageBody(e: MessageEvent): Promise<{ body: Buffer; type: string }> {
    const plain = { body: Buffer.from(e.body, 'utf8'), type: 'text/plain;charset=UTF-8' };
    const from = tryParseAddress(e.from);
    const to = tryParseAddress(e.to);
    const dispositions = dispositionsFor(e.requests);
    if (!dispositions.length || !this.#imdn || !from || !to || !(await this.#imdn.capable(bareId(to))))
      return plain;
    const messageId = imdnMessageId(e.id);
    const body = cpimBody({
      from: formatAddress({ network: 'sip', user: from.user, domain: from.domain }),
      to: formatAddress({ network: 'sip', user: to.user, domain: to.domain }),
      messageId,
      dateTime: new Date().toISOString(),
      dispositions,
      contentType: 'text/plain;charset=UTF-8',
      content: e.body,
    });
    // CPIM adds some 300 bytes; over UDP the MESSAGE must stay small (RFC 3428 §6).
    if (this.#transportDefault === 'udp' && body.length + 600 > UDP_MESSAGE_LIMIT) return plain;
    await this.#imdn.sent(messageId, { canonicalId: e.id, from: bareId(from), to: bareId(to) });
    return { body, type: 'message/cpim' };
  }

  /**
   * A receipt becomes an IMDN when the SIP user's message asked for that disposition; else
   * nothing is sent (RFC 5438 §7: no unrequested notifications) and nobody is told
   * (docs/decisions/0006).
   */
  async #deliverReceipt(e: ReceiptEvent): Promise<DeliveryResult> {
    const from = tryParseAddress(e.from);
    const to = tryParseAddress(e.to);
    const state = this.#imdn;
    if (!from || !to || !state) return { ok: false, refused: true, reason: 'malformed address' };
    const d = dispositionOf(e.receipt);
    const asked = await state.askedOf(bareId(to), e.messageId);
    if (!asked?.dispositions.includes(d)) {
      this.logger.debug({ eventId: e.id, messageId: e.messageId, d }, 'receipt not asked for: not sent');
      return { ok: true, notSent: 'the SIP user did not ask for this notification (RFC 5438 §7)' };
    }
    if (!(await state.once(bareId(to), e.messageId, d)))
      return { ok: true, notSent: 'this notification was sent for that message already' };
    const reader = formatAddress({ network: 'sip', user: from.user, domain: from.domain });
    const now = new Date().toISOString();
    const body = cpimBody({
      from: reader,
      to: formatAddress({ network: 'sip', user: to.user, domain: to.domain }),
      messageId: imdnMessageId(e.id),
      dateTime: now,
      contentType: 'message/imdn+xml',
      contentDisposition: 'notification',
      content: imdnXml({
        messageId: e.messageId,
        datetime: asked.dateTime ?? now,
        recipientUri: reader,
        status: e.receipt,
      }),
    });
    const r = await this.#sendMessage(e.from, e.to, body, 'message/cpim');
    if (!r.ok) await state.forget(bareId(to), e.messageId, d);
    return r;
  }

  /** A pager-mode MESSAGE (RFC 3428) to the next hop, in a client transaction. */
  async #sendMessage(
    fromAddr: string,
    toAddr: string,
    body: Buffer,
    contentType: string,
  ): Promise<DeliveryResult> {
    const from = tryParseAddress(fromAddr);
    const to = tryParseAddress(toAddr);
    if (!from || !to) return { ok: false, refused: true, reason: 'malformed address' };
    const local = this.#local();
    if (!local) return { ok: false, refused: true, reason: `no ${this.#transportDefault} listener` };
    const host = local.hostport.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    const fromUri = formatAddress({ network: 'sip', user: from.user, domain: from.domain });
    const toUri = formatAddress({ network: 'sip', user: to.user, domain: to.domain });
    const req: SipRequest = {
      kind: 'request',
      method: 'MESSAGE',
      uri: toUri,
      headers: [
        {
          name: 'Via',
          value: ownVia(local.transport, local.hostport),
        },
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: `<${fromUri}>;tag=${rand()}` },
        { name: 'To', value: `<${toUri}>` },
        { name: 'Call-ID', value: `${rand(12)}@${host}` },
        { name: 'CSeq', value: '1 MESSAGE' },
        { name: 'Content-Type', value: contentType },
        { name: 'User-Agent', value: 'Parley' },
      ],
      body,
    };
    const { result: r } = await this.router.send(req, { maxUdpBytes: UDP_MESSAGE_LIMIT });
    if (!r.ok) return { ok: false, refused: !r.timeout, reason: r.reason };
    const { status, reason } = r.response;
    if (status < 300) return { ok: true };
    const warning = getHeaders(r.response, 'Warning')[0];
    return {
      ok: false,
      // A final response is the network's answer (audited as refused), even a 480 or a 503.
      refused: true,
      reason: `${status} ${reason}${warning ? ` (${warning})` : ''}`,
    };
  }
}
