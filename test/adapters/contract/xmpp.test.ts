// The adapter contract (suite.ts) for XMPP, on the in-memory component link: what the
// adapter sends is the stanzas the link was given; a local user's message is a stanza the
// link hands the adapter; the link drops and reconnects.
import { type Element, xml } from '@xmpp/xml';
import t from 'tap';
import { toGhost, unescapeJidLocal } from '../../../src/adapters/xmpp/ghost.js';
import { buildXmppAdapter } from '../../../src/adapters/xmpp/index.js';
import { outboundTable } from '../../../src/adapters/xmpp/outbound.js';
import { tryParseAddress } from '../../../src/core/address.js';
import { silentLogger } from '../../../src/core/logger.js';
import { memoryLinks } from '../../fixtures/xmpp-memory-link.js';
import { type AdapterHarness, adapterContract, type FarEndItem } from './suite.js';

const COMPONENT = 'gw.corp.test';
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const CORRECT = 'urn:xmpp:message-correct:0';

/** `user@domain` of a JID; a ghost as the remote user it stands for. */
function userOf(jid: string | undefined): string {
  const bare = (jid ?? '').split('/')[0] ?? '';
  const at = bare.lastIndexOf('@');
  const local = bare.slice(0, at);
  const domain = bare.slice(at + 1);
  const pct = local.lastIndexOf('%');
  if (domain === COMPONENT && pct > 0)
    return `${unescapeJidLocal(local.slice(0, pct))}@${local.slice(pct + 1)}`;
  return bare;
}

/** The JID a canonical address has on the XMPP server: its own, or its ghost's. */
function jidOf(uri: string): string {
  const a = tryParseAddress(uri);
  if (!a) throw new Error(`not an address: ${uri}`);
  if (a.network === 'xmpp') return `${a.user}@${a.domain}`;
  const g = toGhost({ user: a.user, domain: a.domain }, 'xmpp', { component: COMPONENT });
  return `${g.user}@${g.domain}`;
}

function item(el: Element): FarEndItem {
  const error = el.attrs.type === 'error' ? el.getChild('error') : undefined;
  const condition = error?.getChildElements().find((c) => c.name !== 'text')?.name;
  return {
    to: userOf(el.attrs.to),
    from: userOf(el.attrs.from),
    what: [el.name, el.attrs.type, condition].filter(Boolean).join(' '),
    text: error ? (error.getChildText('text', STANZAS) ?? '') : (el.getChildText('body') ?? ''),
  };
}

const harness: AdapterHarness = {
  network: 'xmpp',
  domain: 'corp.test',
  shows: {
    delivered: 'message chat',
    // RFC 6120 §8.3: a message error back to the sender's resource, from the recipient's ghost.
    refused: 'message error policy-violation',
    notice: 'message chat',
  },
  whileDown: 'queued',
  kindTable: () =>
    outboundTable(() => {
      throw new Error('the harness never delivers through this table');
    }),
  build() {
    const links = memoryLinks();
    const adapter = buildXmppAdapter(
      'corp',
      {
        type: 'xmpp',
        service: 'xmpp://127.0.0.1:5347',
        component: COMPONENT,
        secret: 's',
        domains: ['corp.test'],
      },
      { logger: silentLogger, configDir: '.', link: links.factory },
    );
    let n = 0;
    return {
      adapter,
      linkDown: () => links.current.drop(),
      linkUp: () => links.current.connect(),
      received: () => links.links.flatMap((l) => l.sent).map(item),
      // A stanza is written to the stream: there is no answer to hold.
      hold: () => null,
      inject: async (m) => {
        const id = `in-${++n}`;
        links.current.receive(
          xml(
            'message',
            { from: `${jidOf(m.from)}/phone`, to: jidOf(m.to), type: 'chat', id },
            xml('body', {}, m.body),
            // XEP-0308: a correction, which a network without edits gets as a new message.
            m.degradable ? xml('replace', { xmlns: CORRECT, id: `earlier-${n}` }) : null,
          ),
        );
      },
    };
  },
};

const ran = await adapterContract(t, harness);
t.test('every behaviour of the contract was checked against this adapter, and held', async (t) => {
  t.same(
    ran.map((r) => r.behaviour),
    [
      'deliver',
      'refuse',
      'notice',
      'queued delivery',
      'stop drains',
      'stop drains',
      'capability table honest',
      'capability table honest',
    ],
    'XMPP queues while its link is down',
  );
  t.same(
    ran.filter((r) => !r.ok).map((r) => r.behaviour),
    [],
    'none failed',
  );
});
