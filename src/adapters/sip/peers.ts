// The configured peers: which source addresses may talk SIP to the link at all, and which
// domains each may assert identities in.
import net from 'node:net';
import { Memo } from '../../core/memo.js';
import type { ResolvedSipConfig } from './config.js';

/** An address and family as net.BlockList checks them (IPv4-mapped IPv6 as IPv4). */
const aclForm = (address: string): [string, 'ipv4' | 'ipv6'] => {
  const mapped = address.startsWith('::ffff:') && /^::ffff:\d+\./.test(address);
  if (mapped) return [address.slice(7), 'ipv4'];
  return [address, net.isIPv6(address) ? 'ipv6' : 'ipv4'];
};

export class PeerAcl {
  readonly #acl = new net.BlockList();
  /** Each peers entry's addresses and the domains it may assert identities in. */
  readonly #lists: { list: net.BlockList; domains: readonly string[] }[] = [];
  /** Answers per source address: BlockList.check builds a SocketAddress each time. */
  readonly #permitted = new Memo<boolean>(4096);
  readonly #speaksFor = new Memo<readonly string[]>(4096);

  constructor(peers: ResolvedSipConfig['peers']) {
    for (const p of peers) {
      this.#acl.addSubnet(p.address, p.prefix, p.family);
      const list = new net.BlockList();
      list.addSubnet(p.address, p.prefix, p.family);
      this.#lists.push({ list, domains: p.domains });
    }
  }

  /** True when the source address is one of the configured peers. */
  permitted(address: string): boolean {
    return this.#permitted.get(address, () => {
      const [a, family] = aclForm(address);
      return this.#acl.check(a, family);
    });
  }

  /**
   * The domains a peer address may assert identities in: those of every peers entry that
   * holds it (an entry without `domains` stands for all of the link's).
   */
  speaksFor(address: string): readonly string[] {
    return this.#speaksFor.get(address, () => {
      const [a, family] = aclForm(address);
      const out = new Set<string>();
      for (const p of this.#lists) if (p.list.check(a, family)) for (const d of p.domains) out.add(d);
      return [...out];
    });
  }
}
