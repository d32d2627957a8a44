// Zones: which zone a host is in (its exact domain, else its longest `*.suffix`, else
// `*`), and an event's direction between two zones, relative to the enterprise zone.
import type { Direction } from './context.js';
import type { PolicyDocument } from './schema.js';

export interface Zones {
  names: string[];
  /** Index of the `enterprise` zone; -1 when there is none. */
  enterprise: number;
  /** Zone index of a host; -1 when no zone matches. */
  ofHost(host: string): number;
  direction(fromZone: number, toZone: number): Direction;
}

export function compileZones(doc: PolicyDocument): Zones {
  const zoneNames = Object.keys(doc.zones);
  const enterprise = zoneNames.indexOf('enterprise');
  const exactZone = new Map<string, number>();
  const suffixZone = new Map<string, number>();
  let starZone = -1;
  zoneNames.forEach((name, zi) => {
    for (const raw of doc.zones[name]!.domains) {
      const p = raw.toLowerCase();
      if (p === '*') starZone = zi;
      else if (p.startsWith('*.')) suffixZone.set(p.slice(2), zi);
      else exactZone.set(p, zi);
    }
  });
  const zoneOfHost = (host: string): number => {
    const exact = exactZone.get(host);
    if (exact !== undefined) return exact;
    // The longest suffix is the most specific; `*.x` matches subdomains of x only.
    for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) {
      const z = suffixZone.get(host.slice(dot + 1));
      if (z !== undefined) return z;
    }
    return starZone;
  };

  const direction = (fz: number, tz: number): Direction => {
    const fin = enterprise >= 0 && fz === enterprise;
    const tin = enterprise >= 0 && tz === enterprise;
    return fin ? (tin ? 'internal' : 'outbound') : tin ? 'inbound' : 'external';
  };

  return { names: zoneNames, enterprise, ofHost: zoneOfHost, direction };
}
