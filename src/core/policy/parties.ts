// Parties: each end of an event as the policy sees it (zone, segments, domain keys),
// cached per address; and the matchers of a rule's `from`, `to`, `party` and `between`.
import { parseAddress } from '../address.js';
import type { Party, Tri } from './context.js';
import { fmtList, list } from './lists.js';
import {
  canonKey,
  type DomainMatcher,
  domainMatcher,
  domainMatches,
  hostOf,
  parseMemberRef,
  type Segment,
} from './members.js';
import type { PartyMatch } from './schema.js';

/** What a party is resolved against: the policy's zones and segments. */
export interface PartyScope {
  zoneNames: readonly string[];
  segmentNames: readonly string[];
  segments: readonly Segment[];
  zoneOfHost(host: string): number;
}

/** The party of an address URI, resolved against `scope` (cached per address string). */
export function partyResolver(scope: PartyScope): (uri: string) => Party {
  const { segmentNames, segments, zoneOfHost } = scope;
  // Parties, cached per address string (bounded, oldest out). Sized for a gateway's working
  // set of correspondents (a few hundred bytes each): a cache smaller than the working set
  // misses on every event under FIFO eviction and parses every address again.
  const cache = new Map<string, Party>();
  const CACHE_MAX = 100_000;
  const noSegs = new Uint8Array(segmentNames.length);
  const party = (uri: string): Party => {
    const hit = cache.get(uri);
    if (hit) return hit;
    let p: Party;
    try {
      const a = parseAddress(uri);
      const host = hostOf(a.domain);
      const user = a.user.toLowerCase();
      const bare = `${user}@${host}`;
      const canon = canonKey(a);
      const segs = new Uint8Array(segmentNames.length);
      segments.forEach((s, i) => {
        if (s.bare.has(bare) || s.uris.has(canon)) segs[i] = 1;
      });
      const domainKeys = [host];
      for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) {
        domainKeys.push(`*${host.slice(dot)}`);
      }
      p = {
        uri,
        valid: true,
        error: null,
        network: a.network,
        user,
        host,
        bare,
        canon,
        zone: zoneOfHost(host),
        segs,
        domainKeys,
      };
    } catch (err) {
      p = {
        uri,
        valid: false,
        error: err instanceof Error ? err.message : String(err),
        network: '',
        user: '',
        host: '',
        bare: '',
        canon: '',
        zone: -1,
        segs: noSegs,
        domainKeys: [],
      };
    }
    if (cache.size >= CACHE_MAX) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(uri, p);
    return p;
  };
  return party;
}

export interface PartyMatcher {
  test(p: Party): boolean;
  explain(p: Party): string;
  tri(zone: number): Tri;
  domains: DomainMatcher | null;
}

/** Compiles a rule's `PartyMatch` against `scope`. */
export function partyMatchers(scope: PartyScope): (pm: PartyMatch) => PartyMatcher {
  const { zoneNames, segmentNames, zoneOfHost } = scope;
  const zoneName = (z: number): string => (z < 0 ? '(none)' : zoneNames[z]!);

  return (pm: PartyMatch): PartyMatcher => {
    const zones = new Set(list(pm.zone).map((z) => zoneNames.indexOf(z)));
    const hasZone = pm.zone !== undefined;
    const domains = pm.domain !== undefined ? domainMatcher(list(pm.domain)) : null;
    const networks = pm.network !== undefined ? new Set<string>(list(pm.network)) : null;
    let users: { local: Set<string>; bare: Set<string>; uri: Set<string> } | null = null;
    if (pm.user !== undefined) {
      users = { local: new Set(), bare: new Set(), uri: new Set() };
      for (const u of list(pm.user)) {
        const ref = parseMemberRef(u, true);
        if (typeof ref === 'string') throw new Error(ref);
        users[ref.kind === 'local' ? 'local' : ref.kind === 'bare' ? 'bare' : 'uri'].add(ref.key);
      }
    }
    const segIdx = list(pm.segment).map((s) => segmentNames.indexOf(s));
    const hasSeg = pm.segment !== undefined;
    // Exact domains settle the zone at compile time.
    const exactOnly = domains && !domains.any && domains.suffixes.length === 0;
    const exactZones = exactOnly ? new Set([...domains.exact].map((d) => zoneOfHost(d))) : null;
    const userOk = (p: Party): boolean =>
      users !== null && (users.local.has(p.user) || users.bare.has(p.bare) || users.uri.has(p.canon));
    const segOk = (p: Party): boolean => {
      for (const i of segIdx) if (p.segs[i] === 1) return true;
      return false;
    };
    return {
      domains,
      test(p) {
        if (hasZone && !zones.has(p.zone)) return false;
        if (domains && !domainMatches(domains, p.host)) return false;
        if (networks && !networks.has(p.network)) return false;
        if (users && !userOk(p)) return false;
        if (hasSeg && !segOk(p)) return false;
        return true;
      },
      explain(p) {
        const parts: string[] = [];
        if (hasZone) {
          const ok = zones.has(p.zone);
          parts.push(`zone ${zoneName(p.zone)} ${ok ? 'is' : 'is not'} one of ${fmtList(list(pm.zone))}`);
        }
        if (domains) {
          const ok = domainMatches(domains, p.host);
          parts.push(`domain ${p.host} ${ok ? 'matches' : 'does not match'} ${fmtList(domains.patterns)}`);
        }
        if (networks) {
          const ok = networks.has(p.network);
          parts.push(`network ${p.network} ${ok ? 'is' : 'is not'} one of ${fmtList([...networks])}`);
        }
        if (users) {
          parts.push(`user ${p.bare} ${userOk(p) ? 'is' : 'is not'} one of ${fmtList(list(pm.user))}`);
        }
        if (hasSeg) {
          parts.push(`${p.bare} ${segOk(p) ? 'is' : 'is not'} in segment ${fmtList(list(pm.segment))}`);
        }
        return parts.length ? parts.join(', ') : 'anyone';
      },
      tri(zone) {
        if (hasZone && !zones.has(zone)) return 0;
        if (exactZones && !exactZones.has(zone)) return 0;
        if (domains && !domains.any) return 1;
        if (networks || users || hasSeg) return 1;
        return 2;
      },
    };
  };
}
