// Where Parley's own requests go: the configured `route` (an outbound proxy), or else the
// server RFC 3263 finds for the request's next URI (the first Route, else the
// Request-URI), trying each target in turn on a transport error, a timeout or a 503
// (§4.3), each in a new client transaction with the Via of the target's transport.
import { DnsError, type SipResolver } from './dns.js';
import {
  getHeader,
  getHeaders,
  isSipUri,
  parseNameAddr,
  parseUri,
  type SipRequest,
  type SipResponse,
  wireLength,
} from './message.js';
import { type ClientResult, ownVia, type TransactionLayer } from './transaction.js';
import type { Endpoint, TransportName } from './transport.js';

/** Our address for a transport (Via sent-by, Contact). */
export interface Local {
  hostport: string;
  transport: TransportName;
}

export interface SendOptions {
  /** Told before each attempt: the request as sent (new branch) and where. */
  onAttempt?: (req: SipRequest, target: Endpoint) => void;
  onProvisional?: (res: SipResponse) => void;
  /** Requests larger than this are not sent over UDP (RFC 3261 §18.1.1, RFC 3428 §6). */
  maxUdpBytes?: number;
}

export interface Sent {
  result: ClientResult;
  /** The last request sent and where (null when there was no target). */
  request: SipRequest | null;
  target: Endpoint | null;
}

/** The transport requests are built for before retargeting: the route's, else the first listener's (UDP first). */
export function defaultTransport(c: {
  route?: { transport: TransportName };
  listen: { transport: TransportName }[];
}): TransportName {
  if (c.route) return c.route.transport;
  return c.listen.some((l) => l.transport === 'udp') ? 'udp' : (c.listen[0]?.transport ?? 'udp');
}

export class Router {
  constructor(
    readonly layer: TransactionLayer,
    readonly route: Endpoint | null,
    readonly resolver: SipResolver | null,
    readonly local: (t: TransportName) => Local | null,
  ) {}

  /** Transports Parley has a listener for (it sends from them). */
  usable(): Set<TransportName> {
    return new Set(this.layer.transport.bound().map((b) => b.transport));
  }

  /** The targets for a request, in order (the route, or RFC 3263 on its next URI). */
  async targets(req: SipRequest): Promise<Endpoint[]> {
    if (this.route) return [this.route];
    if (!this.resolver) throw new DnsError('no route and no resolver');
    const first = getHeaders(req, 'Route')[0];
    const uri = first ? parseNameAddr(first, 'Route').uri : parseUri(req.uri, 'next hop');
    if (!isSipUri(uri)) throw new DnsError(`cannot route to a ${uri.scheme}: URI`);
    const transport = uri.params.get('transport');
    return this.resolver.resolve(
      {
        host: uri.host,
        ...(uri.port !== undefined ? { port: uri.port } : {}),
        ...(transport ? { transport: transport.toLowerCase() } : {}),
        secure: uri.scheme === 'sips',
      },
      this.usable(),
    );
  }

  /** Send a request in a client transaction, failing over across the targets. */
  async send(req: SipRequest, o: SendOptions = {}): Promise<Sent> {
    let targets: Endpoint[];
    try {
      targets = await this.targets(req);
    } catch (err) {
      // DNS may come back: a link failure, as a timeout is (not the network's answer).
      const reason = `no next hop: ${(err as Error).message}`;
      return { result: { ok: false, timeout: true, reason }, request: null, target: null };
    }
    // Only targets a listener can reach (its transport and address family), when any is.
    const bound = this.layer.transport.bound();
    // Listener hosts and targets are IP literals: only IPv6 ones hold a ':' (net.isIPv6 runs
    // a regex, twice per target per request).
    const reachable = targets.filter((t) =>
      bound.some(
        (b) =>
          b.transport === t.transport &&
          (b.host === '::' || b.host.includes(':') === t.address.includes(':')),
      ),
    );
    if (reachable.length) targets = reachable;
    const big = o.maxUdpBytes !== undefined && wireLength(req) > o.maxUdpBytes;
    if (big && !this.route) targets = targets.filter((t) => t.transport !== 'udp');
    if (big && (this.route?.transport === 'udp' || targets.length === 0)) {
      return {
        result: {
          ok: false,
          timeout: false,
          declined: true,
          reason: 'the message is too large for SIP over UDP (RFC 3428 §6)',
        },
        request: null,
        target: null,
      };
    }
    let last: Sent = {
      result: { ok: false, timeout: false, reason: 'no target' },
      request: null,
      target: null,
    };
    for (const target of targets) {
      const sent = this.route ? req : retarget(req, target, this.local(target.transport));
      if (!sent) continue;
      o.onAttempt?.(sent, target);
      let heard = false; // a provisional: the target has the request, so no failover
      const tx = this.layer.request(sent, target, (res) => {
        heard = true;
        o.onProvisional?.(res);
      });
      const result = await tx.done;
      last = { result, request: sent, target };
      // §4.3: a transport error, a timeout or a 503 moves on to the next target.
      if (heard || (result.ok && result.response.status !== 503)) break;
    }
    return last;
  }

  /** Send a request outside a transaction (an ACK for a 2xx) to the first target. */
  async sendStateless(req: SipRequest): Promise<void> {
    const [target] = await this.targets(req);
    if (!target) throw new DnsError('no target');
    const sent = this.route ? req : retarget(req, target, this.local(target.transport));
    if (sent) await this.layer.transport.send(sent, target);
  }
}

/**
 * The request as sent to a target of another transport: a fresh top Via of that transport
 * and our Contact on that transport's listener. Null when there is no such listener.
 */
export function retarget(req: SipRequest, target: Endpoint, local: Local | null): SipRequest | null {
  if (!local) return null;
  const via = getHeaders(req, 'Via')[0];
  const oldVia = via ? /^SIP\/2\.0\/([A-Za-z]+)\s+([^;\s]+)/.exec(via) : null;
  const headers = req.headers.map((h) => ({ ...h }));
  const vi = headers.findIndex((h) => h.name === 'Via');
  const viaValue = ownVia(target.transport, local.hostport);
  if (vi >= 0) {
    // Only our own (top) Via: a Via header line may carry a list.
    const rest = getHeaders({ headers: [headers[vi]!] }, 'Via').slice(1);
    headers[vi] = { name: 'Via', value: [viaValue, ...rest].join(', ') };
  } else headers.unshift({ name: 'Via', value: viaValue });
  if (oldVia) {
    const [, oldTp, oldHostport] = oldVia;
    const ci = headers.findIndex((h) => h.name === 'Contact');
    const contact = ci >= 0 ? getHeader({ headers: [headers[ci]!] }, 'Contact') : undefined;
    if (contact && oldTp && oldHostport) {
      headers[ci] = {
        name: 'Contact',
        value: contact
          .replace(`@${oldHostport};`, `@${local.hostport};`)
          .replace(`<sip:${oldHostport};`, `<sip:${local.hostport};`)
          .replace(`;transport=${oldTp.toLowerCase()}>`, `;transport=${target.transport}>`),
      };
    }
  }
  return { ...req, headers };
}
