// Answers to the iq queries the component and its ghosts get: service discovery
// (XEP-0030), software version (XEP-0092), ping (XEP-0199) and the gateway's address
// translation (XEP-0100 jabber:iq:gateway). Pure: an iq in, the reply out.
import { createHash } from 'node:crypto';
import { type Element, xml } from '@xmpp/xml';
import type { Network } from '../../core/model.js';
import { toGhost } from './ghost.js';
import { parseJid, resolveGhost } from './jid.js';
import { CAPS_NODE, NS } from './ns.js';
import { errorReply, type StanzaError, xmlSafe } from './stanza.js';

export interface IqEnv {
  component: string;
  networkOf(domain: string): Network | null;
  displayName: string;
  software: { name: string; version: string };
}

/** Features a ghost (a remote user) supports, as XMPP clients look for them. */
export const GHOST_FEATURES = [
  NS.discoInfo,
  NS.chatstates,
  NS.receipts,
  NS.markers,
  NS.correct,
  NS.oob,
  NS.reply,
  NS.ping,
  NS.jingle,
  NS.jingleRtp,
  NS.jingleRtpAudio,
  NS.jingleRtpVideo,
  NS.jingleIceUdp,
  NS.jingleDtls,
] as const;

/** Features of the component itself. */
export const COMPONENT_FEATURES = [NS.discoInfo, NS.discoItems, NS.version, NS.ping, NS.gateway] as const;

/** A ghost's disco identity name. */
export const ghostName = (user: string, domain: string): string => xmlSafe(`${user}@${domain}`);

/** The XEP-0115 verification string of a ghost's identity and features. */
export function ghostCapsVer(name: string): string {
  const s = `client/pc//${name}<${[...GHOST_FEATURES]
    .sort()
    .map((f) => `${f}<`)
    .join('')}`;
  return createHash('sha1').update(s, 'utf8').digest('base64');
}

/** The `<c/>` element a ghost's presence carries, so clients know it can do calls. */
export const ghostCaps = (name: string): Element =>
  xml('c', { xmlns: NS.caps, hash: 'sha-1', node: CAPS_NODE, ver: ghostCapsVer(name) });

const result = (el: Element, ...children: (Element | null)[]): Element => {
  const attrs: Record<string, string> = { type: 'result' };
  if (el.attrs.to) attrs.from = el.attrs.to;
  if (el.attrs.from) attrs.to = el.attrs.from;
  if (el.attrs.id !== undefined) attrs.id = el.attrs.id;
  return xml('iq', attrs, ...children);
};

const fail = (el: Element, e: StanzaError): Element => errorReply(el, e);

/** The reply to an iq get/set, or null for results and errors (which get no reply). */
export function answerIq(el: Element, env: IqEnv): Element | null {
  const type = el.attrs.type;
  if (type !== 'get' && type !== 'set') return null;
  if (el.attrs.id === undefined) return null;
  const to = parseJid(el.attrs.to);
  if (!to || to.domain !== env.component) return null;
  const children = el.getChildElements();
  const q = children[0];
  if (children.length !== 1 || !q) {
    return fail(el, { type: 'modify', condition: 'bad-request', text: 'An iq carries exactly one query.' });
  }
  const ns = q.getNS();
  if (to.local) {
    const g = resolveGhost(to, env.component, env.networkOf);
    if (!g.ok) {
      return fail(el, {
        type: 'cancel',
        condition: 'item-not-found',
        text: `${to.local}@${to.domain} is not a reachable gateway address.`,
      });
    }
    if (type === 'get' && q.name === 'query' && ns === NS.discoInfo) {
      const name = ghostName(g.remote.user, g.remote.domain);
      const node = q.attrs.node;
      if (node && node !== `${CAPS_NODE}#${ghostCapsVer(name)}`) {
        return fail(el, { type: 'cancel', condition: 'item-not-found' });
      }
      return result(
        el,
        xml(
          'query',
          { xmlns: NS.discoInfo, node },
          xml('identity', { category: 'client', type: 'pc', name }),
          ...GHOST_FEATURES.map((f) => xml('feature', { var: f })),
        ),
      );
    }
    if (type === 'get' && q.name === 'ping' && ns === NS.ping) return result(el);
    return fail(el, { type: 'cancel', condition: 'service-unavailable' });
  }

  if (type === 'get' && q.name === 'query' && ns === NS.discoInfo) {
    if (q.attrs.node) return fail(el, { type: 'cancel', condition: 'item-not-found' });
    return result(
      el,
      xml(
        'query',
        { xmlns: NS.discoInfo },
        xml('identity', { category: 'gateway', type: 'xmpp', name: xmlSafe(env.displayName) }),
        ...COMPONENT_FEATURES.map((f) => xml('feature', { var: f })),
      ),
    );
  }
  if (type === 'get' && q.name === 'query' && ns === NS.discoItems) {
    if (q.attrs.node) return fail(el, { type: 'cancel', condition: 'item-not-found' });
    return result(el, xml('query', { xmlns: NS.discoItems }));
  }
  if (type === 'get' && q.name === 'query' && ns === NS.version) {
    return result(
      el,
      xml(
        'query',
        { xmlns: NS.version },
        xml('name', {}, env.software.name),
        xml('version', {}, env.software.version),
      ),
    );
  }
  if (type === 'get' && q.name === 'ping' && ns === NS.ping) return result(el);
  if (q.name === 'query' && ns === NS.gateway) {
    if (type === 'get') {
      return result(
        el,
        xml(
          'query',
          { xmlns: NS.gateway },
          xml('desc', {}, 'Enter the address of the contact on their network (user@domain).'),
          xml('prompt', {}, 'Address'),
        ),
      );
    }
    const prompt = (q.getChildText('prompt') ?? '').trim();
    const at = prompt.lastIndexOf('@');
    const user = at > 0 ? prompt.slice(0, at).replace(/^(xmpp:|sip:|@)/i, '') : '';
    const domain = at > 0 ? prompt.slice(at + 1).toLowerCase() : '';
    if (!user || !domain || !/^[a-z0-9.\-:[\]]+$/.test(domain) || !env.networkOf(domain)) {
      return fail(el, {
        type: 'modify',
        condition: 'not-acceptable',
        text: `"${prompt.slice(0, 200)}" is not user@domain of a network this gateway reaches.`,
      });
    }
    const g = toGhost({ user, domain }, 'xmpp', { component: env.component });
    return result(el, xml('query', { xmlns: NS.gateway }, xml('jid', {}, xmlSafe(`${g.user}@${g.domain}`))));
  }
  return fail(el, { type: 'cancel', condition: 'service-unavailable' });
}
