// Presence on the XMPP side: local users' presence toward ghosts (per resource, aggregated,
// submitted), the subscription handshake toward ghosts (answered here, XEP-0100 style),
// probes answered from the cache of remote users' presence, and the ghosts shown online to
// local users (made unavailable when the adapter stops).
import { type Element, xml } from '@xmpp/xml';
import type { PresenceEvent } from '../../core/model.js';
import { fromGhost } from './ghost.js';
import { ghostCaps, ghostName } from './iq.js';
import { bareJid, type Jid, parseJid } from './jid.js';
import { GHOST_RESOURCE, type XmppRuntime } from './runtime.js';
import {
  addressesOut,
  aggregatePresence,
  type Outbound,
  presenceEvent,
  type ResourcePresence,
  readPresence,
  route,
  writePresence,
} from './stanza.js';

type CachedPresence = Pick<PresenceEvent, 'show' | 'status' | 'lastActive'>;

export class XmppPresence {
  readonly #rt: XmppRuntime;
  /** Ghost presences shown as available to local users (`to\nfrom`): made unavailable at stop. */
  readonly #shown = new Set<string>();

  constructor(rt: XmppRuntime) {
    this.#rt = rt;
  }

  /** A presence stanza from a local user (to a ghost or to the component). */
  async onPresence(el: Element): Promise<void> {
    const rt = this.#rt;
    const type = el.attrs.type;
    if (type === 'error') return;
    const to = parseJid(el.attrs.to);
    const from = parseJid(el.attrs.from);
    if (!to || !from || to.domain !== rt.cfg.component) return;
    if (!to.local) return this.#toComponent(el, type, from);
    const r = route(el, rt.env);
    if (!r.ok) {
      if (type === 'subscribe' || type === 'probe') {
        await rt.send(
          xml('presence', {
            from: el.attrs.to,
            to: bareJid(from),
            type: type === 'subscribe' ? 'unsubscribed' : 'unavailable',
          }),
        );
      }
      return;
    }
    const ghost = bareJid(r.to);
    const user = bareJid(r.from);
    switch (type) {
      case undefined:
      case 'unavailable': {
        const agg = await this.#trackResource(r.from, readPresence(el));
        await rt.submit(presenceEvent(agg, r.sender, r.recipient, rt.env, el.attrs.id), el);
        return;
      }
      case 'probe': {
        const cached = await this.#cached(user, r.recipient);
        await rt.send(
          writePresence(
            cached ?? { show: 'offline' },
            `${ghost}/${GHOST_RESOURCE}`,
            el.attrs.from ?? user,
            undefined,
            this.#capsOf(r.to),
          ),
        );
        return;
      }
      case 'subscribe': {
        // XEP-0100: the gateway approves for the remote contact, asks for the user's
        // presence in return, and tells what it knows of the contact.
        await rt.send(xml('presence', { from: ghost, to: user, type: 'subscribed' }));
        await rt.send(xml('presence', { from: ghost, to: user, type: 'subscribe' }));
        const cached = await this.#cached(user, r.recipient);
        if (cached) {
          await rt.send(
            writePresence(cached, `${ghost}/${GHOST_RESOURCE}`, user, undefined, this.#capsOf(r.to)),
          );
        }
        return;
      }
      case 'unsubscribe':
        await rt.send(xml('presence', { from: ghost, to: user, type: 'unsubscribed' }));
        await rt.send(xml('presence', { from: ghost, to: user, type: 'unavailable' }));
        return;
      case 'unsubscribed':
        // The user no longer shares presence with the contact: they see them go offline.
        await rt.submit(presenceEvent({ show: 'offline', priority: 0 }, r.sender, r.recipient, rt.env), el);
        return;
      default:
        return;
    }
  }

  /** The stanza for a remote user's presence, from their ghost's one resource; cached for probes. */
  async build(event: PresenceEvent): Promise<Outbound> {
    const a = addressesOut(event, this.#rt.cfg.component);
    if (!a.ok) return a;
    const cached: CachedPresence = { show: event.show };
    if (event.status) cached.status = event.status;
    if (event.lastActive) cached.lastActive = event.lastActive;
    await this.#rt.ctx.state.hset(this.#cacheKey(bareJid(a.to)), event.from, JSON.stringify(cached));
    // From the ghost's one resource, which is also where its calls come from.
    return {
      ok: true,
      stanza: writePresence(
        cached,
        `${bareJid(a.ghost)}/${GHOST_RESOURCE}`,
        bareJid(a.to),
        event.id,
        this.#capsOf(a.ghost),
      ),
    };
  }

  /** The resource of a local user with the highest priority, from their presence toward ghosts. */
  async bestResource(userBare: string): Promise<string | null> {
    const all = await this.#rt.ctx.state.hgetall(`resources:${userBare}`);
    let best: { r: string; p: number } | null = null;
    for (const [r, v] of Object.entries(all)) {
      try {
        const p = (JSON.parse(v) as ResourcePresence).priority ?? 0;
        if (!best || p > best.p) best = { r, p };
      } catch {
        // ignore a corrupt entry
      }
    }
    return best?.r ?? null;
  }

  /** A stanza went out: keep track of the ghosts shown available. */
  sent(el: Element): void {
    if (el.name !== 'presence' || !el.attrs.from?.endsWith(`/${GHOST_RESOURCE}`) || !el.attrs.to) return;
    const key = `${el.attrs.to}\n${el.attrs.from}`;
    if (el.attrs.type === undefined) this.#shown.add(key);
    else if (el.attrs.type === 'unavailable') this.#shown.delete(key);
  }

  /** The link closed (another replica may hold it): what was shown is its business now. */
  forget(): void {
    this.#shown.clear();
  }

  /** Make every ghost shown online unavailable: they would otherwise stay online in the rosters. */
  async hideAll(): Promise<void> {
    for (const key of this.#shown) {
      const [to, from] = key.split('\n');
      if (to && from) await this.#rt.send(xml('presence', { from, to, type: 'unavailable' }));
    }
    this.#shown.clear();
  }

  async #toComponent(el: Element, type: string | undefined, from: Jid): Promise<void> {
    const rt = this.#rt;
    const me = rt.cfg.component;
    if (type === 'probe') await rt.send(xml('presence', { from: me, to: el.attrs.from ?? bareJid(from) }));
    else if (type === 'subscribe') {
      await rt.send(xml('presence', { from: me, to: bareJid(from), type: 'subscribed' }));
      await rt.send(xml('presence', { from: me, to: bareJid(from) }));
    } else if (type === 'unsubscribe') {
      await rt.send(xml('presence', { from: me, to: bareJid(from), type: 'unsubscribed' }));
    }
  }

  /** Record one resource's presence; returns the user's aggregate presence. */
  async #trackResource(from: Jid, p: ResourcePresence): Promise<ResourcePresence> {
    const state = this.#rt.ctx.state;
    const key = `resources:${bareJid(from)}`;
    const field = from.resource || '';
    if (p.show === 'offline') await state.hdel(key, field);
    else await state.hset(key, field, JSON.stringify(p));
    const all = await state.hgetall(key);
    const list: ResourcePresence[] = [];
    for (const v of Object.values(all)) {
      try {
        list.push(JSON.parse(v) as ResourcePresence);
      } catch {
        // ignore a corrupt entry
      }
    }
    const agg = aggregatePresence(list);
    // Going offline keeps the status text the last resource left with.
    return agg.show === 'offline' && p.status ? { ...agg, status: p.status } : agg;
  }

  #cacheKey(userBare: string): string {
    return `presence:${userBare}`;
  }

  async #cached(userBare: string, remote: string): Promise<CachedPresence | null> {
    const v = await this.#rt.ctx.state.hget(this.#cacheKey(userBare), remote);
    if (!v) return null;
    try {
      return JSON.parse(v) as CachedPresence;
    } catch {
      return null;
    }
  }

  /** The caps element for a ghost's presence (XEP-0115), or undefined if it is no ghost. */
  #capsOf(ghost: Jid): Element | undefined {
    const r = fromGhost(
      { network: 'xmpp', user: ghost.local, domain: ghost.domain },
      { component: this.#rt.cfg.component },
    );
    return r ? ghostCaps(ghostName(r.user, r.domain)) : undefined;
  }
}
