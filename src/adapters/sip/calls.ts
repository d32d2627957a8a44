// Calls (RFC 3261 §12-15): INVITE dialogs <-> canonical call events.
//   SIP caller:  INVITE -> call invite; ringing -> 180; answer -> 200+SDP (retransmitted
//                until ACK); hangup -> 486/603/480 before the answer, BYE after; CANCEL and
//                BYE from SIP -> hangup.
//   SIP callee:  call invite -> INVITE (client transaction, Timers A/B); 180/183 -> ringing;
//                2xx -> ACK + answer; non-2xx -> hangup; hangup -> CANCEL or BYE.
// Re-INVITEs are refused with 488 without touching the dialog.
import type { DeliveryResult, SubmitOutcome } from '../../core/adapter.js';
import { formatAddress, tryParseAddress } from '../../core/address.js';
import type { Logger } from '../../core/logger.js';
import type { CallEvent, CanonicalEvent } from '../../core/model.js';
import { newTraceId } from '../../core/pipeline.js';
import {
  getHeader,
  getHeaders,
  type Header,
  isSipUri,
  ParseError,
  parseCSeq,
  parseMediaType,
  parseNameAddr,
  type SipRequest,
  type SipResponse,
  tagOf,
} from './message.js';
import type { Router } from './nexthop.js';
import { randomHex } from './random.js';
import { sdpToSession, sessionToSdp } from './sdp.js';
import { ownVia, type ServerTransaction, type TransactionLayer } from './transaction.js';
import type { Endpoint, TransportName } from './transport.js';

const rand = (n = 8) => randomHex(n);

interface Local {
  /** sent-by host:port for Via, host for Contact. */
  hostport: string;
  transport: TransportName;
}

interface CallBase {
  callId: string;
  sipCallId: string;
  /** Canonical addresses: `caller` placed the call, `callee` receives it. */
  caller: string;
  callee: string;
  localTag: string;
  remoteTag?: string;
  /** The dialog's From/To as we write them on requests we send inside it. */
  localUri: string;
  remoteUri: string;
  remoteTarget?: string;
  routeSet: string[];
  localSeq: number;
  state: 'early' | 'answered' | 'confirmed' | 'ended';
}

interface InboundCall extends CallBase {
  dir: 'in';
  tx: ServerTransaction;
  invite: SipRequest;
  ok?: SipResponse;
  okTimer?: NodeJS.Timeout;
}

interface OutboundCall extends CallBase {
  dir: 'out';
  /** The INVITE as last sent, and where: a CANCEL follows it there (RFC 3261 §9.1). */
  invite: SipRequest;
  target?: Endpoint;
}

type Call = InboundCall | OutboundCall;

export interface CallDeps {
  name: string;
  layer: TransactionLayer;
  logger: Logger;
  /** Our address on a transport (default: the one requests are built for). */
  local: (transport?: TransportName) => Local | null;
  /** Where requests go (the route, or RFC 3263 on the next URI). */
  router: Router;
  submit: (e: CanonicalEvent) => Promise<SubmitOutcome>;
  /** Answer an inbound INVITE from a SubmitOutcome that was not a delivery. */
  refusalResponse: (eventId: string, outcome: SubmitOutcome) => [number, string, Header[]];
}

const sipAddr = (uri: string): string | null => {
  try {
    const u = parseNameAddr(uri, 'address').uri;
    if (!isSipUri(u) || u.user === undefined) return null;
    const a = tryParseAddress(formatAddress({ network: 'sip', user: u.user, domain: u.host }));
    return a ? formatAddress(a) : null;
  } catch {
    return null;
  }
};

export class CallManager {
  readonly #calls = new Map<string, Call>(); // by canonical call id
  readonly #bySip = new Map<string, Call>(); // by SIP Call-ID

  constructor(readonly deps: CallDeps) {}

  get size(): number {
    return this.#calls.size;
  }

