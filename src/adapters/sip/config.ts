// The SIP adapter's config block (TypeBox: one schema gives the type and the validation).
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { AdapterConfigError } from '../../core/adapter.js';
import { blockProblem } from '../../core/config-problem.js';
import { DIGEST_ALGORITHMS, type DigestAuthConfig } from './auth.js';
import type { DnsSettings } from './dns.js';
import { isSipUri, ParseError, parseUri } from './message.js';
import { type ListenAddr, parseListen, type TlsMaterial, type TransportName } from './transport.js';

/** A wrong config block: the key path (relative to the adapter block) and what is wrong. */
export class SipConfigError extends AdapterConfigError {
  override name = 'SipConfigError';
}

/** 4 MiB (Linux doubles it for bookkeeping): thousands of MESSAGE datagrams, a pause of ~0.5 s at 6,000/s. */
export const DEFAULT_UDP_RECEIVE_BUFFER = 4 * 1024 * 1024;

export const SipAdapterConfig = Type.Object(
  {
    type: Type.Literal('sip'),
    /** `udp://host:port` / `tcp://host:port` / `tls://host:port`; port 0 picks a free port (tests). */
    listen: Type.Array(Type.String({ pattern: '^(udp|tcp|tls)://' }), { minItems: 1, maxItems: 16 }),
    /** Domains whose users live behind this link. */
    domains: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { minItems: 1 }),
    /**
     * Next hop (an outbound proxy) for everything Parley sends, e.g.
     * `sip:127.0.0.1:5070;transport=tcp`. Without it each request goes where RFC 3263 DNS
     * (NAPTR, SRV, A/AAAA) says its Request-URI's domain is served.
     */
    route: Type.Optional(Type.String({ minLength: 5 })),
    /** DNS for RFC 3263 (only without `route`). */
    dns: Type.Optional(
      Type.Object(
        {
          /** Servers (`ip` or `ip:port`, `[v6]:port`); the system's when absent. */
          servers: Type.Optional(
            Type.Array(Type.String({ minLength: 2, maxLength: 64 }), { minItems: 1, maxItems: 8 }),
          ),
          timeoutMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 30_000 })),
          tries: Type.Optional(Type.Integer({ minimum: 1, maximum: 5 })),
          /** Reuse of a resolved target list (s); 0 turns the cache off. */
          cacheS: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * Who may send SIP requests to Parley; everyone else gets 403 (UDP) or is refused at
     * connect (TCP/TLS). A CIDR, or `{ address: CIDR, domains: [...] }` to let that peer
     * assert identities (From) in some of the link's domains only; a bare CIDR may assert
     * every domain in `domains`.
     */
    peers: Type.Array(
      Type.Union([
        Type.String({ minLength: 1 }),
        Type.Object(
          {
            address: Type.String({ minLength: 1 }),
            domains: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { minItems: 1 }),
          },
          { additionalProperties: false },
        ),
      ]),
      { minItems: 1 },
    ),
    /** Inbound TCP/TLS connections (peers only): limits that keep one peer from locking out the others. */
    tcp: Type.Optional(
      Type.Object(
        {
          /** Open inbound connections at once, all peers together (default 1024). */
          maxConnections: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_536 })),
          /** Open inbound connections from one remote address (default 16). */
          maxConnectionsPerAddress: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_536 })),
          /**
           * Seconds a connection has to complete its TLS handshake and first message, and
           * then each message once its first byte came (default 30).
           */
          messageTimeoutS: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
          /** Seconds a connection may stay open without traffic (default 600). */
          idleTimeoutS: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Host to put in Via/Contact when listening on a wildcard address. */
    advertise: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    /** RFC 3261 timers in ms (T1 short in tests keeps Timer F = 64*T1 short). */
    timers: Type.Optional(
      Type.Object(
        {
          t1: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000 })),
          t2: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000 })),
          t4: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * Kernel receive buffer asked for each UDP socket (bytes). The OS default (~200 KB on
     * Linux) holds only ~150 datagrams: a 30 ms pause at 5,000 requests/s overflows it and
     * each dropped request costs its sender a 500 ms retransmission. Linux caps the value
     * at `net.core.rmem_max`; Parley logs the size it got.
     */
    udpReceiveBufferBytes: Type.Optional(Type.Integer({ minimum: 65_536, maximum: 256 * 1024 * 1024 })),
    /**
     * Receive and send UDP datagrams in a separate thread (default true): the system calls
     * then run on another core than the event loop that parses, decides and audits. False
     * keeps them on the event loop (a host with a single core gains nothing from the thread).
     */
    udpThread: Type.Optional(Type.Boolean()),
    /** Largest body accepted on a stream (bytes). */
    maxBodyBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024 })),
    /** Certificate for `tls://` listeners and outbound TLS (PEM files, relative to the config file). */
    tls: Type.Optional(
      Type.Object(
        {
          certFile: Type.String({ minLength: 1 }),
          keyFile: Type.String({ minLength: 1 }),
          /** CAs trusted for outbound TLS (default: Node's bundled roots). */
          caFile: Type.Optional(Type.String({ minLength: 1 })),
          /** Check the next hop's certificate against the SIP domain (default true). */
          verifyPeer: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    /** Digest authentication of inbound requests (RFC 3261 §22); off when absent. */
    auth: Type.Optional(
      Type.Object(
        {
          realm: Type.String({ minLength: 1, maxLength: 253 }),
          /** user -> password (write `${VAR}` to take it from the environment). */
          users: Type.Record(Type.String(), Type.String({ minLength: 1, maxLength: 1024 })),
          /** HMAC key for stateless nonces; give every replica the same one. */
          nonceSecret: Type.Optional(Type.String({ minLength: 16, maxLength: 1024 })),
          /** Challenges offered, preferred first (default SHA-256 then MD5, RFC 8760). */
          algorithms: Type.Optional(
            Type.Array(Type.Union(DIGEST_ALGORITHMS.map((a) => Type.Literal(a))), {
              minItems: 1,
              maxItems: 4,
            }),
          ),
          /** How long a nonce is good for (s); older ones get a `stale=TRUE` challenge. */
          nonceTtlS: Type.Optional(Type.Integer({ minimum: 10, maximum: 86_400 })),
          /** Challenge as a proxy (407 / Proxy-Authenticate) rather than a UAS (401). */
          proxy: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type SipAdapterConfig = Static<typeof SipAdapterConfig>;

const check = TypeCompiler.Compile(SipAdapterConfig);

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

export function parseCidr(s: string): Cidr | null {
  const m = /^([0-9A-Fa-f:.]+)(?:\/(\d{1,3}))?$/.exec(s.trim());
  if (!m) return null;
  const address = m[1]!;
  const v4 = /^(\d{1,3}\.){3}\d{1,3}$/.test(address) && address.split('.').every((o) => Number(o) <= 255);
  const v6 = !v4 && address.includes(':');
  if (!v4 && !v6) return null;
  const max = v4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (prefix > max) return null;
  return { address, prefix, family: v4 ? 'ipv4' : 'ipv6' };
}

/** A peer: its addresses, and the domains it may assert identities in (lower case). */
export interface SipPeer extends Cidr {
  domains: readonly string[];
}

/** Inbound TCP/TLS limits (ms for times). */
export interface TcpLimits {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  messageTimeoutMs: number;
  idleTimeoutMs: number;
}

export interface ResolvedSipConfig {
  listen: ListenAddr[];
  domains: string[];
  /** The outbound proxy; absent: RFC 3263 with `dns`. */
  route?: { transport: TransportName; host: string; port: number };
  dns?: DnsSettings;
  peers: SipPeer[];
  tcp: TcpLimits;
  advertise?: string;
  timers: { t1: number; t2: number; t4: number };
  maxBodyBytes: number;
  udpReceiveBufferBytes: number;
  udpThread: boolean;
  auth?: DigestAuthConfig;
  tls?: TlsMaterial;
}

/** Validate a config block (files relative to `configDir`); throws SipConfigError naming the key. */
export function resolveSipConfig(
  raw: Record<string, unknown>,
  opts: { configDir?: string } = {},
): ResolvedSipConfig {
  if (!check.Check(raw)) {
    const problem = blockProblem(SipAdapterConfig, raw);
    throw new SipConfigError(problem?.path ?? [], problem?.message ?? 'invalid');
  }
  const cfg = raw as SipAdapterConfig;
  const listen = cfg.listen.map((l, i) => {
    const a = parseListen(l);
    if (!a)
      throw new SipConfigError(
        ['listen', i],
        `"${l}" is not udp://host:port, tcp://host:port or tls://host:port`,
      );
    if (a.transport === 'tls' && !cfg.tls)
      throw new SipConfigError(['listen', i], `"${l}" needs a certificate: set tls.certFile and tls.keyFile`);
    return a;
  });
  const route = cfg.route === undefined ? undefined : resolveRoute(cfg.route, listen);
  if (route && cfg.dns)
    throw new SipConfigError(['dns'], 'dns applies only without a route (RFC 3263 finds the next hop)');
  const dns = route ? undefined : resolveDns(cfg.dns);
  const domains = cfg.domains.map((d) => d.toLowerCase());
  const peers = cfg.peers.map((p, i): SipPeer => {
    const address = typeof p === 'string' ? p : p.address;
    const where = typeof p === 'string' ? ['peers', i] : ['peers', i, 'address'];
    const c = parseCidr(address);
    if (!c) throw new SipConfigError(where, `"${address}" is not a CIDR (e.g. 192.0.2.0/24 or 127.0.0.1/32)`);
    if (typeof p === 'string') return { ...c, domains };
    const own = p.domains.map((d, j) => {
      const lower = d.toLowerCase();
      if (!domainServed(lower, domains))
        throw new SipConfigError(
          ['peers', i, 'domains', j],
          `"${d}" is not one of this link's domains (${domains.join(', ')}): a peer speaks only for domains the link serves`,
        );
      return lower;
    });
    return { ...c, domains: own };
  });
  const t1 = cfg.timers?.t1 ?? 500;
  const out: ResolvedSipConfig = {
    listen,
    domains,
    ...(route ? { route } : {}),
    ...(dns ? { dns } : {}),
    peers,
    tcp: {
      maxConnections: cfg.tcp?.maxConnections ?? 1024,
      maxConnectionsPerAddress: cfg.tcp?.maxConnectionsPerAddress ?? 16,
      messageTimeoutMs: (cfg.tcp?.messageTimeoutS ?? 30) * 1000,
      idleTimeoutMs: (cfg.tcp?.idleTimeoutS ?? 600) * 1000,
    },
    timers: { t1, t2: cfg.timers?.t2 ?? Math.max(4000, t1), t4: cfg.timers?.t4 ?? 5000 },
    maxBodyBytes: cfg.maxBodyBytes ?? 1024 * 1024,
    udpReceiveBufferBytes: cfg.udpReceiveBufferBytes ?? DEFAULT_UDP_RECEIVE_BUFFER,
    udpThread: cfg.udpThread ?? true,
  };
  if (cfg.advertise) out.advertise = cfg.advertise;
  if (cfg.auth) out.auth = resolveAuth(cfg.auth, domains);
  if (cfg.tls) out.tls = loadTls(cfg.tls, opts.configDir ?? '.');
  return out;
}

function loadTls(t: NonNullable<SipAdapterConfig['tls']>, dir: string): TlsMaterial {
  const read = (key: 'certFile' | 'keyFile' | 'caFile', file: string) => {
    try {
      return readFileSync(resolve(dir, file));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new SipConfigError(['tls', key], `cannot read ${resolve(dir, file)} (${code})`);
    }
  };
  const cert = read('certFile', t.certFile);
  const key = read('keyFile', t.keyFile);
  const ca = t.caFile ? read('caFile', t.caFile) : undefined;
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new SipConfigError(
      ['tls'],
      `certFile and keyFile are not a usable PEM pair: ${(err as Error).message}`,
    );
  }
  if (ca) {
    try {
      new X509Certificate(ca); // at least one parsable certificate (a secure context ignores junk)
      createSecureContext({ ca });
    } catch (err) {
      throw new SipConfigError(['tls', 'caFile'], `not usable PEM certificates: ${(err as Error).message}`);
    }
  }
  return { cert, key, ...(ca ? { ca } : {}), verifyPeer: t.verifyPeer ?? true };
}

function resolveRoute(s: string, listen: ListenAddr[]): NonNullable<ResolvedSipConfig['route']> {
  let routeUri: ReturnType<typeof parseUri>;
  try {
    routeUri = parseUri(s, 'route');
  } catch (err) {
    throw new SipConfigError(['route'], err instanceof ParseError ? err.message : 'bad route');
  }
  if (!isSipUri(routeUri))
    throw new SipConfigError(['route'], 'route must be a sip: URI, e.g. sip:127.0.0.1:5070');
  const sips = routeUri.scheme === 'sips';
  const tp = (routeUri.params.get('transport') ?? (sips ? 'tls' : 'udp')).toLowerCase();
  if (tp !== 'udp' && tp !== 'tcp' && tp !== 'tls')
    throw new SipConfigError(['route'], `transport=${tp} is not supported (udp, tcp or tls)`);
  if (sips && tp !== 'tls')
    throw new SipConfigError(['route'], 'a sips: route goes over TLS (transport=tls)');
  if (!listen.some((l) => l.transport === tp)) {
    throw new SipConfigError(['listen'], `the route uses ${tp}, so listen needs a ${tp}:// address`);
  }
  return {
    transport: tp,
    host: routeUri.host.replace(/^\[|\]$/g, ''),
    port: routeUri.port ?? (tp === 'tls' ? 5061 : 5060),
  };
}

function resolveDns(d: SipAdapterConfig['dns']): DnsSettings {
  const servers = (d?.servers ?? []).map((s, i) => {
    // An address, optionally with a port: 192.0.2.1, 192.0.2.1:53, [2001:db8::1]:53, 2001:db8::1.
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3}))(?::(\d{1,5}))?$/.exec(s);
    const bare = isIP(s) ? s : m ? (m[1] ?? m[2]) : undefined;
    if (!bare || !isIP(bare) || (m?.[3] !== undefined && Number(m[3]) > 65535))
      throw new SipConfigError(['dns', 'servers', i], `"${s}" is not an IP address (with an optional :port)`);
    return s;
  });
  return {
    ...(servers.length ? { servers } : {}),
    timeoutMs: d?.timeoutMs ?? 2000,
    tries: d?.tries ?? 2,
    cacheMs: (d?.cacheS ?? 30) * 1000,
  };
}

/**
 * True when a (lower-case) domain is one of `domains`, exactly or under a `*.suffix` entry
 * (as the routing table matches them).
 */
export function domainServed(domain: string, domains: readonly string[]): boolean {
  for (const d of domains) {
    if (d === domain) return true;
    if (d.startsWith('*.') && domain.endsWith(d.slice(1)) && domain.length > d.length - 1) return true;
  }
  return false;
}

function resolveAuth(a: NonNullable<SipAdapterConfig['auth']>, domains: readonly string[]): DigestAuthConfig {
  const users = Object.entries(a.users);
  if (users.length === 0)
    throw new SipConfigError(['auth', 'users'], 'auth.users needs at least one user: password');
  for (const [u] of users) {
    // The user part of a SIP URI (RFC 3261 §25.1), unescaped: no separators or spaces.
    if (!/^[A-Za-z0-9\-_.!~*'()&=+$,;?/%]{1,256}$/.test(u))
      throw new SipConfigError(['auth', 'users', u], `"${u}" is not a SIP user name`);
  }
  const algorithms = a.algorithms ?? ['SHA-256', 'MD5'];
  if (new Set(algorithms).size !== algorithms.length)
    throw new SipConfigError(['auth', 'algorithms'], 'an algorithm is listed twice');
  // An authenticated user is user@domain: the realm when the link serves it, else the
  // link's only domain. With several domains the realm must say which.
  const realm = a.realm.toLowerCase();
  const only = domains.length === 1 && !domains[0]!.startsWith('*.') ? domains[0] : undefined;
  const domain = domains.includes(realm) ? realm : only;
  if (!domain)
    throw new SipConfigError(
      ['auth', 'realm'],
      `"${a.realm}" is not one of this link's domains (${domains.join(', ')}): an authenticated user is user@realm, so name the domain the users belong to`,
    );
  return {
    realm: a.realm,
    domain,
    users: Object.fromEntries(users),
    algorithms,
    // Without a shared secret each process mints its own: fine for one replica only.
    secret: a.nonceSecret ?? randomBytes(32),
    nonceTtlMs: (a.nonceTtlS ?? 300) * 1000,
    proxy: a.proxy ?? false,
  };
}
