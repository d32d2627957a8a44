// What arrives from the XMPP server, by stanza name: messages (translated and submitted, or
// a server's error bouncing what Parley sent), presence (the presence manager) and iqs
// (Jingle to the call manager, answers to Parley's own iqs, the rest answered here:
// disco, version, ping). Anything else is ignored.
import type { Element } from '@xmpp/xml';
import type { XmppCalls } from './calls.js';
import { answerIq } from './iq.js';
import { bareJid, parseJid } from './jid.js';
import { NS } from './ns.js';
import type { XmppPresence } from './presence.js';
import type { XmppRuntime } from './runtime.js';
import { describeError, errorReply, readMessage } from './stanza.js';

export const XMPP_SOFTWARE = { name: 'Parley', version: '0.1.0' };

export type StanzaHandler = (el: Element) => Promise<void>;

/** A handler per stanza name the adapter takes from its server. */
export interface InboundTable {
  readonly message: StanzaHandler;
  readonly presence: StanzaHandler;
  readonly iq: StanzaHandler;
}

export function inboundTable(rt: XmppRuntime, presence: XmppPresence, calls: XmppCalls): InboundTable {
  return {
    message: (el) => (el.attrs.type === 'error' ? onMessageError(rt, el) : onMessage(rt, el)),
    presence: (el) => presence.onPresence(el),
    iq: (el) => onIq(rt, calls, el),
  };
}

/** Hand a stanza to its handler (none: ignored). */
export function dispatchStanza(table: InboundTable, el: Element): Promise<void> {
  const name = el.name;
  if (name !== 'message' && name !== 'presence' && name !== 'iq') return Promise.resolve();
  return table[name](el);
}

async function onMessage(rt: XmppRuntime, el: Element): Promise<void> {
  const r = readMessage(el, rt.env);
  if (r.kind === 'ignore') {
    rt.log.debug({ why: r.why, id: el.attrs.id }, 'xmpp message ignored');
    return;
  }
  if (r.kind === 'error') {
    await rt.send(errorReply(el, r.error));
    return;
  }
  for (const e of r.events) await rt.submit(e, el);
}

/** A local server's error for a message Parley sent (e.g. the user is offline): bounce it. */
async function onMessageError(rt: XmppRuntime, el: Element): Promise<void> {
  const from = parseJid(el.attrs.from);
  if (!from || !el.attrs.id) return;
  const event = rt.sent.take(bareJid(from), el.attrs.id);
  if (!event) {
    rt.log.debug({ id: el.attrs.id, error: describeError(el) }, 'xmpp error for an unknown message');
    return;
  }
  await rt.ctx.bounce(event, {
    code: 'delivery',
    rule: null,
    reason: `${bareJid(from)} could not receive it (${describeError(el)})`,
  });
}

async function onIq(rt: XmppRuntime, calls: XmppCalls, el: Element): Promise<void> {
  const type = el.attrs.type;
  if (type === 'error' || type === 'result') return calls.onAnswer(el);
  const jingle = el.getChild('jingle', NS.jingle);
  if (type === 'set' && jingle && el.getChildElements().length === 1) return calls.onJingle(el, jingle);
  const reply = answerIq(el, {
    component: rt.cfg.component,
    networkOf: (d) => rt.ctx.networkOf(d),
    displayName: rt.cfg.displayName,
    software: XMPP_SOFTWARE,
  });
  if (reply) await rt.send(reply);
}
