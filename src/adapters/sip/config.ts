// The SIP adapter's config block (TypeBox: one schema gives the type and the validation).
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { AdapterConfigError } from '../../core/adapter.js';
import { isSipUri, ParseError, parseUri } from './message.js';
import { type ListenAddr, parseListen } from './transport.js';

/** A wrong config block: the key path (relative to the adapter block) and what is wrong. */
export class SipConfigError extends AdapterConfigError {
  override name = 'SipConfigError';
}

export const SipAdapterConfig = Type.Object(
  {
    type: Type.Literal('sip'),
    /** `udp://host:port` / `tcp://host:port`; port 0 picks a free port (tests). */
    listen: Type.Array(Type.String({ pattern: '^(udp|tcp)://' }), { minItems: 1, maxItems: 16 }),
    /** Domains whose users live behind this link. */
    domains: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { minItems: 1 }),
    /** Next hop for everything sent to these domains, e.g. `sip:127.0.0.1:5070;transport=tcp`. */
    route: Type.String({ minLength: 5 }),
    /** Who may send SIP requests to Parley (CIDRs); everyone else gets 403. */
    peers: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
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
    /** Largest body accepted on a stream (bytes). */
    maxBodyBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024 })),
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

export interface ResolvedSipConfig {
  listen: ListenAddr[];
  domains: string[];
  route: { transport: 'udp' | 'tcp'; host: string; port: number };
  peers: Cidr[];
  advertise?: string;
  timers: { t1: number; t2: number; t4: number };
  maxBodyBytes: number;
}

/** Validate a config block; throws SipConfigError naming the key. */
export function resolveSipConfig(raw: Record<string, unknown>): ResolvedSipConfig {
  if (!check.Check(raw)) {
    const first = check.Errors(raw).First();
    const path = (first?.path ?? '').split('/').filter(Boolean);
    throw new SipConfigError(
      path,
      `${first?.message ?? 'invalid'}${path.length ? ` at ${path.join('.')}` : ''}`,
    );
  }
  const cfg = raw as SipAdapterConfig;
  const listen = cfg.listen.map((l, i) => {
    const a = parseListen(l);
    if (!a) throw new SipConfigError(['listen', i], `"${l}" is not udp://host:port or tcp://host:port`);
    return a;
  });
  let routeUri: ReturnType<typeof parseUri>;
  try {
    routeUri = parseUri(cfg.route, 'route');
  } catch (err) {
    throw new SipConfigError(['route'], err instanceof ParseError ? err.message : 'bad route');
  }
  if (!isSipUri(routeUri))
    throw new SipConfigError(['route'], 'route must be a sip: URI, e.g. sip:127.0.0.1:5070');
  const tp = (routeUri.params.get('transport') ?? 'udp').toLowerCase();
  if (tp !== 'udp' && tp !== 'tcp')
    throw new SipConfigError(['route'], `transport=${tp} is not supported (udp or tcp)`);
  if (!listen.some((l) => l.transport === tp)) {
    throw new SipConfigError(['listen'], `the route uses ${tp}, so listen needs a ${tp}:// address`);
  }
  const peers = cfg.peers.map((p, i) => {
    const c = parseCidr(p);
    if (!c)
      throw new SipConfigError(['peers', i], `"${p}" is not a CIDR (e.g. 192.0.2.0/24 or 127.0.0.1/32)`);
    return c;
  });
  const t1 = cfg.timers?.t1 ?? 500;
  const out: ResolvedSipConfig = {
    listen,
    domains: cfg.domains.map((d) => d.toLowerCase()),
    route: { transport: tp, host: routeUri.host.replace(/^\[|\]$/g, ''), port: routeUri.port ?? 5060 },
    peers,
    timers: { t1, t2: cfg.timers?.t2 ?? Math.max(4000, t1), t4: cfg.timers?.t4 ?? 5000 },
    maxBodyBytes: cfg.maxBodyBytes ?? 1024 * 1024,
  };
  if (cfg.advertise) out.advertise = cfg.advertise;
  return out;
}
