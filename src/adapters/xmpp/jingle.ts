// Jingle RTP sessions (XEP-0166/0167, ICE-UDP XEP-0176, DTLS-SRTP XEP-0320) <-> canonical
// call events with the neutral session description. Pure: no I/O, never throws on input.
//   session-initiate <-> invite      session-info <ringing/> <-> ringing
//   session-accept   <-> answer      transport-info          <-> candidate
//   session-terminate <-> hangup (with the reason)
// Not carried: rtcp-fb, header extensions, SSRC groups (media still flows without them).
import { type Element, xml } from '@xmpp/xml';
import type { CallAction, Codec, IceCandidate, MediaLine, SessionDescription } from '../../core/model.js';
import { NS } from './ns.js';
import { xmlSafe } from './stanza.js';

const ACTION_OF: Record<string, CallAction> = {
  'session-initiate': 'invite',
  'session-accept': 'answer',
  'transport-info': 'candidate',
  'session-terminate': 'hangup',
};
const JINGLE_OF: Record<CallAction, string> = {
  invite: 'session-initiate',
  answer: 'session-accept',
  candidate: 'transport-info',
  hangup: 'session-terminate',
  ringing: 'session-info',
};

/** What a `<jingle>` element means in canonical terms (null: not something Parley carries). */
export interface JingleRead {
  action: CallAction;
  sid: string;
  session?: SessionDescription;
  reason?: string;
}