  #add(c: Call): void {
    this.#calls.set(c.callId, c);
    this.#bySip.set(c.sipCallId, c);
  }

  #end(c: Call): void {
    c.state = 'ended';
    if (c.dir === 'in' && c.okTimer) clearTimeout(c.okTimer);
    this.#calls.delete(c.callId);
    this.#bySip.delete(c.sipCallId);
  }

  #event(
    c: Call,
    from: string,
    to: string,
    action: CallEvent['action'],
    extra: Partial<CallEvent> = {},
  ): CallEvent {
    return {
      kind: 'call',
      id: `${c.callId}:${action}:${rand(4)}`.slice(0, 512),
      time: new Date().toISOString(),
      from,
      to,
      adapter: this.deps.name,
      traceId: newTraceId(),
      action,
      callId: c.callId,
      ...extra,
    };
  }

  /** Tell the other network; a refusal at this point ends the call on our side too. */
  #tell(c: Call, e: CallEvent): void {
    this.deps.submit(e).then(
      (out) => {
        if ((out.status === 'denied' || out.status === 'failed') && e.action !== 'hangup') {
          this.deps.logger.warn(
            { callId: c.callId, action: e.action, outcome: out.status },
            'call event refused',
          );
        }
      },
      (err: unknown) => this.deps.logger.error({ err }, 'call event submit failed'),
    );
  }

  // -------------------------------------------------------------------------------------
  // SIP -> canonical

  /** A new INVITE (no To tag) in its server transaction. */
  async inboundInvite(
    req: SipRequest,
    tx: ServerTransaction,
    localTag: string,
    respond: (status: number, reason: string, headers?: Header[]) => SipResponse,
  ): Promise<void> {
    tx.respond(respond(100, 'Trying'));
    const ct = getHeader(req, 'Content-Type');
    let session: ReturnType<typeof sdpToSession>;
    try {
      if (!ct || `${parseMediaType(ct).type}/${parseMediaType(ct).subtype}` !== 'application/sdp') {
        throw new ParseError('an SDP offer in the INVITE is required', 488);
      }
      session = sdpToSession(req.body.toString('utf8'));
    } catch (err) {
      const e = err instanceof ParseError ? err : new ParseError(String(err), 488);
      tx.respond(respond(e.status, e.message, [{ name: 'Accept', value: 'application/sdp' }]));
      return;
    }
    const caller = sipAddr(getHeader(req, 'From')!);
    const callee = sipAddr(getHeader(req, 'To')!);
    if (!caller || !callee) {
      tx.respond(respond(404, 'Not Found'));
      return;
    }
    const sipCallId = getHeader(req, 'Call-ID')!;
    const contact = getHeaders(req, 'Contact')[0];
    const call: InboundCall = {
      dir: 'in',
      callId: sipCallId.slice(0, 256),
      sipCallId,
      caller,
      callee,
      localTag,
      remoteTag: tagOf(getHeader(req, 'From')),
      localUri: `${getHeader(req, 'To')!.replace(/;tag=[^;]*/, '')};tag=${localTag}`,
      remoteUri: getHeader(req, 'From')!,
      routeSet: getHeaders(req, 'Record-Route'),
      localSeq: Math.floor(Math.random() * 10_000) + 1,
      state: 'early',
      tx,
      invite: req,
    };
    if (contact) call.remoteTarget = parseRemoteUri(contact);
    this.#add(call);
    const e = this.#event(call, caller, callee, 'invite', { session });
    const out = await this.deps.submit(e);
    if (out.status === 'delivered' || out.status === 'queued') return; // the callee rings; wait for its answer
    const [status, reason, headers] = this.deps.refusalResponse(e.id, out);
    tx.respond(respond(status, reason, headers));
    this.#end(call);
  }

  /** An ACK outside any transaction: the ACK for our 2xx. */
  ack(req: SipRequest): void {
    const c = this.#bySip.get(getHeader(req, 'Call-ID') ?? '');
    if (c?.dir === 'in' && c.state === 'answered') {
      c.state = 'confirmed';
      if (c.okTimer) clearTimeout(c.okTimer);
    }
  }

  /** BYE inside a dialog: 200, and the other side is told. */
  bye(req: SipRequest): [number, string] {
    const c = this.#bySip.get(getHeader(req, 'Call-ID') ?? '');
    if (!c || c.state === 'ended') return [481, 'Call/Transaction Does Not Exist'];
    const fromTag = tagOf(getHeader(req, 'From'));
    if (fromTag !== c.remoteTag) return [481, 'Call/Transaction Does Not Exist'];
    const [from, to] = c.dir === 'in' ? [c.caller, c.callee] : [c.callee, c.caller];
    this.#tell(c, this.#event(c, from, to, 'hangup', { reason: 'hangup' }));
    this.#end(c);
    return [200, 'OK'];
  }

  /** CANCEL matched to the INVITE server transaction. */
  cancel(invite: ServerTransaction): [number, string] {
    const c = this.#bySip.get(getHeader(invite.request, 'Call-ID') ?? '');
    if (c?.dir !== 'in' || c.state !== 'early') return [481, 'Call/Transaction Does Not Exist'];
    invite.respond(this.#inviteResponse(c, 487, 'Request Terminated'));
    this.#tell(c, this.#event(c, c.caller, c.callee, 'hangup', { reason: 'cancelled' }));
    this.#end(c);
    return [200, 'OK'];
  }

  /** A re-INVITE (To tag present): refused with 488, the dialog stays as it is. */
  isKnownDialog(req: SipRequest): boolean {
    return this.#bySip.has(getHeader(req, 'Call-ID') ?? '');
  }

  /** A 2xx to an INVITE that no transaction matched: a retransmission; ACK it again. */
  stray2xx(res: SipResponse): void {
    const c = this.#bySip.get(getHeader(res, 'Call-ID') ?? '');
    if (c?.dir === 'out' && (c.state === 'confirmed' || c.state === 'answered')) this.#sendAck(c);
  }

  // -------------------------------------------------------------------------------------
  // canonical -> SIP

  async deliver(e: CallEvent): Promise<DeliveryResult> {
    if (e.action === 'invite') return this.#outboundInvite(e);
    const c = this.#calls.get(e.callId);
    if (!c) return { ok: false, refused: true, reason: `no SIP call ${e.callId}` };
    switch (e.action) {
      case 'ringing':
        if (c.dir === 'in' && c.state === 'early') c.tx.respond(this.#inviteResponse(c, 180, 'Ringing'));
        return { ok: true };
      case 'answer': {
        if (c.dir !== 'in' || c.state !== 'early')
          return { ok: false, refused: true, reason: 'the call is not ringing' };
        if (!e.session) return { ok: false, refused: true, reason: 'an answer needs a session description' };
        const local = this.deps.local();
        const host = local?.hostport.replace(/:\d+$/, '').replace(/^\[|\]$/g, '') ?? '127.0.0.1';
        const sdp = sessionToSdp(e.session, host, Date.now() % 1_000_000_000);
        const ok = this.#inviteResponse(c, 200, 'OK', { type: 'application/sdp', data: Buffer.from(sdp) });
        c.ok = ok;
        c.state = 'answered';
        c.tx.respond(ok);
        this.#retransmitOk(c);
        return { ok: true };
      }
      case 'hangup':
        return this.#hangup(c, e.reason);
      default:
        return { ok: false, refused: true, reason: `SIP cannot signal ${e.action}` };
    }
  }

  #inviteResponse(
    c: InboundCall,
    status: number,
    reason: string,
    body?: { type: string; data: Buffer },
  ): SipResponse {
    const headers: Header[] = [];
    for (const h of c.invite.headers) {
      if (
        h.name === 'Via' ||
        h.name === 'From' ||
        h.name === 'Call-ID' ||
        h.name === 'CSeq' ||
        h.name === 'Record-Route'
      )
        headers.push({ ...h });
      else if (h.name === 'To') headers.push({ name: 'To', value: c.localUri });
    }
    // The Contact on the transport the INVITE came over: a TLS caller keeps talking TLS.
    const local = this.deps.local(c.tx.source.transport) ?? this.deps.local();
    if (local && status > 100 && status < 300) {
      const user = parseNameAddr(c.localUri, 'To').uri;
      const u = isSipUri(user) && user.user ? `${user.user}@` : '';
      headers.push({ name: 'Contact', value: `<sip:${u}${local.hostport};transport=${local.transport}>` });
    }
    headers.push({ name: 'Server', value: 'Parley' });
    if (body) headers.push({ name: 'Content-Type', value: body.type });
    return { kind: 'response', status, reason, headers, body: body?.data ?? Buffer.alloc(0) };
  }

  /** §13.3.1.4: the UAS retransmits its 2xx until the ACK; after 64*T1 it gives up with BYE. */
  #retransmitOk(c: InboundCall): void {
    const { t1, t2 } = this.deps.layer.timers;
    const started = Date.now();
    let interval = t1;
    const tick = () => {
      if (c.state !== 'answered' || !c.ok) return;
      if (Date.now() - started >= 64 * t1) {
        this.deps.logger.warn({ callId: c.callId }, 'no ACK for 200 OK; ending the call');
        this.#sendBye(c).catch(() => {});
        this.#tell(c, this.#event(c, c.caller, c.callee, 'hangup', { reason: 'no ACK' }));
        this.#end(c);
        return;
      }
      this.deps.layer.transport
        .send(c.ok, this.deps.layer.transport.responseTarget(c.invite, c.tx.source))
        .catch(() => {});
      interval = Math.min(2 * interval, t2);
      c.okTimer = setTimeout(tick, interval);
      c.okTimer.unref();
    };
    c.okTimer = setTimeout(tick, interval);
    c.okTimer.unref();
  }

  async #hangup(c: Call, reason: string | undefined): Promise<DeliveryResult> {
    if (c.dir === 'in') {
      if (c.state === 'early') {
        const [status, phrase] =
          reason === 'busy'
            ? [486, 'Busy Here']
            : reason === 'declined'
              ? [603, 'Decline']
              : [480, 'Temporarily Unavailable'];
        c.tx.respond(this.#inviteResponse(c, status, phrase));
        this.#end(c);
        return { ok: true };
      }
      const r = await this.#sendBye(c);
      this.#end(c);
      return r;
    }
    if (c.state === 'early') {
      const r = await this.#sendCancel(c);
      this.#end(c);
      return r;
    }
    const r = await this.#sendBye(c);
    this.#end(c);
    return r;
  }

  #via(): string | null {
    const local = this.deps.local();
    return local ? ownVia(local.transport, local.hostport) : null;
  }

  async #send(req: SipRequest): Promise<DeliveryResult> {
    const { result: r } = await this.deps.router.send(req);
    if (!r.ok) return { ok: false, refused: r.declined === true, reason: r.reason };
    return r.response.status < 300
      ? { ok: true }
      : { ok: false, refused: true, reason: `${r.response.status} ${r.response.reason}` };
  }

  #inDialog(c: Call, method: string, seq: number): SipRequest | null {
    const via = this.#via();
    if (!via) return null;
    const remote =
      c.remoteTag && !/;tag=/.test(c.remoteUri) ? `${c.remoteUri};tag=${c.remoteTag}` : c.remoteUri;
    return {
      kind: 'request',
      method,
      uri: c.remoteTarget ?? parseRemoteUri(c.remoteUri),
      headers: [
        { name: 'Via', value: via },
        ...c.routeSet.map((r) => ({ name: 'Route', value: r })),
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: c.localUri },
        { name: 'To', value: remote },
        { name: 'Call-ID', value: c.sipCallId },
        { name: 'CSeq', value: `${seq} ${method}` },
        { name: 'User-Agent', value: 'Parley' },
      ],
      body: Buffer.alloc(0),
    };
  }

  #sendBye(c: Call): Promise<DeliveryResult> {
    c.localSeq++;
    const bye = this.#inDialog(c, 'BYE', c.localSeq);
    return bye ? this.#send(bye) : Promise.resolve({ ok: false, refused: true, reason: 'no listener' });
  }

  #sendAck(c: OutboundCall): void {
    const seq = parseCSeq(getHeader(c.invite, 'CSeq')!).seq;
    const ack = this.#inDialog(c, 'ACK', seq);
    if (ack) this.deps.router.sendStateless(ack).catch(() => {});
  }

  async #sendCancel(c: OutboundCall): Promise<DeliveryResult> {
    // CANCEL: the INVITE's Request-URI, top Via (same branch), From, To, Call-ID and CSeq number.
    const inv = c.invite;
    const cancel: SipRequest = {
      kind: 'request',
      method: 'CANCEL',
      uri: inv.uri,
      headers: [
        { name: 'Via', value: getHeaders(inv, 'Via')[0]! },
        ...inv.headers.filter((h) => h.name === 'Route'),
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: getHeader(inv, 'From')! },
        { name: 'To', value: getHeader(inv, 'To')! },
        { name: 'Call-ID', value: c.sipCallId },
        { name: 'CSeq', value: `${parseCSeq(getHeader(inv, 'CSeq')!).seq} CANCEL` },
      ],
      body: Buffer.alloc(0),
    };
    if (!c.target) return { ok: false, refused: true, reason: 'the INVITE was not sent' };
    const r = await this.deps.layer.request(cancel, c.target).done;
    if (!r.ok) return { ok: false, refused: r.declined === true, reason: r.reason };
    return r.response.status < 300
      ? { ok: true }
      : { ok: false, refused: true, reason: `${r.response.status} ${r.response.reason}` };
  }

  async #outboundInvite(e: CallEvent): Promise<DeliveryResult> {
    if (!e.session) return { ok: false, refused: true, reason: 'SIP needs an SDP offer in the call invite' };
    if (this.#calls.has(e.callId))
      return { ok: false, refused: true, reason: 'this call is already in progress' };
    const local = this.deps.local();
    const from = tryParseAddress(e.from);
    const to = tryParseAddress(e.to);
    if (!local || !from || !to) return { ok: false, refused: true, reason: 'cannot address the call' };
    const host = local.hostport.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    const localTag = rand();
    const fromUri = formatAddress({ network: 'sip', user: from.user, domain: from.domain });
    const toUri = formatAddress({ network: 'sip', user: to.user, domain: to.domain });
    const sipCallId = `${rand(12)}@${host}`;
    const sdp = sessionToSdp(e.session, host, Date.now() % 1_000_000_000);
    const invite: SipRequest = {
      kind: 'request',
      method: 'INVITE',
      uri: toUri,
      headers: [
        { name: 'Via', value: this.#via()! },
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: `<${fromUri}>;tag=${localTag}` },
        { name: 'To', value: `<${toUri}>` },
        { name: 'Call-ID', value: sipCallId },
        { name: 'CSeq', value: '1 INVITE' },
        { name: 'Contact', value: `<sip:${from.user}@${local.hostport};transport=${local.transport}>` },
        { name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, MESSAGE, OPTIONS' },
        { name: 'Content-Type', value: 'application/sdp' },
        { name: 'User-Agent', value: 'Parley' },
      ],
      body: Buffer.from(sdp),
    };
    const call: OutboundCall = {
      dir: 'out',
      callId: e.callId,
      sipCallId,
      caller: e.from,
      callee: e.to,
      localTag,
      localUri: `<${fromUri}>;tag=${localTag}`,
      remoteUri: `<${toUri}>`,
      routeSet: [],
      localSeq: 1,
      state: 'early',
      invite,
    };
    this.#add(call);
    let rang = false;
    let settle!: (r: DeliveryResult) => void;
    const accepted = new Promise<DeliveryResult>((r) => {
      settle = r;
    });
    const onProvisional = (res: SipResponse) => {
      settle({ ok: true }); // the next hop took the INVITE
      if ((res.status === 180 || res.status === 183) && !rang && call.state === 'early') {
        rang = true;
        this.#tell(call, this.#event(call, call.callee, call.caller, 'ringing'));
      }
    };
    const onAttempt = (req: SipRequest, target: Endpoint) => {
      call.invite = req;
      call.target = target;
    };
    this.deps.router.send(invite, { onAttempt, onProvisional }).then(({ result: r }) => {
      if (call.state === 'ended') {
        settle({ ok: true });
        return;
      }
      if (!r.ok) {
        settle({ ok: false, refused: r.declined === true, reason: r.reason });
        if (rang)
          this.#tell(call, this.#event(call, call.callee, call.caller, 'hangup', { reason: 'timeout' }));
        this.#end(call);
        return;
      }
      const res = r.response;
      if (res.status >= 300) {
        const reason =
          res.status === 486 || res.status === 600
            ? 'busy'
            : res.status === 603
              ? 'declined'
              : `${res.status} ${res.reason}`;
        settle({ ok: false, refused: true, reason: `${res.status} ${res.reason}` });
        // Once the caller was told it rings, the failure comes as a hangup.
        if (rang) this.#tell(call, this.#event(call, call.callee, call.caller, 'hangup', { reason }));
        this.#end(call);
        return;
      }
      call.remoteTag = tagOf(getHeader(res, 'To'));
      call.remoteUri = getHeader(res, 'To')!;
      const contact = getHeaders(res, 'Contact')[0];
      if (contact) call.remoteTarget = parseRemoteUri(contact);
      call.routeSet = getHeaders(res, 'Record-Route').reverse();
      call.state = 'confirmed';
      this.#sendAck(call);
      settle({ ok: true });
      let session: ReturnType<typeof sdpToSession> | undefined;
      try {
        session = sdpToSession(res.body.toString('utf8'));
      } catch {
        session = undefined;
      }
      if (!session) {
        // A 2xx without a usable answer cannot carry media: end it visibly.
        this.#sendBye(call).catch(() => {});
        this.#tell(call, this.#event(call, call.callee, call.caller, 'hangup', { reason: 'no SDP answer' }));
        this.#end(call);
        return;
      }
      this.#tell(call, this.#event(call, call.callee, call.caller, 'answer', { session }));
    });
    return accepted;
  }

  stop(): void {
    for (const c of this.#calls.values()) this.#end(c);
  }
}

function parseRemoteUri(nameAddr: string): string {
  const m = /<([^>]*)>/.exec(nameAddr);
  return m ? m[1]! : nameAddr.split(';')[0]!.trim();
}
