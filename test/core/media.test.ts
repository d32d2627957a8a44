// SDP <-> the neutral session description, on SDP as real endpoints write it.
import t from 'tap';
import { formatCandidate, MediaError, parseCandidate, parseSdp, writeSdp } from '../../src/core/media.js';

// A Chromium WebRTC audio offer (trimmed of extmap/ssrc lines, which the neutral model drops).
const WEBRTC = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0 8',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:842163049 1 udp 1677729535 192.0.2.10 56143 typ srflx raddr 10.0.0.5 rport 56143 generation 0',
  'a=ice-ufrag:EsAw',
  'a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y',
  'a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendrecv',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  '',
].join('\r\n');

// A baresip-style SIP offer with static payload types and no rtpmap for PCMU.
const SIP = [
  'v=0',
  'o=- 1 2 IN IP4 192.0.2.20',
  's=-',
  'c=IN IP4 192.0.2.20',
  't=0 0',
  'm=audio 10000 RTP/AVP 0 8 101',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=sendrecv',
  '',
].join('\r\n');

t.test('a WebRTC offer becomes the neutral description with ICE and DTLS', async (t) => {
  const s = parseSdp(WEBRTC);
  t.equal(s.media.length, 1);
  const m = s.media[0]!;
  t.match(m, {
    media: 'audio',
    name: '0',
    protocol: 'UDP/TLS/RTP/SAVPF',
    direction: 'sendrecv',
    setup: 'actpass',
    rtcpMux: true,
    fingerprint: { hash: 'sha-256' },
    ice: { ufrag: 'EsAw', pwd: 'bP+XJMM09aR8AiX1jdukzR6Y' },
  });
  t.same(
    m.codecs.map((c) => [c.payloadType, c.name, c.clockRate, c.channels ?? 1]),
    [
      [111, 'opus', 48000, 2],
      [0, 'PCMU', 8000, 1],
      [8, 'PCMA', 8000, 1],
    ],
    'static payload types without rtpmap get their RFC 3551 names',
  );
  t.same(m.ice?.candidates[0], {
    foundation: '842163049',
    component: 1,
    protocol: 'udp',
    priority: 1677729535,
    ip: '192.0.2.10',
    port: 56143,
    type: 'srflx',
    relAddr: '10.0.0.5',
    relPort: 56143,
    generation: 0,
  });
});

t.test('SDP -> neutral -> SDP -> neutral is stable', async (t) => {
  for (const [name, text, opts] of [
    [
      'webrtc',
      WEBRTC,
      { sessionId: 7, sessionName: '-', defaultProtocol: 'UDP/TLS/RTP/SAVPF', alwaysMid: true },
    ],
    ['sip', SIP, { sessionId: 9, address: '192.0.2.20' }],
  ] as const) {
    const once = parseSdp(text);
    const written = writeSdp(once, opts);
    t.same(parseSdp(written), once, `${name} round-trips`);
    t.match(written, /^v=0\r\n/);
  }
});

t.test('the SIP offer keeps its address, port and telephone-event', async (t) => {
  const m = parseSdp(SIP).media[0]!;
  t.match(m, { port: 10000, address: '192.0.2.20', protocol: 'RTP/AVP' });
  t.match(m.codecs[2], { payloadType: 101, name: 'telephone-event', fmtp: '0-15' });
});

t.test('unusable SDP is a MediaError, never a crash', async (t) => {
  for (const bad of [
    '',
    'hello',
    'v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n',
    'v=0\r\nm=audio x y z\r\n',
  ]) {
    t.throws(() => parseSdp(bad), MediaError, JSON.stringify(bad));
  }
});

t.test('ICE candidate lines round-trip; malformed ones are null', async (t) => {
  const line = 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host generation 0';
  t.equal(formatCandidate(parseCandidate(`a=${line}`)!), line);
  t.equal(parseCandidate('candidate:1 1 udp x 192.0.2.1 54321 typ host'), null);
  t.equal(parseCandidate('garbage'), null);
});
