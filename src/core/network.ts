// Networks are plug-ins. A network module declares its name, how its addresses read and
// write, its adapter's config block and how to create that adapter; the composition root
// registers the modules it ships (src/networks.ts), and the core knows networks only
// through this registry: it holds no network's name, scheme or address syntax.
// docs/adding-a-network.md walks through writing one.
import type { TSchema } from '@sinclair/typebox';
import type { Adapter } from './adapter.js';
import type { Address } from './address.js';
import type { Logger } from './logger.js';

/** An address without its network: what a codec reads from a URI. */
export type AddressParts = Omit<Address, 'network'>;

/** How a network's addresses are written as URIs, and read back. */
export interface AddressCodec {
  /**
   * Read what follows `<scheme>:` (one of the module's schemes); `uri` is the whole text,
   * for messages. Throws AddressError saying what is wrong.
   */
  parse(rest: string, uri: string): AddressParts;
  /** The URI of an address of this network (the inverse of parse). */
  format(a: Address): string;
  /**
   * For searching the audit trail: the person (`user@domain`, lower case) a form people
   * use on this network names, when that form is not a URI (e.g. a native user id or a
   * web link to one); null when it is this network's form but names nobody, undefined
   * when `text` is not one of its forms. `personOf` reads anything else (e.g. an
   * unwrapped link's content) the way the trail search does.
   */
  personOf?(text: string, personOf: (text: string) => string | null): string | null | undefined;
}

/** What the composition root gives a network's factory. */
export interface NetworkDeps {
  logger: Logger;
  /** Folder of the config file, for resolving relative paths (registration files, certs). */
  configDir: string;
}

export interface NetworkModule {
  /** Lower case: the config's adapter `type`, `Address.network`, the policy's `network`. */
  readonly name: string;
  /** How people call it, in what senders are told ("X cannot edit messages"). */
  readonly displayName: string;
  /** URI schemes of its addresses, lower case, without the colon. */
  readonly schemes: readonly string[];
  /** How its URIs begin, for messages that list the forms (`chat:`, `net:u/`). */
  readonly uriForm: string;
  /** An address, for messages that show one (`chat:carol@partner.example`). */
  readonly example: string;
  readonly codec: AddressCodec;
  /** The schema of an adapter block of this type (its `type` is the literal `name`). */
  readonly configSchema: TSchema;
  /**
   * Create an adapter from its config block; rejects with an AdapterConfigError naming the
   * key (relative to the block) when the block is wrong. A promise, so that a module can
   * load its adapter's code only when a link of its network is configured.
   */
  create(name: string, config: Record<string, unknown>, deps: NetworkDeps): Promise<Adapter>;
}

const NAME = /^[a-z][a-z0-9-]{0,31}$/;
const SCHEME = /^[a-z][a-z0-9+.-]*$/;

let modules: readonly NetworkModule[] = [];
let byName = new Map<string, NetworkModule>();
let byScheme = new Map<string, NetworkModule>();
let generation = 0;

/**
 * Make `list` the networks this process knows (replacing any earlier list). Throws when a
 * name or scheme is malformed or taken twice.
 */
export function registerNetworks(list: readonly NetworkModule[]): void {
  const names = new Map<string, NetworkModule>();
  const schemes = new Map<string, NetworkModule>();
  for (const m of list) {
    if (!NAME.test(m.name)) throw new Error(`network name "${m.name}" must be lower case (a-z, 0-9, -)`);
    if (names.has(m.name)) throw new Error(`network "${m.name}" is registered twice`);
    if (m.schemes.length === 0) throw new Error(`network "${m.name}" declares no URI scheme`);
    names.set(m.name, m);
    for (const s of m.schemes) {
      if (!SCHEME.test(s)) throw new Error(`network "${m.name}": scheme "${s}" must be lower case`);
      const other = schemes.get(s);
      if (other) throw new Error(`networks "${other.name}" and "${m.name}" both claim the scheme "${s}:"`);
      schemes.set(s, m);
    }
  }
  modules = [...list];
  byName = names;
  byScheme = schemes;
  generation++;
}

/** The registered modules, in the order registered. */
export const networkModules = (): readonly NetworkModule[] => modules;

/** The registered network names, in the order registered. */
export const networkNames = (): string[] => modules.map((m) => m.name);

/** The module of a network, or undefined when none is registered by that name. */
export const networkModule = (name: string): NetworkModule | undefined => byName.get(name);

/** The module whose addresses use `scheme` (lower case, without the colon). */
export const networkOfScheme = (scheme: string): NetworkModule | undefined => byScheme.get(scheme);

/** Changes whenever the registry does: what is derived from it (memos, schemas) is rebuilt. */
export const registryGeneration = (): number => generation;

/** How people call a network (its name when it is not registered). */
export const displayNameOf = (network: string): string => byName.get(network)?.displayName ?? network;

/** The URI forms of every network, for messages: `a:, b: or c:`. */
export function uriForms(conjunction = 'or'): string {
  const forms = modules.map((m) => m.uriForm);
  return forms.length > 1
    ? `${forms.slice(0, -1).join(', ')} ${conjunction} ${forms[forms.length - 1]}`
    : (forms[0] ?? 'none registered');
}

/** True when `text` starts with the scheme of a registered network (`scheme:`). */
export function hasNetworkScheme(text: string): boolean {
  const colon = text.indexOf(':');
  return colon > 0 && byScheme.has(text.slice(0, colon).toLowerCase());
}
