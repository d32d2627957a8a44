// Locating SIP servers (RFC 3263 §4): NAPTR -> SRV -> A/AAAA with node:dns, for the next
// hop of a request when no `route` is configured. Transport selection follows §4.1, SRV
// ordering RFC 2782 (priority, then weighted random). Results are cached briefly: Node's
// resolver has no cache and SRV/NAPTR answers carry no TTL through its API.
import { Resolver } from 'node:dns/promises';
import net from 'node:net';
import type { Endpoint, TransportName } from './transport.js';

export interface DnsSettings {
  /** DNS servers (`ip` or `ip:port`); the system's when absent. */
  servers?: string[];
  /** Per-query timeout (ms) and tries. */
  timeoutMs: number;
  tries: number;
  /** How long a resolved target list is reused (ms); 0 disables the cache. */
  cacheMs: number;
}

/** The parts of a SIP URI that RFC 3263 uses. */
export interface SipTarget {
  host: string;
  port?: number;
  /** The `transport` URI parameter, lower-cased. */
  transport?: string;
  /** A `sips:` URI: TLS only. */
  secure: boolean;
}

/** NAPTR services (RFC 3263 §4.1) and SRV prefixes (§4.1, RFC 5630) per transport. */
const NAPTR_SERVICE: Record<string, TransportName> = {
  'SIP+D2U': 'udp',
  'SIP+D2T': 'tcp',
  'SIPS+D2T': 'tls',
};
const SRV_PREFIX: Record<TransportName, string> = {
  tls: '_sips._tcp.',
  tcp: '_sip._tcp.',
  udp: '_sip._udp.',
};
/** Our preference when the domain states none: secure, then reliable, then UDP. */
const PREFERENCE: TransportName[] = ['tls', 'tcp', 'udp'];
const defaultPort = (t: TransportName) => (t === 'tls' ? 5061 : 5060);

export class DnsError extends Error {
  override name = 'DnsError';
}

interface Srv {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** RFC 2782: ascending priority; within one, a weighted random order. */
export function orderSrv(records: Srv[], random: () => number = Math.random): Srv[] {
  const byPriority = new Map<number, Srv[]>();
  for (const r of records) byPriority.set(r.priority, [...(byPriority.get(r.priority) ?? []), r]);
  const out: Srv[] = [];
  for (const p of [...byPriority.keys()].sort((a, b) => a - b)) {
    // Zero weights first, so that they have a small chance when others have weight.
    const left = [...byPriority.get(p)!].sort((a, b) => a.weight - b.weight);
    while (left.length) {
      const total = left.reduce((s, r) => s + r.weight, 0);
      let pick = 0;
      if (total > 0) {
        const x = random() * total;
        let run = 0;
        pick = left.findIndex((r) => {
          run += r.weight;
          return run > x;
        });
        if (pick < 0) pick = left.length - 1;
      }
      out.push(left.splice(pick, 1)[0]!);
    }
  }
  return out;
}

export class SipResolver {
  readonly #dns: Resolver;
  readonly #cache = new Map<string, { at: number; targets: Endpoint[] }>();

  constructor(readonly settings: DnsSettings) {
    this.#dns = new Resolver({ timeout: settings.timeoutMs, tries: settings.tries });
    if (settings.servers?.length) this.#dns.setServers(settings.servers);
  }

