import fc from 'fast-check';
import t from 'tap';
import { ParseError } from '../../../src/adapters/sip/message.js';
import { sdpToSession, sessionToSdp } from '../../../src/adapters/sip/sdp.js';

const WEBRTC = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:EsAw',
  'a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y',
  'a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendrecv',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:0 PCMU/8000',
  'a=candidate:1 1 udp 2122260223 192.0.2.10 54400 typ host generation 0',
  'a=candidate:2 1 udp 1686052607 203.0.113.7 54400 typ srflx raddr 192.0.2.10 rport 54400 generation 0',
  '',
].join('\r\n');

t.test('SDP -> session description: codecs, ICE, DTLS, direction, static payload types', async (t) => {
  const s = sdpToSession(WEBRTC);
  const m = s.media[0]!;
  t.equal(m.media, 'audio');
  t.equal(m.name, '0');
  t.equal(m.direction, 'sendrecv');
  t.equal(m.rtcpMux, true);
  t.equal(m.setup, 'actpass');
  t.same(m.codecs[0], {
    payloadType: 111,
    name: 'opus',
    clockRate: 48000,
    channels: 2,
    fmtp: 'minptime=10;useinbandfec=1',
  });
  t.same(m.codecs[1], { payloadType: 0, name: 'PCMU', clockRate: 8000 });
  t.equal(m.ice?.ufrag, 'EsAw');
  t.equal(m.ice?.candidates.length, 2);
  t.match(m.ice?.candidates[1], { type: 'srflx', relAddr: '192.0.2.10', relPort: 54400 });
  t.match(m.fingerprint, { hash: 'sha-256' });
  const staticOnly = sdpToSession(
    'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n',
  );
  t.same(staticOnly.media[0]!.codecs, [{ payloadType: 8, name: 'PCMA', clockRate: 8000 }]);
  t.equal(staticOnly.media[0]!.address, '192.0.2.1');
});

t.test('session description -> SDP -> session description is stable', async (t) => {
  const s = sdpToSession(WEBRTC);
  const again = sdpToSession(sessionToSdp(s, '198.51.100.1', 42));
  t.same(again, { media: s.media.map((m) => ({ ...m, address: '0.0.0.0' })) });
  const text = sessionToSdp(s, '198.51.100.1', 42);
  t.match(text, /^v=0\r\no=parley 42 1 IN IP4 198\.51\.100\.1\r\n/);
  t.match(text, /a=rtpmap:111 opus\/48000\/2/);
});

t.test('bad SDP is refused with 488, never another exception', async (t) => {
  for (const bad of ['', 'hello', 'v=0\r\n', 'v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n']) {
    t.throws(() => sdpToSession(bad), ParseError);
  }
  fc.assert(
    fc.property(
      fc.array(
        fc.constantFrom(
          'v=0',
          'm=audio 1 RTP/AVP 0',
          'm=video x y',
          'a=rtpmap:0',
          'a=candidate:1',
          'a=fmtp:',
          'c=IN',
          'a=ice-ufrag:',
          '\r\n',
          'zz',
          ' ',
        ),
        { maxLength: 20 },
      ),
      (parts) => {
        try {
          sdpToSession(`v=0\r\n${parts.join('\r\n')}`);
        } catch (err) {
          if (!(err instanceof ParseError)) throw err;
        }
        return true;
      },
    ),
    { numRuns: 2000 },
  );
});
