// SIP transports (RFC 3261 §18, RFC 5630 for TLS): UDP, TCP and TLS listeners, stream
// framing, and response routing per the top Via (received/rport, RFC 3581). Malformed input
// is logged and dropped (or answered 400 by the caller); it never throws out of a socket handler.
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../../core/logger.js';
import { Memo } from '../../core/memo.js';
import {
  formatVia,
  getHeaders,
  ParseError,
  parseMessage,
  parseVia,
  rememberVia,
  type SipMessage,
  StreamFramer,
  serialize,
  type ViaView,
  viewTopVia,
} from './message.js';
import { bindUdpHere, type UdpBound, type UdpSocket } from './udp-socket.js';
import { bindInUdpThread } from './udp-thread.js';

export type TransportName = 'udp' | 'tcp' | 'tls';

/** Certificate and trust for the `tls` transport (PEM). */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** CAs trusted for outbound connections (default: Node's bundled roots). */
  ca?: Buffer;
  /** Check the server certificate on outbound connections (RFC 5922). */
  verifyPeer: boolean;
}

export interface ListenAddr {
  transport: TransportName;
  host: string;
  port: number;
}

/** Where a message came from / goes to. */
export interface Endpoint {
  transport: TransportName;
  address: string;
  port: number;
  /** For TLS: the name the server certificate must carry (the SIP domain; default the address). */
  tlsName?: string;
}

export interface TransportHandlers {
  onMessage(msg: SipMessage, source: Endpoint): void;
  /** A message that did not parse (the caller may answer 400 from the raw bytes). */
  onUnparsable(raw: Buffer, err: ParseError, source: Endpoint): void;
}

/**
 * What the adapter needs of its SIP transport. SipTransport is the real one (sockets); a
 * test may inject another (SipAdapter's `transport` option) to run the adapter without one.
 */
export interface Transport {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The bound addresses (ports resolved when 0 was configured). */
  bound(): readonly ListenAddr[];
  /** The local address to put in a Via for a transport. */
  local(transport: TransportName): ListenAddr | undefined;
  /** Send a message to an endpoint. Rejects when it cannot be sent. */
  send(msg: SipMessage, dest: Endpoint): Promise<void>;
  /** Send a message already serialised (a retransmission of a kept response). */
  sendBytes(buf: Buffer, dest: Endpoint): Promise<void>;
  /** Where to send a response to a request that came from `source`. */
  responseTarget(req: SipMessage, source: Endpoint): Endpoint;
}

/**
 * Makes the adapter's transport: `handlers` take what it receives; `accept` tells whether a
 * remote address is a permitted peer (streams from others are closed unread).
 */
export type TransportFactory = (
  handlers: TransportHandlers,
  accept: (address: string) => boolean,
) => Transport;

const key = (e: { transport: TransportName; address: string; port: number }) =>
  `${e.transport}|${e.address}|${e.port}`;
/** Inbound TCP/TLS limits (config `tcp`, in ms). */
export interface StreamLimits {
  /** Open inbound connections at once (all peers). */
  maxConnections: number;
  /** Open inbound connections from one remote address. */
  maxConnectionsPerAddress: number;
  /** From accept to the first complete message (TLS handshake included), then per message. */
  messageTimeoutMs: number;
  /** Open without traffic. */
  idleTimeoutMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxConnections: 1024,
  maxConnectionsPerAddress: 16,
  messageTimeoutMs: 30_000,
  idleTimeoutMs: 10 * 60_000,
};

/**
 * One timer per connection: armed while a message is incomplete (and, inbound, from
 * accept until the first message), never pushed back by more bytes of the same message,
 * so a peer that trickles a message (or never completes a handshake) is closed.
 */
