// The transaction layer (RFC 3261 §17): client and server non-INVITE transactions with
// timers E, F, J and K, and the INVITE server transaction (G, H, I) for the final
// responses Parley gives to INVITEs. Retransmitted requests are absorbed by their server
// transaction (answered with the last response, never handed up twice); once a non-INVITE
// one completed over UDP, the layer keeps only its response as sent for that (Timer J).
import { ChurnMap } from '../../core/churn-map.js';
import type { Logger } from '../../core/logger.js';
import { ExpiringResponses, ExpiringSet } from './expiry.js';
import {
  formatOwnVia,
  getHeader,
  getHeaders,
  ParseError,
  parseCSeq,
  type SipRequest,
  type SipResponse,
  serialize,
  viewTopVia,
} from './message.js';
import { randomHex } from './random.js';
import type { Endpoint, Transport } from './transport.js';

export interface Timers {
  /** RTT estimate (default 500 ms). */
  t1: number;
  /** Longest retransmit interval for non-INVITE requests and INVITE responses (default 4 s). */
  t2: number;
  /** How long a message stays in the network (default 5 s). */
  t4: number;
}

export const DEFAULT_TIMERS: Timers = { t1: 500, t2: 4000, t4: 5000 };

export const MAGIC_COOKIE = 'z9hG4bK';
export const newBranch = (): string => `${MAGIC_COOKIE}${randomHex(12)}`;

/** A Via value of ours on a listener (`transport`, `hostport`), with a new branch and rport. */
export const ownVia = (transport: string, hostport: string): string =>
  formatOwnVia(transport, hostport, newBranch());

/** The RFC 3261 §17.2.3 server transaction key; throws ParseError without a 3261 branch. */
export function serverKey(req: SipRequest): string {
  const via = viewTopVia(req);
  const branch = via.params.get('branch');
  if (!branch?.startsWith(MAGIC_COOKIE) || branch.length <= MAGIC_COOKIE.length) {
    throw new ParseError('the top Via has no RFC 3261 branch (z9hG4bK...)');
  }
  const method = req.method === 'ACK' || req.method === 'CANCEL' ? 'INVITE' : req.method;
  // join() builds one flat string; a template literal builds a rope of several heap objects,
  // and keys live 32 s (Timer J) by the hundred thousand at high rates.
  return [branch, `${via.host}:${via.port ?? ''}`, req.method === 'CANCEL' ? 'CANCEL' : method].join('|');
}

/** A client transaction's key (branch and method), as one flat string (see serverKey). */
const clientKey = (branch: string | null | undefined, method: string): string =>
  [String(branch), method].join('|');

/** A message as sent: its bytes and where they went. */
interface Wire {
  bytes: Buffer;
  dest: Endpoint;
}

type ServerState = 'trying' | 'proceeding' | 'completed' | 'confirmed' | 'terminated';

export class ServerTransaction {
  state: ServerState = 'trying';
  #last: SipResponse | null = null;
  readonly #request: SipRequest;
  #timers: NodeJS.Timeout[] = [];

  constructor(
    readonly key: string,
    request: SipRequest,
    readonly source: Endpoint,
    readonly layer: TransactionLayer,
  ) {
    this.#request = request;
  }

  get request(): SipRequest {
    return this.#request;
  }

  get isInvite(): boolean {
    return this.#request.method === 'INVITE';
  }

