// Jingle <-> the neutral session description, without SDP: the XEP-0167 example session
// read into canonical terms, written back, and read again to the same description.
import t from 'tap';
import { readJingle, writeJingle } from '../../../src/adapters/xmpp/jingle.js';
import type { SessionDescription } from '../../../src/core/model.js';
import { canon, xmlParse } from '../../fixtures/xml-helpers.js';

const INITIATE = `<jingle xmlns="urn:xmpp:jingle:1" action="session-initiate" initiator="romeo@montague.lit/orchard" sid="a73sjjvkla37jfea">
  <content creator="initiator" name="voice" senders="both">
    <description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio">
      <payload-type id="111" name="opus" clockrate="48000" channels="2">
        <parameter name="minptime" value="10"/><parameter name="useinbandfec" value="1"/>
      </payload-type>
      <payload-type id="0" name="PCMU" clockrate="8000"/>
      <payload-type id="bad" name="x"/>
      <rtcp-mux/>
    </description>
    <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="8hhy" pwd="asd88fgpdd777uzjYhagZg">
      <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="actpass">02:1A:CC:54:27:AB</fingerprint>
      <candidate component="1" foundation="1" generation="0" id="el0747fg11" ip="10.0.1.1" network="1" port="8998" priority="2130706431" protocol="udp" type="host"/>
      <candidate component="1" foundation="2" generation="0" id="y3s2b30v3r" ip="192.0.2.3" network="1" port="45664" priority="1694498815" protocol="udp" rel-addr="10.0.1.1" rel-port="8998" type="srflx"/>
      <candidate component="1" foundation="3" ip="x" port="99999" priority="1" protocol="udp" type="host"/>
    </transport>
  </content>
</jingle>`;

const SESSION: SessionDescription = {
  media: [
    {
      media: 'audio',
      name: 'voice',
      direction: 'sendrecv',
      rtcpMux: true,
      codecs: [
        { payloadType: 111, name: 'opus', clockRate: 48000, channels: 2, fmtp: 'minptime=10;useinbandfec=1' },
        { payloadType: 0, name: 'PCMU', clockRate: 8000 },
      ],
      ice: {
        ufrag: '8hhy',
        pwd: 'asd88fgpdd777uzjYhagZg',
        candidates: [
          {
            foundation: '1',
            component: 1,
            protocol: 'udp',
            priority: 2130706431,
            ip: '10.0.1.1',
            port: 8998,
            type: 'host',
            generation: 0,
          },
          {
            foundation: '2',
            component: 1,
            protocol: 'udp',
            priority: 1694498815,
            ip: '192.0.2.3',
            port: 45664,
            type: 'srflx',
            relAddr: '10.0.1.1',
            relPort: 8998,
            generation: 0,
          },
        ],
      },
      fingerprint: { hash: 'sha-256', value: '02:1A:CC:54:27:AB' },
      setup: 'actpass',
    },
  ],
};

t.test('session-initiate reads into the neutral description (invalid parts dropped)', async (t) => {
  t.same(readJingle(xmlParse(INITIATE)), { action: 'invite', sid: 'a73sjjvkla37jfea', session: SESSION });
});

t.test('the description writes back to Jingle and reads again unchanged', async (t) => {
  const el = writeJingle('invite', 'sid-1', { initiator: 'g%x@gw.test/parley' }, SESSION);
  t.equal(el.attrs.action, 'session-initiate');
  t.equal(el.attrs.initiator, 'g%x@gw.test/parley');
  t.same(readJingle(xmlParse(el.toString())), { action: 'invite', sid: 'sid-1', session: SESSION });
  const accept = writeJingle('answer', 'sid-1', { responder: 'g%x@gw.test/parley' }, SESSION);
  t.match(accept.attrs, { action: 'session-accept', responder: 'g%x@gw.test/parley' });
  t.match(readJingle(accept), { action: 'answer', session: SESSION });
  const cand = writeJingle('candidate', 'sid-1', {}, SESSION);
  t.notOk(cand.getChild('content')?.getChild('description'), 'transport-info carries only the transport');
  t.match(readJingle(cand), {
    action: 'candidate',
    session: { media: [{ ice: SESSION.media[0]!.ice, codecs: [] }] },
  });
});

t.test('ringing, hangup reasons, and what is not carried', async (t) => {
  t.equal(
    canon(writeJingle('ringing', 's', {})),
    canon(
      `<jingle xmlns="urn:xmpp:jingle:1" action="session-info" sid="s"><ringing xmlns="urn:xmpp:jingle:apps:rtp:info:1"/></jingle>`,
    ),
  );
  t.same(readJingle(writeJingle('ringing', 's', {})), { action: 'ringing', sid: 's' });
  t.equal(
    canon(writeJingle('hangup', 's', {}, undefined, 'declined')),
    canon(
      `<jingle xmlns="urn:xmpp:jingle:1" action="session-terminate" sid="s"><reason><decline/></reason></jingle>`,
    ),
  );
  t.same(readJingle(writeJingle('hangup', 's', {}, undefined, 'declined')), {
    action: 'hangup',
    sid: 's',
    reason: 'declined',
  });
  t.equal(
    writeJingle('hangup', 's', {}, undefined, 'policy').getChild('reason')?.getChildElements()[0]?.name,
    'security-error',
  );
  t.equal(
    writeJingle('hangup', 's', {}, undefined, 'weird').getChild('reason')?.getChildText('text'),
    'weird',
  );
  t.same(readJingle(xmlParse(`<jingle xmlns="urn:xmpp:jingle:1" action="session-terminate" sid="s"/>`)), {
    action: 'hangup',
    sid: 's',
  });
  t.equal(readJingle(xmlParse(`<jingle xmlns="urn:xmpp:jingle:1" action="content-add" sid="s"/>`)), null);
  t.equal(
    readJingle(
      xmlParse(
        `<jingle xmlns="urn:xmpp:jingle:1" action="session-info" sid="s"><mute xmlns="urn:xmpp:jingle:apps:rtp:info:1"/></jingle>`,
      ),
    ),
    null,
  );
  t.equal(
    readJingle(xmlParse(`<jingle xmlns="urn:xmpp:jingle:1" action="session-initiate"/>`)),
    null,
    'no sid',
  );
});
