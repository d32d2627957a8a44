// Routing by domain: each adapter serves a list of domains (exact, or `*.suffix` for every
// subdomain); an event goes to the adapter that serves the recipient's domain.
import type { Adapter } from './adapter.js';

export class RoutingError extends Error {
  override name = 'RoutingError';
}

export class RoutingTable {
  readonly #exact = new Map<string, Adapter>();
  readonly #suffixes: { suffix: string; adapter: Adapter }[] = [];
  readonly #adapters = new Map<string, Adapter>();

  add(adapter: Adapter): void {
    if (this.#adapters.has(adapter.name)) throw new RoutingError(`two adapters are named "${adapter.name}"`);
    for (const raw of adapter.domains) {
      const domain = raw.toLowerCase();
      const owner = domain.startsWith('*.')
        ? this.#suffixes.find((s) => s.suffix === domain.slice(1))?.adapter
        : this.#exact.get(domain);
      if (owner) {
        throw new RoutingError(
          `domain "${domain}" is served by both adapters "${owner.name}" and "${adapter.name}"; give it to one`,
        );
      }
      if (domain.startsWith('*.')) this.#suffixes.push({ suffix: domain.slice(1), adapter });
      else this.#exact.set(domain, adapter);
    }
    // Longest suffix first, so the most specific pattern wins.
    this.#suffixes.sort((a, b) => b.suffix.length - a.suffix.length);
    this.#adapters.set(adapter.name, adapter);
  }

  /** The adapter serving `domain`, or undefined. */
  lookup(domain: string): Adapter | undefined {
    const d = domain.toLowerCase();
    const exact = this.#exact.get(d);
    if (exact) return exact;
    for (const s of this.#suffixes) if (d.endsWith(s.suffix)) return s.adapter;
    return undefined;
  }

  byName(name: string): Adapter | undefined {
    return this.#adapters.get(name);
  }

  all(): Adapter[] {
    return [...this.#adapters.values()];
  }
}