const int = (s: string | undefined, min: number, max: number): number | undefined => {
  if (s === undefined || !/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= min && n <= max ? n : undefined;
};
const str = (s: string | undefined, max: number): string | undefined =>
  s !== undefined && s.length > 0 && s.length <= max ? s : undefined;

function readCodec(pt: Element): Codec | null {
  const payloadType = int(pt.attrs.id, 0, 127);
  const name = str(pt.attrs.name, 64);
  if (payloadType === undefined || !name) return null;
  const c: Codec = { payloadType, name, clockRate: int(pt.attrs.clockrate, 0, 10_000_000) ?? 0 };
  const channels = int(pt.attrs.channels, 1, 255);
  if (channels !== undefined) c.channels = channels;
  const params = pt
    .getChildren('parameter')
    .filter((p) => p.attrs.name)
    .map((p) => `${p.attrs.name}=${p.attrs.value ?? ''}`);
  const fmtp = params.join(';');
  if (fmtp && fmtp.length <= 1024) c.fmtp = fmtp;
  return c;
}

function readCandidate(c: Element): IceCandidate | null {
  const component = int(c.attrs.component, 1, 256);
  const priority = int(c.attrs.priority, 0, 4_294_967_295);
  const port = int(c.attrs.port, 0, 65535);
  const foundation = str(c.attrs.foundation, 64);
  const ip = str(c.attrs.ip, 64);
  const protocol = str(c.attrs.protocol, 8);
  const type = str(c.attrs.type, 16);
  if (component === undefined || priority === undefined || port === undefined) return null;
  if (!foundation || !ip || !protocol || !type) return null;
  const out: IceCandidate = { foundation, component, protocol, priority, ip, port, type };
  const relAddr = str(c.attrs['rel-addr'], 64);
  const relPort = int(c.attrs['rel-port'], 0, 65535);
  const generation = int(c.attrs.generation, 0, 1_000_000);
  if (relAddr) out.relAddr = relAddr;
  if (relPort !== undefined) out.relPort = relPort;
  if (generation !== undefined) out.generation = generation;
  return out;
}

const SETUPS = new Set(['actpass', 'active', 'passive']);

function readContent(content: Element): MediaLine | null {
  const desc = content.getChild('description', NS.jingleRtp);
  const transport = content.getChild('transport', NS.jingleIceUdp);
  const media = desc?.attrs.media;
  if (!desc && !transport) return null;
  const line: MediaLine = {
    media: media === 'video' ? 'video' : 'audio',
    codecs: desc
      ? desc
          .getChildren('payload-type')
          .slice(0, 64)
          .map(readCodec)
          .filter((c): c is Codec => c !== null)
      : [],
  };
  const name = str(content.attrs.name, 64);
  if (name) line.name = name;
  const senders = content.attrs.senders ?? 'both';
  line.direction =
    senders === 'none'
      ? 'inactive'
      : senders === 'initiator'
        ? 'sendonly'
        : senders === 'responder'
          ? 'recvonly'
          : 'sendrecv';
  if (desc?.getChild('rtcp-mux')) line.rtcpMux = true;
  if (transport) {
    const ufrag = str(transport.attrs.ufrag, 256);
    const pwd = str(transport.attrs.pwd, 256);
    const candidates = transport
      .getChildren('candidate')
      .slice(0, 64)
      .map(readCandidate)
      .filter((c): c is IceCandidate => c !== null);
    if (ufrag && pwd) line.ice = { ufrag, pwd, candidates };
    else if (candidates.length) line.ice = { ufrag: ufrag ?? '', pwd: pwd ?? '', candidates };
    const fp = transport.getChild('fingerprint', NS.jingleDtls);
    const hash = str(fp?.attrs.hash, 16);
    const value = str(fp?.getText().trim(), 256);
    if (hash && value) line.fingerprint = { hash, value };
    if (fp?.attrs.setup && SETUPS.has(fp.attrs.setup)) line.setup = fp.attrs.setup as MediaLine['setup'];
  }
  return line;
}

/** Read a `<jingle>` payload; null for actions Parley does not carry or a missing sid. */
export function readJingle(j: Element): JingleRead | null {
  const sid = str(j.attrs.sid, 256);
  const action = j.attrs.action;
  if (!sid || !action) return null;
  if (action === 'session-info') {
    return j.getChild('ringing', NS.jingleRtpInfo) ? { action: 'ringing', sid } : null;
  }
  const canonical = ACTION_OF[action];
  if (!canonical) return null;
  const out: JingleRead = { action: canonical, sid };
  if (canonical === 'hangup') {
    const reason = j
      .getChild('reason')
      ?.getChildElements()
      .find((c) => c.name !== 'text');
    if (reason) out.reason = reason.name === 'decline' ? 'declined' : reason.name.slice(0, 256);
    return out;
  }
  const media = j
    .getChildren('content')
    .slice(0, 16)
    .map(readContent)
    .filter((m): m is MediaLine => m !== null);
  if (media.length) out.session = { media };
  return out;
}

function writeContent(m: MediaLine, i: number, action: CallAction): Element {
  const senders =
    m.direction === 'inactive'
      ? 'none'
      : m.direction === 'sendonly'
        ? 'initiator'
        : m.direction === 'recvonly'
          ? 'responder'
          : 'both';
  const description =
    action === 'candidate'
      ? null
      : xml(
          'description',
          { xmlns: NS.jingleRtp, media: m.media },
          ...m.codecs.map((c) =>
            xml(
              'payload-type',
              { id: c.payloadType, name: xmlSafe(c.name), clockrate: c.clockRate, channels: c.channels },
              ...(c.fmtp ?? '')
                .split(';')
                .map((p) => p.trim())
                .filter(Boolean)
                .map((p) => {
                  const eq = p.indexOf('=');
                  return xml('parameter', {
                    name: xmlSafe(eq < 0 ? p : p.slice(0, eq)),
                    value: xmlSafe(eq < 0 ? '' : p.slice(eq + 1)),
                  });
                }),
            ),
          ),
          m.rtcpMux ? xml('rtcp-mux') : null,
        );
  const transport = xml(
    'transport',
    {
      xmlns: NS.jingleIceUdp,
      ufrag: m.ice ? xmlSafe(m.ice.ufrag) : undefined,
      pwd: m.ice ? xmlSafe(m.ice.pwd) : undefined,
    },
    m.fingerprint
      ? xml(
          'fingerprint',
          { xmlns: NS.jingleDtls, hash: xmlSafe(m.fingerprint.hash), setup: m.setup },
          xmlSafe(m.fingerprint.value),
        )
      : null,
    ...(m.ice?.candidates ?? []).map((c, k) =>
      xml('candidate', {
        component: c.component,
        foundation: xmlSafe(c.foundation),
        generation: c.generation ?? 0,
        id: `c${i}-${k}`,
        ip: xmlSafe(c.ip),
        port: c.port,
        priority: c.priority,
        protocol: xmlSafe(c.protocol),
        type: xmlSafe(c.type),
        'rel-addr': c.relAddr ? xmlSafe(c.relAddr) : undefined,
        'rel-port': c.relPort,
      }),
    ),
  );
  return xml(
    'content',
    { creator: 'initiator', name: xmlSafe(m.name ?? `${m.media}${i || ''}`), senders },
    description,
    transport,
  );
}

const REASON_OF: Record<string, string> = {
  declined: 'decline',
  decline: 'decline',
  busy: 'busy',
  timeout: 'timeout',
  policy: 'security-error',
  'security-error': 'security-error',
  gone: 'gone',
  cancel: 'cancel',
  success: 'success',
  'failed-application': 'failed-application',
  'failed-transport': 'failed-transport',
  'unsupported-applications': 'unsupported-applications',
  'connectivity-error': 'connectivity-error',
  'general-error': 'general-error',
};

/** The `<jingle>` payload for a canonical call action. */
export function writeJingle(
  action: CallAction,
  sid: string,
  roles: { initiator?: string; responder?: string },
  session?: SessionDescription,
  reason?: string,
): Element {
  const attrs: Record<string, string | undefined> = {
    xmlns: NS.jingle,
    action: JINGLE_OF[action],
    sid: xmlSafe(sid),
    initiator: action === 'invite' ? roles.initiator : undefined,
    responder: action === 'answer' ? roles.responder : undefined,
  };
  if (action === 'ringing') return xml('jingle', attrs, xml('ringing', { xmlns: NS.jingleRtpInfo }));
  if (action === 'hangup') {
    const cond = REASON_OF[reason ?? 'success'] ?? 'general-error';
    return xml(
      'jingle',
      attrs,
      xml('reason', {}, xml(cond), reason && !REASON_OF[reason] ? xml('text', {}, xmlSafe(reason)) : null),
    );
  }
  return xml('jingle', attrs, ...(session?.media ?? []).map((m, i) => writeContent(m, i, action)));
}
