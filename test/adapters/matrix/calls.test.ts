import t from 'tap';
import {
  callFromMatrix,
  callMediaOf,
  callToMatrix,
  formatCandidate,
  parseCandidate,
  sdpToSession,
  sessionIdFor,
  sessionToSdp,
} from '../../../src/adapters/matrix/calls.js';
import type { SessionDescription } from '../../../src/core/model.js';

const OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:0123456789abcdefghijklmn',
  'a=fingerprint:sha-256 AA:BB',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendrecv',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10',
  'a=rtpmap:0 PCMU/8000',
  'a=candidate:1 1 udp 2113937151 192.0.2.10 50000 typ host',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'a=mid:1',
  'a=rtpmap:96 VP8/90000',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  '',
].join('\r\n');

t.test('SDP <-> the neutral session description', async (t) => {
  const s = sdpToSession(OFFER);
  t.match(s, {
    media: [
      {
        media: 'audio',
        name: '0',
        port: 9,
        protocol: 'UDP/TLS/RTP/SAVPF',
        address: '0.0.0.0',
        direction: 'sendrecv',
        codecs: [
          { payloadType: 111, name: 'opus', clockRate: 48000, channels: 2, fmtp: 'minptime=10' },
          { payloadType: 0, name: 'PCMU', clockRate: 8000 },
        ],
        ice: {
          ufrag: 'abcd',
          pwd: '0123456789abcdefghijklmn',
          candidates: [
            { foundation: '1', component: 1, protocol: 'udp', ip: '192.0.2.10', port: 50000, type: 'host' },
          ],
        },
        fingerprint: { hash: 'sha-256', value: 'AA:BB' },
        setup: 'actpass',
        rtcpMux: true,
      },
      { media: 'video', name: '1', codecs: [{ name: 'VP8' }] },
    ],
  });
  t.equal(s?.media.length, 2, 'data channels are not media lines');
  const again = sdpToSession(sessionToSdp(s as SessionDescription, 42));
  t.same(
    again?.media.map((m) => m.codecs),
    s?.media.map((m) => m.codecs),
    'codecs survive a round trip',
  );
  t.same(again?.media[0]?.ice, s?.media[0]?.ice);
  t.equal(sdpToSession('not sdp'), null);
  t.equal(sdpToSession('v=0\r\nm=application 9 UDP/DTLS/SCTP x\r\n'), null, 'no audio or video');
});

t.test('ICE candidate lines', async (t) => {
  const c = parseCandidate(
    'candidate:7 1 UDP 100 198.51.100.7 40000 typ srflx raddr 10.0.0.7 rport 5000 generation 0 ufrag x',
  );
  t.same(c, {
    foundation: '7',
    component: 1,
    protocol: 'udp',
    priority: 100,
    ip: '198.51.100.7',
    port: 40000,
    type: 'srflx',
    relAddr: '10.0.0.7',
    relPort: 5000,
    generation: 0,
  });
  t.equal(
    formatCandidate(c!),
    'candidate:7 1 udp 100 198.51.100.7 40000 typ srflx raddr 10.0.0.7 rport 5000 generation 0',
  );
  t.equal(parseCandidate('candidate:1 1 udp'), null);
  t.equal(parseCandidate('candidate:1 0 udp 1 1.2.3.4 5 typ host'), null, 'component 0');
  t.equal(parseCandidate('candidate:1 1 udp 1 1.2.3.4 70000 typ host'), null, 'port');
  t.equal(parseCandidate('candidate:1 1 udp 1 1.2.3.4 5 type host'), null);
});

