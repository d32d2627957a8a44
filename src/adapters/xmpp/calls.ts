// Calls on the XMPP side (Jingle): a local user's Jingle request to a ghost is acknowledged
// and submitted as a call event, in order per session; a call event for a local user goes
// out as an iq to the call's full JID (or the user's best resource, for an invite); a
// client's error answer bounces the call event; a refused call is hung up. Each call's
// routing (the local and ghost full JIDs) is kept in the store by Jingle sid.
import { randomUUID } from 'node:crypto';
import { type Element, xml } from '@xmpp/xml';
import type { Refusal } from '../../core/adapter.js';
import type { CallEvent } from '../../core/model.js';
import { bareJid, fullJid, parseJid } from './jid.js';
import { type JingleRead, readJingle, writeJingle } from './jingle.js';
import type { XmppPresence } from './presence.js';
import { GHOST_RESOURCE, iqResult, type XmppRuntime, xmlSafeId } from './runtime.js';
import { addressesOut, describeError, errorReply, type Outbound, type Routed, route } from './stanza.js';

/** How long a call's routing is remembered without a hangup. */
const CALL_TTL_MS = 6 * 3600_000;

/** Where a call's XMPP leg goes: the local user's full JID and the ghost's. */
interface CallLeg {
  local: string;
  ghost: string;
}

export class XmppCalls {
  readonly #rt: XmppRuntime;
  readonly #presence: XmppPresence;
  /**
   * The tail of each call's submissions, by Jingle sid. The iq is acknowledged at once, so
   * a client sends session-accept right after session-info <ringing/>; without this the
   * accept could overtake the ringing in the pipeline and the ringing would be dropped.
   */
  readonly #tails = new Map<string, Promise<void>>();

  constructor(rt: XmppRuntime, presence: XmppPresence) {
    this.#rt = rt;
    this.#presence = presence;
  }

  /** A Jingle request from a local user to a ghost: acknowledge, then submit the call event. */
  async onJingle(el: Element, jingle: Element): Promise<void> {
    const rt = this.#rt;
    const r = route(el, rt.env);
    if (!r.ok) {
      if (r.result.kind === 'error') await rt.send(errorReply(el, r.result.error));
      return;
    }
    const read = readJingle(jingle);
    if (!read) {
      // session-info without ringing (mute, hold) is acknowledged; other actions are not carried.
      if (jingle.attrs.action === 'session-info') await rt.send(iqResult(el));
      else {
        await rt.send(
          errorReply(el, {
            type: 'cancel',
            condition: 'feature-not-implemented',
            text: `Jingle ${jingle.attrs.action ?? '(no action)'} is not carried by this gateway.`,
          }),
        );
      }
      return;
    }
    await rt.send(iqResult(el));
    const prev = this.#tails.get(read.sid);
    const run = (prev ?? Promise.resolve()).then(() => this.#submit(el, r, read));
    const tail = run.catch(() => undefined);
    this.#tails.set(read.sid, tail);
    try {
      await run;
    } finally {
      if (this.#tails.get(read.sid) === tail) this.#tails.delete(read.sid);
    }
  }

  /** A local client's answer to an iq Parley sent: an error bounces the call event. */
  async onAnswer(el: Element): Promise<void> {
    const from = parseJid(el.attrs.from);
    if (!from || !el.attrs.id) return;
    const event = this.#rt.sent.take(bareJid(from), el.attrs.id);
    if (!event || el.attrs.type !== 'error') return;
    await this.#rt.ctx.bounce(event, {
      code: 'delivery',
      rule: null,
      reason: `${bareJid(from)} refused the call signal (${describeError(el)})`,
    });
  }

  /** The iq carrying a call event to the local user (the full JID of the call, or their best resource). */
  async build(event: CallEvent): Promise<Outbound> {
    const a = addressesOut(event, this.#rt.cfg.component);
    if (!a.ok) return a;
    const ghost = `${bareJid(a.ghost)}/${GHOST_RESOURCE}`;
    let leg = await this.#leg(event.callId);
    if (!leg) {
      if (event.action !== 'invite')
        return { ok: false, reason: `no call ${event.callId} with ${bareJid(a.to)}` };
      const resource = await this.#presence.bestResource(bareJid(a.to));
      if (resource === null) {
        return {
          ok: false,
          reason: `${bareJid(a.to)} has no online XMPP resource known to the gateway (share presence with the caller first)`,
        };
      }
      leg = { local: resource ? `${bareJid(a.to)}/${resource}` : bareJid(a.to), ghost };
    }
    await this.#keep(event.callId, event.action === 'hangup' ? null : leg);
    return {
      ok: true,
      stanza: xml(
        'iq',
        { type: 'set', from: leg.ghost, to: leg.local, id: xmlSafeId(event.id) },
        writeJingle(
          event.action,
          event.callId,
          { initiator: leg.ghost, responder: leg.ghost },
          event.session,
          event.reason,
        ),
      ),
    };
  }

  /** A call from a local user was refused: hang it up toward them, saying why. */
  async refuse(event: CallEvent, refusal: Refusal): Promise<void> {
    if (event.action === 'hangup') return;
    const leg = await this.#leg(event.callId);
    if (!leg) return;
    await this.#keep(event.callId, null);
    const reason =
      refusal.code === 'policy'
        ? 'policy'
        : refusal.code === 'unsupported'
          ? 'unsupported-applications'
          : 'connectivity-error';
    const jingle = writeJingle('hangup', event.callId, {}, undefined, reason);
    jingle.getChild('reason')?.append(xml('text', {}, refusal.reason));
    await this.#rt.send(
      xml('iq', { type: 'set', from: leg.ghost, to: leg.local, id: `parley-${randomUUID()}` }, jingle),
    );
  }

  async #submit(el: Element, r: Extract<Routed, { ok: true }>, read: JingleRead): Promise<void> {
    const rt = this.#rt;
    const leg: CallLeg = { local: fullJid(r.from), ghost: `${bareJid(r.to)}/${GHOST_RESOURCE}` };
    await this.#keep(read.sid, read.action === 'hangup' ? null : leg);
    const event: CallEvent = {
      kind: 'call',
      id: el.attrs.id && el.attrs.id.length <= 512 ? el.attrs.id : rt.env.newId(),
      time: rt.env.now().toISOString(),
      from: r.sender,
      to: r.recipient,
      adapter: rt.name,
      traceId: rt.env.newTraceId(),
      action: read.action,
      callId: read.sid,
      ...(read.session ? { session: read.session } : {}),
      ...(read.reason ? { reason: read.reason } : {}),
    };
    await rt.submit(event, el);
  }

  async #leg(sid: string): Promise<CallLeg | null> {
    const v = await this.#rt.ctx.state.get(`call:${sid}`);
    if (!v) return null;
    try {
      return JSON.parse(v) as CallLeg;
    } catch {
      return null;
    }
  }

  /** Keep a call's routing, or forget it (null: the call ended). */
  async #keep(sid: string, leg: CallLeg | null): Promise<void> {
    if (leg) await this.#rt.ctx.state.set(`call:${sid}`, JSON.stringify(leg), CALL_TTL_MS);
    else await this.#rt.ctx.state.del(`call:${sid}`);
  }
}