  /** A retransmission of the request arrived. */
  retransmitted(): void {
    if (this.state !== 'proceeding' && this.state !== 'completed') return;
    if (this.#last) this.#send(this.#last);
  }

  /** An ACK matched this (INVITE) transaction. */
  acked(): void {
    if (!this.isInvite || this.state !== 'completed') return;
    this.state = 'confirmed';
    this.#clear();
    this.#after(this.source.transport === 'udp' ? this.layer.timers.t4 : 0, () => this.#terminate()); // Timer I
  }

  respond(res: SipResponse): void {
    if (this.state === 'completed' || this.state === 'confirmed' || this.state === 'terminated') return;
    this.#last = res;
    const udp = this.source.transport === 'udp';
    const wire = this.#send(res);
    if (res.status < 200) {
      this.state = 'proceeding';
      return;
    }
    const { t1, t2 } = this.layer.timers;
    if (!this.isInvite) {
      this.state = 'completed';
      this.#clear();
      if (this.layer.server.get(this.key) === this) this.layer.server.delete(this.key);
      // Timer J: over UDP the layer keeps only the response as sent, to answer
      // retransmissions for 64*T1; this object is done.
      if (wire && udp) this.layer.answered(this.key, wire);
      return;
    }
    if (res.status < 300) {
      // A 2xx ends the INVITE server transaction; the TU retransmits it (§13.3.1.4).
      this.#terminate();
      return;
    }
    this.state = 'completed';
    if (udp) {
      let interval = t1;
      const g = () => {
        if (this.state !== 'completed' || !this.#last) return;
        this.#send(this.#last);
        interval = Math.min(2 * interval, t2);
        this.#after(interval, g); // Timer G
      };
      this.#after(interval, g);
    }
    this.#after(64 * t1, () => this.#terminate()); // Timer H: no ACK came
  }

  /** Send a response; returns what was sent (null when it could not be serialised or addressed). */
  #send(res: SipResponse): Wire | null {
    let wire: Wire;
    try {
      wire = { bytes: serialize(res), dest: this.layer.transport.responseTarget(this.#request, this.source) };
    } catch (err) {
      this.layer.logger.warn({ err: (err as Error).message }, 'could not send a SIP response');
      return null;
    }
    this.layer.sendWire(wire);
    return wire;
  }

  #after(ms: number, fn: () => void): void {
    const t = setTimeout(fn, ms);
    t.unref();
    this.#timers.push(t);
  }

  #clear(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
  }

  #terminate(): void {
    this.state = 'terminated';
    this.#clear();
    this.layer.server.delete(this.key);
  }

  stop(): void {
    this.#clear();
  }
}

export type ClientResult =
  | { ok: true; response: SipResponse }
  | {
      ok: false;
      reason: string;
      timeout: boolean;
      /**
       * The adapter declined to send it on the network's behalf (e.g. too large for UDP):
       * audited `refused`. Otherwise no answer came — a timeout, a transport error, a stop —
       * and the delivery `failed`.
       */
      declined?: boolean;
    };

/** Timer D: how long an INVITE client transaction absorbs retransmitted final responses. */
const TIMER_D = 32_000;

/**
 * A client transaction. Non-INVITE (§17.1.2): Timer E retransmits (doubling up to T2, T2 in
 * Proceeding), Timer F gives up, Timer K absorbs repeated finals. INVITE (§17.1.1): Timer A
 * retransmits (doubling), Timer B gives up while Calling, a provisional stops both, a
 * non-2xx final is ACKed here (and again for each retransmission until Timer D), a 2xx
 * ends the transaction and is the TU's to ACK.
 */
export class ClientTransaction {
  state: 'calling' | 'trying' | 'proceeding' | 'completed' | 'terminated';
  #timers: NodeJS.Timeout[] = [];
  #resolve!: (r: ClientResult) => void;
  #ack: SipRequest | null = null;
  readonly done: Promise<ClientResult>;
  /** Provisional responses (INVITE: 180/183 for the call layer). */
  onProvisional: ((res: SipResponse) => void) | null = null;

  constructor(
    readonly key: string,
    readonly request: SipRequest,
    readonly dest: Endpoint,
    readonly layer: TransactionLayer,
  ) {
    this.state = request.method === 'INVITE' ? 'calling' : 'trying';
    this.done = new Promise((r) => {
      this.#resolve = r;
    });
  }

  get isInvite(): boolean {
    return this.request.method === 'INVITE';
  }