t.test('Matrix call events to canonical', async (t) => {
  const invite = callFromMatrix('m.call.invite', { call_id: 'c', offer: { type: 'offer', sdp: OFFER } }, []);
  t.match(invite, {
    action: 'invite',
    callId: 'c',
    session: { media: [{ media: 'audio' }, { media: 'video' }] },
  });
  const known = callMediaOf(invite!.session!);
  t.same(known, [
    { media: 'audio', name: '0', ufrag: 'abcd', pwd: '0123456789abcdefghijklmn' },
    { media: 'video', name: '1' },
  ]);
  const cands = callFromMatrix(
    'm.call.candidates',
    {
      call_id: 'c',
      candidates: [
        { candidate: 'candidate:1 1 udp 1 192.0.2.1 1000 typ host', sdpMid: '1' },
        { candidate: 'candidate:2 1 udp 1 192.0.2.2 2000 typ host', sdpMLineIndex: 0 },
        { candidate: '' },
        { candidate: 'garbage' },
        'junk',
      ],
    },
    known,
  );
  t.match(cands, {
    action: 'candidate',
    session: {
      media: [
        { media: 'audio', name: '0', ice: { ufrag: 'abcd', candidates: [{ ip: '192.0.2.2' }] } },
        { media: 'video', name: '1', ice: { candidates: [{ ip: '192.0.2.1' }] } },
      ],
    },
  });
  t.same(callFromMatrix('m.call.hangup', { call_id: 'c', reason: 'invite_timeout' }, []), {
    action: 'hangup',
    callId: 'c',
    reason: 'timeout',
  });
  t.same(callFromMatrix('m.call.hangup', { call_id: 'c' }, []), {
    action: 'hangup',
    callId: 'c',
    reason: 'normal',
  });
  t.same(callFromMatrix('m.call.reject', { call_id: 'c' }, []), {
    action: 'hangup',
    callId: 'c',
    reason: 'declined',
  });
  t.equal(callFromMatrix('m.call.invite', { call_id: 'c', offer: { sdp: 'nope' } }, []), null);
  t.equal(callFromMatrix('m.call.invite', { offer: { sdp: OFFER } }, []), null, 'no call id');
  t.equal(callFromMatrix('m.call.candidates', { call_id: 'c', candidates: 'x' }, []), null);
  t.equal(callFromMatrix('m.call.select_answer', { call_id: 'c' }, []), null);
});

t.test('canonical call events to Matrix', async (t) => {
  const session = sdpToSession(OFFER)!;
  const inv = callToMatrix({ action: 'invite', callId: 'c', session }, 'p', 1);
  t.match(inv, {
    type: 'm.call.invite',
    content: { call_id: 'c', party_id: 'p', version: '1', lifetime: 60000, offer: { type: 'offer' } },
  });
  t.match(callToMatrix({ action: 'answer', callId: 'c', session }, 'p', 1), {
    type: 'm.call.answer',
    content: { answer: { type: 'answer', sdp: /opus/ } },
  });
  t.match(callToMatrix({ action: 'candidate', callId: 'c', session }, 'p', 1), {
    type: 'm.call.candidates',
    content: {
      candidates: [
        {
          candidate: 'candidate:1 1 udp 2113937151 192.0.2.10 50000 typ host',
          sdpMid: '0',
          sdpMLineIndex: 0,
        },
      ],
    },
  });
  t.equal(callToMatrix({ action: 'candidate', callId: 'c', session: { media: [] } }, 'p', 1), null);
  t.equal(callToMatrix({ action: 'invite', callId: 'c' }, 'p', 1), null, 'an invite needs a session');
  t.equal(callToMatrix({ action: 'ringing', callId: 'c' }, 'p', 1), null);
  t.match(callToMatrix({ action: 'hangup', callId: 'c', reason: 'declined' }, 'p', 1), {
    type: 'm.call.reject',
  });
  t.match(callToMatrix({ action: 'hangup', callId: 'c', reason: 'busy' }, 'p', 1), {
    type: 'm.call.hangup',
    content: { reason: 'user_busy' },
  });
  t.match(callToMatrix({ action: 'hangup', callId: 'c' }, 'p', 1), { content: { reason: 'user_hangup' } });
  t.equal(sessionIdFor('x'), sessionIdFor('x'));
});