  /**
   * The targets to try in order, each with its transport. `usable` is the transports Parley
   * can send with (it has a listener for). Throws DnsError when nothing usable is found.
   */
  async resolve(t: SipTarget, usable: ReadonlySet<TransportName>): Promise<Endpoint[]> {
    const key = `${t.secure ? 's' : ''}|${t.host}|${t.port ?? ''}|${t.transport ?? ''}|${[...usable].join()}`;
    const hit = this.#cache.get(key);
    if (hit && Date.now() - hit.at < this.settings.cacheMs) return hit.targets;
    const targets = await this.#resolve(t, usable);
    if (this.settings.cacheMs > 0) {
      if (this.#cache.size > 10_000) this.#cache.clear();
      this.#cache.set(key, { at: Date.now(), targets });
    }
    return targets;
  }

  async #resolve(t: SipTarget, usable: ReadonlySet<TransportName>): Promise<Endpoint[]> {
    const host = t.host.replace(/^\[|\]$/g, '');
    const allowed = PREFERENCE.filter((p) => usable.has(p) && (!t.secure || p === 'tls'));
    if (allowed.length === 0)
      throw new DnsError(t.secure ? 'a sips: URI needs a tls listener' : 'no listener to send with');
    let transport: TransportName | undefined;
    if (t.transport) {
      const tp = t.transport === 'tls' || t.secure ? 'tls' : t.transport;
      if (tp !== 'udp' && tp !== 'tcp' && tp !== 'tls')
        throw new DnsError(`transport=${t.transport} is not supported`);
      if (!allowed.includes(tp)) throw new DnsError(`no ${tp} listener for transport=${t.transport}`);
      transport = tp;
    }
    // §4.1/§4.2: a numeric address or an explicit port skips NAPTR and SRV.
    if (net.isIP(host) || t.port !== undefined) {
      const tp = transport ?? (t.secure ? 'tls' : allowed.includes('udp') ? 'udp' : allowed[0]!);
      const port = t.port ?? defaultPort(tp);
      const addrs = net.isIP(host) ? [host] : await this.#addresses(host);
      return addrs.map((address) => ({ transport: tp, address, port, tlsName: host }));
    }
    const srvNames: { name: string; transport: TransportName }[] = [];
    if (!transport) {
      for (const n of await this.#naptr(host)) if (allowed.includes(n.transport)) srvNames.push(n);
    }
    const viaNaptr = srvNames.length > 0;
    if (!viaNaptr) {
      for (const tp of transport ? [transport] : allowed)
        srvNames.push({ name: `${SRV_PREFIX[tp]}${host}`, transport: tp });
    }
    const out: Endpoint[] = [];
    for (const s of srvNames) {
      for (const r of orderSrv(await this.#srv(s.name))) {
        if (r.name === '.' || r.name === '') continue; // "service decidedly not available" (RFC 2782)
        let addrs: string[];
        try {
          addrs = await this.#addresses(r.name);
        } catch {
          continue; // a target without addresses: the next one
        }
        for (const address of addrs)
          out.push({ transport: s.transport, address, port: r.port, tlsName: host });
      }
      // §4.1: without NAPTR, the first transport whose SRV query succeeds is the one used.
      if (out.length && !viaNaptr) break;
    }
    if (out.length) return out;
    // §4.2: no SRV records: the host's addresses, default port, UDP (TLS for sips:).
    const tp = transport ?? (t.secure ? 'tls' : allowed.includes('udp') ? 'udp' : allowed[0]!);
    const addrs = await this.#addresses(host);
    return addrs.map((address) => ({ transport: tp, address, port: defaultPort(tp), tlsName: host }));
  }

  async #naptr(host: string): Promise<{ name: string; transport: TransportName }[]> {
    const recs = await this.#query(() => this.#dns.resolveNaptr(host));
    return recs
      .filter((r) => r.flags.toLowerCase() === 's' && NAPTR_SERVICE[r.service.toUpperCase()] && r.replacement)
      .sort((a, b) => a.order - b.order || a.preference - b.preference)
      .map((r) => ({ name: r.replacement, transport: NAPTR_SERVICE[r.service.toUpperCase()]! }));
  }

  #srv(name: string): Promise<Srv[]> {
    return this.#query(() => this.#dns.resolveSrv(name));
  }

  async #addresses(host: string): Promise<string[]> {
    // One family failing (a server that mishandles AAAA) leaves the other usable.
    const got = await Promise.allSettled([
      this.#query(() => this.#dns.resolve4(host)),
      this.#query(() => this.#dns.resolve6(host)),
    ]);
    const all = got.flatMap((g) => (g.status === 'fulfilled' ? g.value : []));
    if (all.length) return all;
    const failed = got.find((g): g is PromiseRejectedResult => g.status === 'rejected');
    if (failed) throw failed.reason;
    throw new DnsError(`${host} has no A or AAAA record`);
  }

  /** A query whose "no such name / no data" is an empty answer; other failures are errors. */
  async #query<T>(q: () => Promise<T[]>): Promise<T[]> {
    try {
      return await q();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENODATA' || code === 'ENOTFOUND' || code === 'NOTFOUND' || code === 'ENONAME') return [];
      throw new DnsError(`DNS query failed: ${code ?? (err as Error).message}`);
    }
  }
}
