// XML namespaces the XMPP adapter speaks.
export const NS = {
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  correct: 'urn:xmpp:message-correct:0', // XEP-0308
  chatstates: 'http://jabber.org/protocol/chatstates', // XEP-0085
  receipts: 'urn:xmpp:receipts', // XEP-0184
  markers: 'urn:xmpp:chat-markers:0', // XEP-0333
  oob: 'jabber:x:oob', // XEP-0066
  reply: 'urn:xmpp:reply:0', // XEP-0461
  delay: 'urn:xmpp:delay', // XEP-0203
  idle: 'urn:xmpp:idle:1', // XEP-0319
  hints: 'urn:xmpp:hints', // XEP-0334
  caps: 'http://jabber.org/protocol/caps', // XEP-0115
  discoInfo: 'http://jabber.org/protocol/disco#info', // XEP-0030
  discoItems: 'http://jabber.org/protocol/disco#items',
  version: 'jabber:iq:version', // XEP-0092
  ping: 'urn:xmpp:ping', // XEP-0199
  gateway: 'jabber:iq:gateway', // XEP-0100
  jingle: 'urn:xmpp:jingle:1', // XEP-0166
  jingleErrors: 'urn:xmpp:jingle:errors:1',
  jingleRtp: 'urn:xmpp:jingle:apps:rtp:1', // XEP-0167
  jingleRtpAudio: 'urn:xmpp:jingle:apps:rtp:audio',
  jingleRtpVideo: 'urn:xmpp:jingle:apps:rtp:video',
  jingleRtpInfo: 'urn:xmpp:jingle:apps:rtp:info:1',
  jingleIceUdp: 'urn:xmpp:jingle:transports:ice-udp:1', // XEP-0176
  jingleDtls: 'urn:xmpp:jingle:apps:dtls:0', // XEP-0320
  jingleRtcpMux: 'urn:xmpp:jingle:apps:rtp:1', // rtcp-mux lives in the RTP namespace
} as const;

export const CHAT_STATE_NAMES = ['active', 'composing', 'paused', 'inactive', 'gone'] as const;

/** The caps node Parley's ghosts advertise (XEP-0115). */
export const CAPS_NODE = 'https://parley.invalid/caps';
