import { createHash } from 'node:crypto';
import t from 'tap';
import { answerIq, ghostCaps } from '../../../src/adapters/xmpp/iq.js';
import { canon, xmlParse } from '../../fixtures/xml-helpers.js';

const env = {
  component: 'gw.corp.test',
  networkOf: (d: string) => (d === 'hs.test' ? ('matrix' as const) : null),
  displayName: 'Parley gateway',
  software: { name: 'Parley', version: '0.1.0' },
};
const ask = (s: string) => answerIq(xmlParse(s), env);

t.test('version, ping, items and gateway translation', async (t) => {
  t.equal(
    canon(
      ask(
        `<iq type="get" id="1" from="a@corp.test/x" to="gw.corp.test"><query xmlns="jabber:iq:version"/></iq>`,
      )!,
    ),
    canon(
      `<iq type="result" id="1" from="gw.corp.test" to="a@corp.test/x"><query xmlns="jabber:iq:version"><name>Parley</name><version>0.1.0</version></query></iq>`,
    ),
  );
  t.equal(
    canon(
      ask(
        `<iq type="get" id="2" from="a@corp.test/x" to="bob%hs.test@gw.corp.test"><ping xmlns="urn:xmpp:ping"/></iq>`,
      )!,
    ),
    canon(`<iq type="result" id="2" from="bob%hs.test@gw.corp.test" to="a@corp.test/x"/>`),
  );
  t.equal(
    canon(
      ask(
        `<iq type="get" id="3" from="a@corp.test/x" to="gw.corp.test"><query xmlns="http://jabber.org/protocol/disco#items"/></iq>`,
      )!,
    ),
    canon(
      `<iq type="result" id="3" from="gw.corp.test" to="a@corp.test/x"><query xmlns="http://jabber.org/protocol/disco#items"/></iq>`,
    ),
  );
  t.equal(
    ask(
      `<iq type="set" id="4" to="gw.corp.test"><query xmlns="jabber:iq:gateway"><prompt>J@ne@hs.test</prompt></query></iq>`,
    )
      ?.getChild('query')
      ?.getChildText('jid'),
    'J\\40ne%hs.test@gw.corp.test',
  );
});

t.test('what gets no answer or an error', async (t) => {
  t.equal(ask(`<iq type="result" id="1" to="gw.corp.test"/>`), null);
  t.equal(ask(`<iq type="get" to="gw.corp.test"><ping xmlns="urn:xmpp:ping"/></iq>`), null, 'no id');
  t.equal(ask(`<iq type="get" id="1" to="other.test"><ping xmlns="urn:xmpp:ping"/></iq>`), null);
  const cond = (s: string) => ask(s)?.getChild('error')?.getChildElements()[0]?.name;
  t.equal(
    cond(`<iq type="get" id="1" to="x%mars.test@gw.corp.test"><ping xmlns="urn:xmpp:ping"/></iq>`),
    'item-not-found',
  );
  t.equal(
    cond(`<iq type="set" id="1" to="gw.corp.test"><vCard xmlns="vcard-temp"/></iq>`),
    'service-unavailable',
  );
  t.equal(
    cond(`<iq type="get" id="1" to="bob%hs.test@gw.corp.test"><query xmlns="jabber:iq:version"/></iq>`),
    'service-unavailable',
  );
});

t.test('ghost caps (XEP-0115): the advertised ver matches the disco#info a client gets', async (t) => {
  const c = ghostCaps('bob@hs.test');
  const node = `${c.attrs.node}#${c.attrs.ver}`;
  const reply = ask(
    `<iq type="get" id="c1" from="a@corp.test/x" to="bob%hs.test@gw.corp.test"><query xmlns="http://jabber.org/protocol/disco#info" node="${node}"/></iq>`,
  );
  const q = reply?.getChild('query');
  t.equal(q?.attrs.node, node);
  // The client's side of XEP-0115 §5.1, computed from what it received.
  const ids = (q?.getChildren('identity') ?? []).map(
    (i) => `${i.attrs.category}/${i.attrs.type}/${i.attrs['xml:lang'] ?? ''}/${i.attrs.name ?? ''}<`,
  );
  const features = (q?.getChildren('feature') ?? []).map((f) => `${f.attrs.var}<`);
  const s = [...ids.sort(), ...features.sort()].join('');
  t.equal(createHash('sha1').update(s).digest('base64'), c.attrs.ver);
  const wrong = ask(
    `<iq type="get" id="c2" to="bob%hs.test@gw.corp.test"><query xmlns="http://jabber.org/protocol/disco#info" node="x#y"/></iq>`,
  );
  t.equal(wrong?.getChild('error')?.getChildElements()[0]?.name, 'item-not-found');
});