  start(): void {
    const { t1, t2 } = this.layer.timers;
    this.#transmit(this.request);
    if (this.dest.transport === 'udp') {
      let interval = t1;
      const retransmit = () => {
        if (this.state !== 'calling' && this.state !== 'trying' && this.state !== 'proceeding') return;
        this.#transmit(this.request);
        // Timer A doubles without bound; Timer E doubles up to T2, and is T2 in Proceeding.
        interval = this.isInvite
          ? 2 * interval
          : this.state === 'proceeding'
            ? t2
            : Math.min(2 * interval, t2);
        this.#after(interval, retransmit);
      };
      this.#after(interval, retransmit);
    }
    this.#after(64 * t1, () => {
      // Timer B (INVITE, Calling only: a provisional cleared it) / Timer F (non-INVITE)
      if (this.state === 'calling' || this.state === 'trying' || this.state === 'proceeding') {
        const timer = this.isInvite ? 'B' : 'F';
        this.#finish({
          ok: false,
          timeout: true,
          reason: `no final response within ${(64 * t1) / 1000} s (Timer ${timer})`,
        });
      }
    });
  }

  #transmit(msg: SipRequest): void {
    this.layer.transport.send(msg, this.dest).catch((err: unknown) => {
      this.#finish({ ok: false, timeout: false, reason: `transport error: ${(err as Error).message}` });
    });
  }

  received(res: SipResponse): void {
    if (this.state === 'completed' || this.state === 'terminated') {
      if (this.#ack && res.status >= 300) this.#transmit(this.#ack); // a retransmitted non-2xx final
      return;
    }
    if (res.status < 200) {
      if (this.isInvite && this.state === 'calling') this.#clear(); // Timers A and B stop
      this.state = 'proceeding';
      this.onProvisional?.(res);
      return;
    }
    if (this.isInvite && res.status >= 300) {
      this.#ack = ackForNon2xx(this.request, res);
      this.#transmit(this.#ack);
    }
    this.#finish({ ok: true, response: res });
  }

  #finish(r: ClientResult): void {
    if (this.state === 'completed' || this.state === 'terminated') return;
    this.#clear();
    this.state = 'completed';
    this.#resolve(r);
    const udp = this.dest.transport === 'udp';
    if (!this.isInvite) {
      // Timer K: over UDP the layer remembers only the key, to absorb retransmitted finals
      // for T4; this object is done.
      this.state = 'terminated';
      if (this.layer.client.get(this.key) === this) this.layer.client.delete(this.key);
      if (udp) this.layer.finished(this.key);
      return;
    }
    // Timer D (INVITE with a non-2xx final); a 2xx ends it at once.
    const linger = udp && this.#ack ? TIMER_D : 0;
    this.#after(linger, () => {
      this.state = 'terminated';
      this.layer.client.delete(this.key);
    });
  }

  #after(ms: number, fn: () => void): void {
    const t = setTimeout(fn, ms);
    t.unref();
    this.#timers.push(t);
  }

  #clear(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
  }

  stop(): void {
    this.#clear();
    this.#finish({ ok: false, timeout: false, reason: 'the SIP adapter is stopping' });
    this.#clear();
  }
}

/** The ACK an INVITE client transaction sends for a non-2xx final response (§17.1.1.3). */
export function ackForNon2xx(invite: SipRequest, res: SipResponse): SipRequest {
  const headers = [
    { name: 'Via', value: getHeaders(invite, 'Via')[0]! },
    ...invite.headers.filter((h) => h.name === 'Route'),
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: getHeader(invite, 'From')! },
    { name: 'To', value: getHeader(res, 'To')! },
    { name: 'Call-ID', value: getHeader(invite, 'Call-ID')! },
    { name: 'CSeq', value: `${parseCSeq(getHeader(invite, 'CSeq')!).seq} ACK` },
  ];
  return { kind: 'request', method: 'ACK', uri: invite.uri, headers, body: Buffer.alloc(0) };
}