class MessageDeadline {
  #timer: NodeJS.Timeout | null = null;
  constructor(
    readonly ms: number,
    readonly onLate: () => void,
  ) {}
  arm(): void {
    if (!this.#timer) this.#timer = setTimeout(this.onLate, this.ms);
  }
  disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

export class SipTransport implements Transport {
  readonly #udp: { sock: UdpSocket; addr: ListenAddr }[] = [];
  readonly #tcpServers: { srv: net.Server; addr: ListenAddr }[] = [];
  readonly #tls: TlsMaterial | undefined;
  /** For inbound TLS, made once (each accepted socket is wrapped after the peer check). */
  #serverContext: tls.SecureContext | undefined;
  /** Whether a remote address may connect (the adapter's peers); absent: everyone. */
  readonly #accept: ((address: string) => boolean) | undefined;
  /** Open inbound connections by remote address. */
  readonly #perAddress = new Map<string, number>();
  /** When a refused stranger was last logged, by address (one line a minute each). */
  readonly #refusedLogged = new Map<string, number>();
  /** Open TCP connections by remote address (inbound and outbound). */
  readonly #conns = new Map<string, net.Socket>();
  readonly #pending = new Map<string, Promise<net.Socket>>();
  /** bound(), built when first asked after the listeners changed. */
  #bound: ListenAddr[] | null = null;
  /**
   * One string per peer address: each datagram comes with a new copy of its source
   * address, and responses kept for Timer J hold it for 32 s.
   */
  readonly #addresses = new Memo<string>(4096);
  #stopped = false;

  constructor(
    readonly listen: readonly ListenAddr[],
    readonly handlers: TransportHandlers,
    readonly logger: Logger,
    readonly limits: {
      maxBody: number;
      udpReceiveBuffer?: number;
      /** Run the UDP sockets in the process's UDP thread (udp-thread.ts) rather than this one. */
      udpThread?: boolean;
      tcp?: StreamLimits;
    } = { maxBody: 1024 * 1024 },
    tlsMaterial?: TlsMaterial,
    accept?: (address: string) => boolean,
  ) {
    this.#tls = tlsMaterial;
    this.#accept = accept;
  }

  get #streams(): StreamLimits {
    return this.limits.tcp ?? DEFAULT_STREAM_LIMITS;
  }

  async start(): Promise<void> {
    for (const addr of this.listen) {
      if (addr.transport === 'udp') {
        const opts = {
          host: addr.host,
          port: addr.port,
          ipv6: net.isIPv6(addr.host),
          ...(this.limits.udpReceiveBuffer !== undefined
            ? { receiveBuffer: this.limits.udpReceiveBuffer }
            : {}),
        };
        const onDatagram = (buf: Buffer, address: string, port: number) =>
          this.#datagram(buf, {
            transport: 'udp',
            address: this.#addresses.get(address, () => address),
            port,
          });
        const onError = (err: Error) => this.logger.error({ err, listen: addr }, 'SIP UDP socket error');
        const bound = this.limits.udpThread
          ? await bindInUdpThread(opts, onDatagram, onError, this.logger)
          : await bindUdpHere(opts, onDatagram, onError);
        this.#reportReceiveBuffer(bound, addr);
        this.#udp.push({ sock: bound.socket, addr: { ...addr, port: bound.socket.port } });
        this.#bound = null;
      } else {
        const transport = addr.transport;
        if (transport === 'tls') {
          if (!this.#tls) throw new Error(`${addr.host}:${addr.port}: a tls listener needs a certificate`);
          this.#serverContext ??= tls.createSecureContext({
            cert: this.#tls.cert,
            key: this.#tls.key,
            minVersion: 'TLSv1.2',
          });
        }
        // A plain TCP server for TLS too: the peer check comes before the handshake, so a
        // stranger costs no TLS work and no memory beyond its socket (closed at once).
        const srv = net.createServer((s) => this.#accepted(s, transport));
        srv.maxConnections = this.#streams.maxConnections;
        srv.on('error', (err) => this.logger.error({ err, listen: addr }, `SIP ${transport} server error`));
        await new Promise<void>((resolve, reject) => {
          srv.once('error', reject);
          srv.listen(addr.port, addr.host, () => {
            srv.off('error', reject);
            resolve();
          });
        });
        const bound = srv.address();
        this.#tcpServers.push({
          srv,
          addr: { ...addr, port: typeof bound === 'object' && bound ? bound.port : addr.port },
        });
        this.#bound = null;
      }
    }
  }

  /** Log the receive buffer the kernel granted (a large one keeps a short pause from dropping datagrams). */
  #reportReceiveBuffer(bound: UdpBound, addr: ListenAddr): void {
    const want = this.limits.udpReceiveBuffer;
    if (want === undefined) return;
    if (bound.receiveBufferError !== undefined) {
      this.logger.warn(
        { err: bound.receiveBufferError, listen: addr, want },
        'SIP UDP: could not size the receive buffer',
      );
      return;
    }
    // Linux reports twice what it grants (it counts its bookkeeping) and caps the request
    // at net.core.rmem_max without an error: say so, since the cap is the operator's to lift.
    const got = bound.receiveBuffer ?? 0;
    if (got < want)
      this.logger.warn(
        { listen: addr, wantBytes: want, gotBytes: got },
        'SIP UDP: the kernel capped the receive buffer (raise net.core.rmem_max); bursts may drop datagrams',
      );
    else this.logger.debug({ listen: addr, bytes: got }, 'SIP UDP receive buffer');
  }

  /** The bound addresses (ports resolved when 0 was configured). */
  bound(): readonly ListenAddr[] {
    // Asked for every request sent: built once per change of the listeners, not per call.
    if (!this.#bound) this.#bound = [...this.#udp.map((u) => u.addr), ...this.#tcpServers.map((t) => t.addr)];
    return this.#bound;
  }

  /** The local address to put in a Via for a transport. */
  local(transport: TransportName): ListenAddr | undefined {
    return this.bound().find((a) => a.transport === transport);
  }

  #datagram(buf: Buffer, source: Endpoint): void {
    if (this.#stopped) return;
    // Keep-alive pings (CRLF) are answered by nothing (RFC 5626 §4.4.1 is for streams).
    if (buf.length <= 4 && /^[\r\n]*$/.test(buf.toString('latin1'))) return;
    this.#deliver(buf, source);
  }

  #deliver(buf: Buffer, source: Endpoint): void {
    let msg: SipMessage;
    try {
      msg = parseMessage(buf);
    } catch (err) {
      const e = err instanceof ParseError ? err : new ParseError(String(err));
      this.logger.warn({ source, reason: e.message, bytes: buf.length }, 'unparsable SIP message');
      try {
        this.handlers.onUnparsable(buf, e, source);
      } catch (err2) {
        this.logger.error({ err: err2 }, 'SIP unparsable-message handler failed');
      }
      return;
    }
    try {
      this.handlers.onMessage(msg, source);
    } catch (err) {
      this.logger.error({ err, source }, 'SIP message handler failed');
    }
  }

  /**
   * An inbound connection: strangers (not in peers) and connections over the per-address
   * limit are closed before anything is read (before the TLS handshake); the others get
   * `messageTimeoutMs` for the handshake and first message.
   */
  #accepted(raw: net.Socket, transport: 'tcp' | 'tls'): void {
    const address = raw.remoteAddress ?? '';
    const remote = { transport, address, port: raw.remotePort ?? 0 };
    if (this.#stopped) {
      raw.destroy();
      return;
    }
    if (this.#accept && !this.#accept(address)) {
      raw.destroy();
      const now = Date.now();
      if ((this.#refusedLogged.get(address) ?? 0) < now - 60_000) {
        if (this.#refusedLogged.size > 4096) this.#refusedLogged.clear();
        this.#refusedLogged.set(address, now);
        this.logger.warn(
          { remote },
          `SIP ${transport} connection refused: the address is not a permitted peer`,
        );
      }
      return;
    }
    const open = this.#perAddress.get(address) ?? 0;
    const max = this.#streams.maxConnectionsPerAddress;
    if (open >= max) {
      raw.destroy();
      this.logger.warn(
        { remote, open, max },
        `SIP ${transport} connection refused: ${max} connections from this address are open (tcp.maxConnectionsPerAddress)`,
      );
      return;
    }
    this.#perAddress.set(address, open + 1);
    raw.once('close', () => {
      const n = (this.#perAddress.get(address) ?? 1) - 1;
      if (n > 0) this.#perAddress.set(address, n);
      else this.#perAddress.delete(address);
    });
    const deadline = this.#deadline(raw, remote);
    deadline.arm();
    raw.on('error', (err) =>
      this.logger.debug({ err: err.message, remote }, `SIP ${transport} connection error`),
    );
    if (transport === 'tcp') {
      this.#adopt(raw, 'tcp', deadline);
      return;
    }
    const s = new tls.TLSSocket(raw, { isServer: true, secureContext: this.#serverContext! });
    s.once('secure', () => this.#adopt(s, 'tls', deadline));
    s.on('error', (err) => {
      this.logger.debug({ err: err.message, remote }, 'SIP TLS handshake failed');
      s.destroy();
    });
  }

  #deadline(s: net.Socket, remote: Omit<Endpoint, 'tlsName'>): MessageDeadline {
    const ms = this.#streams.messageTimeoutMs;
    return new MessageDeadline(ms, () => {
      this.logger.warn(
        { remote, timeoutS: ms / 1000 },
        `SIP ${remote.transport} connection closed: no complete message within ${ms / 1000} s (tcp.messageTimeoutS)`,
      );
      s.destroy();
    });
  }

  #adopt(s: net.Socket, transport: 'tcp' | 'tls', deadline?: MessageDeadline): void {
    const remote: Endpoint = { transport, address: s.remoteAddress ?? '', port: s.remotePort ?? 0 };
    const k = key(remote);
    this.#conns.set(k, s);
    const framer = new StreamFramer({ maxBody: this.limits.maxBody });
    const late = deadline ?? this.#deadline(s, remote);
    s.setNoDelay(true);
    s.setTimeout(this.#streams.idleTimeoutMs, () => s.destroy());
    s.on('data', (chunk: Buffer) => {
      let msgs: Buffer[];
      try {
        msgs = framer.push(chunk);
      } catch (err) {
        // The stream cannot be resynchronised (and what is buffered is capped by the
        // framer's limits): log, close.
        this.logger.warn(
          { source: remote, reason: (err as Error).message },
          `SIP ${transport} connection closed: ${(err as Error).message}`,
        );
        late.disarm();
        s.destroy();
        return;
      }
      if (msgs.length) late.disarm();
      if (framer.buffered > 0) late.arm();
      for (const m of msgs) this.#deliver(m, remote);
    });
    s.on('error', (err) =>
      this.logger.debug({ err: err.message, remote }, `SIP ${transport} connection error`),
    );
    s.on('close', () => {
      late.disarm();
      if (this.#conns.get(k) === s) this.#conns.delete(k);
    });
  }

  async #connect(dest: Endpoint): Promise<net.Socket> {
    const k = key(dest);
    const open = this.#conns.get(k);
    if (open && !open.destroyed) return open;
    const pending = this.#pending.get(k);
    if (pending) return pending;
    const transport = dest.transport === 'tls' ? 'tls' : 'tcp';
    const p = new Promise<net.Socket>((resolve, reject) => {
      const local = this.local(transport);
      const localAddress = local && local.host !== '0.0.0.0' && local.host !== '::' ? local.host : undefined;
      const opts = { host: dest.address, port: dest.port, ...(localAddress ? { localAddress } : {}) };
      let s: net.Socket;
      if (transport === 'tls') {
        const m = this.#tls;
        const name = dest.tlsName ?? dest.address;
        s = tls.connect({
          ...opts,
          ...(net.isIP(name) ? {} : { servername: name }),
          ...(m?.ca ? { ca: m.ca } : {}),
          ...(m ? { cert: m.cert, key: m.key } : {}),
          rejectUnauthorized: m?.verifyPeer ?? true,
          minVersion: 'TLSv1.2',
          // RFC 5922 §7.2: the certificate names the SIP domain (or the address dialled).
          checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert),
        });
      } else s = net.connect(opts);
      s.setTimeout(10_000, () => s.destroy(new Error(`${transport.toUpperCase()} connect timeout`)));
      s.once(transport === 'tls' ? 'secureConnect' : 'connect', () => {
        this.#adopt(s, transport); // (replaces the connect timeout with the idle timeout)
        this.#conns.set(k, s);
        resolve(s);
      });
      s.once('error', reject);
    }).finally(() => this.#pending.delete(k));
    this.#pending.set(k, p);
    return p;
  }

  /** Send a message to an endpoint. Rejects when a TCP connection cannot be made. */
  async send(msg: SipMessage, dest: Endpoint): Promise<void> {
    return this.sendBytes(serialize(msg), dest);
  }

  /** Send a message already serialised (a retransmission of a kept response). */
  async sendBytes(buf: Buffer, dest: Endpoint): Promise<void> {
    if (this.#stopped) throw new Error('transport stopped');
    if (dest.transport === 'udp') {
      // Addresses here are IP literals: only IPv6 ones hold a ':' (cheaper than net.isIPv6's
      // regex, which was ~1 % of the CPU per MESSAGE).
      const fam6 = dest.address.includes(':');
      const u =
        this.#udp.length === 1
          ? this.#udp[0]
          : (this.#udp.find((x) => x.addr.host.includes(':') === fam6) ?? this.#udp[0]);
      if (!u) throw new Error('no UDP listener to send from');
      await u.sock.send(buf, dest.port, dest.address);
      return;
    }
    const s = await this.#connect(dest);
    await new Promise<void>((resolve, reject) => s.write(buf, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * Where to send a response (RFC 3261 §18.2.2, RFC 3581): back on the connection for a
   * stream; for UDP to `received` (the source address) and `rport` or the sent-by port.
   */
  responseTarget(req: SipMessage, source: Endpoint): Endpoint {
    const via = viewTopVia(req); // (throws without a usable Via, on every transport)
    if (source.transport !== 'udp') {
      const open = this.#conns.get(key(source));
      if (open && !open.destroyed) return source;
    }
    return viaTarget(via, source.transport);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const s of this.#conns.values()) s.destroy();
    this.#conns.clear();
    await Promise.all([
      ...this.#udp.map((u) => u.sock.close()),
      ...this.#tcpServers.map((t) => new Promise<void>((r) => t.srv.close(() => r()))),
    ]);
  }
}

/** Where a response goes by the request's top Via: `received` and `rport`, else its sent-by. */
export function viaTarget(via: ViaView, transport: TransportName): Endpoint {
  const address = via.params.get('received') ?? via.host;
  const rport = via.params.get('rport');
  const port = rport ? Number(rport) : (via.port ?? 5060);
  return { transport, address, port };
}

/**
 * Stamp the top Via of a received request with `received` and `rport` (RFC 3261
 * §18.2.1, RFC 3581 §4) so that the response goes back where the request came from.
 */
export function stampVia(msg: SipMessage, source: Endpoint): void {
  const idx = msg.headers.findIndex((h) => h.name === 'Via');
  if (idx < 0) return;
  const header = msg.headers[idx]!;
  const list = getHeaders({ headers: [header] }, 'Via');
  const top = parseVia(list[0]!);
  if (top.params.has('rport')) {
    top.params.set('rport', String(source.port));
    top.params.set('received', source.address);
  } else if (top.host !== source.address) top.params.set('received', source.address);
  list[0] = formatVia(top);
  rememberVia(list[0], top); // the response's target and the transaction key read it next
  msg.headers[idx] = { name: 'Via', value: list.join(', ') };
}

/** Parse `udp://host:port` / `tcp://host:port` / `tls://host:port`. */
export function parseListen(s: string): ListenAddr | null {
  const m = /^(udp|tcp|tls):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  if (!m || Number(m[3]) > 65535) return null;
  return { transport: m[1] as TransportName, host: m[2]!.replace(/^\[|\]$/g, ''), port: Number(m[3]) };
}