export class TransactionLayer {
  // ChurnMaps, not Maps: one entry per transaction, gone within milliseconds (churn-map.ts).
  readonly server = new ChurnMap<ServerTransaction>();
  readonly client = new ChurnMap<ClientTransaction>();
  /** Completed non-INVITE server transactions over UDP: the final response as sent (Timer J). */
  readonly #answered: ExpiringResponses;
  /** Completed non-INVITE client transactions over UDP: their keys (Timer K). */
  readonly #finished: ExpiringSet;

  constructor(
    readonly transport: Transport,
    readonly timers: Timers,
    readonly logger: Logger,
  ) {
    this.#answered = new ExpiringResponses(64 * timers.t1);
    this.#finished = new ExpiringSet(timers.t4);
  }

  /** Completed transactions kept to absorb retransmissions (Timer J, Timer K). */
  lingering(): { server: number; client: number } {
    return { server: this.#answered.size, client: this.#finished.size };
  }

  /** Keep a completed non-INVITE server transaction's final response for 64*T1 (Timer J). */
  answered(key: string, wire: Wire): void {
    this.#answered.set(key, wire);
  }

  /** Remember a completed non-INVITE client transaction for T4 (Timer K). */
  finished(key: string): void {
    this.#finished.add(key);
  }

  sendWire(w: Wire): void {
    this.transport
      .sendBytes(w.bytes, w.dest)
      .catch((err: unknown) =>
        this.logger.warn({ err: (err as Error).message }, 'could not send a SIP response'),
      );
  }

  /**
   * Match a request to its server transaction. Returns the new transaction when the
   * request starts one, or null when it was absorbed (a retransmission or a matched ACK).
   */
  receiveRequest(req: SipRequest, source: Endpoint): ServerTransaction | null {
    const key = serverKey(req);
    if (req.method === 'ACK') {
      const tx = this.server.get(key);
      if (tx) {
        tx.acked();
        return null;
      }
      return new ServerTransaction(key, req, source, this); // an ACK for a 2xx: the TU's (no transaction)
    }
    const existing = this.server.get(key);
    if (existing) {
      existing.retransmitted();
      return null;
    }
    const answer = this.#answered.get(key);
    if (answer) {
      this.sendWire(answer); // a retransmission of a request already answered
      return null;
    }
    const tx = new ServerTransaction(key, req, source, this);
    this.server.set(key, tx);
    return tx;
  }

  /** Match a response to its client transaction; false when none matches (dropped). */
  receiveResponse(res: SipResponse): boolean {
    if (!res.headers.some((h) => h.name === 'Via')) return false;
    const branch = viewTopVia(res).params.get('branch');
    const cseq = parseCSeq(getHeader(res, 'CSeq') ?? '');
    const key = clientKey(branch, cseq.method);
    const tx = this.client.get(key);
    if (!tx) return this.#finished.has(key); // a retransmitted final: absorbed
    tx.received(res);
    return true;
  }

  /** Start a client transaction for a request whose top Via carries a fresh branch. */
  request(req: SipRequest, dest: Endpoint, onProvisional?: (res: SipResponse) => void): ClientTransaction {
    const branch = viewTopVia(req).params.get('branch');
    const key = clientKey(branch, req.method);
    const tx = new ClientTransaction(key, req, dest, this);
    if (onProvisional) tx.onProvisional = onProvisional;
    this.client.set(key, tx);
    tx.start();
    return tx;
  }

  /** The INVITE server transaction a CANCEL (already matched to its own key) refers to. */
  inviteFor(cancelKey: string): ServerTransaction | undefined {
    return this.server.get(cancelKey.replace(/\|CANCEL$/, '|INVITE'));
  }

  stop(): void {
    for (const tx of this.server.values()) tx.stop();
    for (const tx of this.client.values()) tx.stop();
    this.server.clear();
    this.client.clear();
    this.#answered.clear();
    this.#finished.clear();
  }
}
