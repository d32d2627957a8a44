// Matrix VoIP signalling (m.call.invite/answer/candidates/hangup/reject, spec v1) <->
// canonical call events with the neutral session description. The SDP inside the Matrix
// events is read and written with sdp-transform. Pure functions; the adapter keeps the
// per-call state (room, the offer's media lines for mapping candidates).
import { createHash } from 'node:crypto';
import sdpTransform from 'sdp-transform';
import type { CallEvent, Codec, IceCandidate, MediaLine, SessionDescription } from '../../core/model.js';

const DIRECTIONS = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);
const SETUPS = new Set(['actpass', 'active', 'passive']);
const clip = (s: string, n: number): string => s.slice(0, n);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

export const CALL_EVENT_TYPES = new Set([
  'm.call.invite',
  'm.call.answer',
  'm.call.candidates',
  'm.call.hangup',
  'm.call.reject',
]);

/** Parse SDP into the neutral description; null when it is not usable SDP with audio/video. */
export function sdpToSession(text: string): SessionDescription | null {
  if (!/^v=0\r?\n/.test(text)) return null;
  let sdp: sdpTransform.SessionDescription;
  try {
    sdp = sdpTransform.parse(text);
  } catch {
    return null;
  }
  const media: MediaLine[] = [];
  for (const m of sdp.media ?? []) {
    if (m.type !== 'audio' && m.type !== 'video') continue;
    const codecs: Codec[] = [];
    for (const p of String(m.payloads ?? '').split(/\s+/)) {
      if (!/^\d+$/.test(p) || Number(p) > 127) continue;
      const pt = Number(p);
      const rtp = m.rtp?.find((r) => r.payload === pt);
      const fmtp = m.fmtp?.find((f) => f.payload === pt);
      const codec: Codec = {
        payloadType: pt,
        name: clip(rtp?.codec ?? `PT${pt}`, 64),
        clockRate: rtp?.rate ?? 0,
      };
      if (rtp?.encoding && rtp.encoding >= 1) codec.channels = rtp.encoding;
      if (fmtp) codec.fmtp = clip(fmtp.config, 1024);
      codecs.push(codec);
      if (codecs.length >= 64) break;
    }
    const line: MediaLine = { media: m.type, port: m.port, protocol: clip(m.protocol, 32), codecs };
    if (m.mid !== undefined) line.name = clip(String(m.mid), 64);
    const ip = m.connection?.ip ?? sdp.connection?.ip;
    if (ip) line.address = clip(ip, 64);
    const dir = m.direction ?? sdp.direction;
    if (dir && DIRECTIONS.has(dir)) line.direction = dir;
    const ufrag = m.iceUfrag ?? sdp.iceUfrag;
    const pwd = m.icePwd ?? sdp.icePwd;
    if (ufrag && pwd) {
      const candidates: IceCandidate[] = (m.candidates ?? []).slice(0, 64).map((c) => {
        const cand: IceCandidate = {
          foundation: clip(String(c.foundation), 64),
          component: c.component,
          protocol: clip(c.transport, 8),
          priority: c.priority,
          ip: clip(c.ip, 64),
          port: c.port,
          type: clip(c.type, 16),
        };
        if (c.raddr) cand.relAddr = clip(c.raddr, 64);
        if (c.rport !== undefined) cand.relPort = c.rport;
        if (c.generation !== undefined) cand.generation = c.generation;
        return cand;
      });
      line.ice = { ufrag: clip(ufrag, 256), pwd: clip(pwd, 256), candidates };
    }
    const fp = m.fingerprint ?? sdp.fingerprint;
    if (fp) line.fingerprint = { hash: clip(fp.type, 16), value: clip(fp.hash, 256) };
    const setup = m.setup ?? sdp.setup;
    if (setup && SETUPS.has(setup)) line.setup = setup as 'actpass' | 'active' | 'passive';
    if (m.rtcpMux) line.rtcpMux = true;
    media.push(line);
    if (media.length >= 16) break;
  }
  return media.length ? { media } : null;
}

/** Write the neutral description as SDP (WebRTC defaults where it names nothing). */
export function sessionToSdp(s: SessionDescription, sessionId: number): string {
  const address = s.media.find((m) => m.address)?.address ?? '0.0.0.0';
  const ipVer = address.includes(':') ? 6 : 4;
  const sdp: sdpTransform.SessionDescription = {
    version: 0,
    origin: { username: 'parley', sessionId, sessionVersion: 1, netType: 'IN', ipVer, address },
    name: '-',
    timing: { start: 0, stop: 0 },
    connection: { version: ipVer, ip: address },
    media: s.media.map((m, i) => {
      const md: sdpTransform.MediaDescription = {
        type: m.media,
        port: m.port ?? 9,
        protocol: m.protocol ?? 'UDP/TLS/RTP/SAVPF',
        payloads: m.codecs.map((c) => c.payloadType).join(' '),
        rtp: m.codecs.map((c) => ({
          payload: c.payloadType,
          codec: c.name,
          rate: c.clockRate,
          ...(c.channels && c.channels > 1 ? { encoding: c.channels } : {}),
        })),
        fmtp: m.codecs.flatMap((c) => (c.fmtp ? [{ payload: c.payloadType, config: c.fmtp }] : [])),
        mid: m.name ?? String(i),
      };
      if (m.address && m.address !== address) {
        md.connection = { version: m.address.includes(':') ? 6 : 4, ip: m.address };
      }
      if (m.direction) md.direction = m.direction;
      if (m.ice) {
        md.iceUfrag = m.ice.ufrag;
        md.icePwd = m.ice.pwd;
        md.candidates = m.ice.candidates.map((c) => ({
          foundation: c.foundation,
          component: c.component,
          transport: c.protocol,
          priority: c.priority,
          ip: c.ip,
          port: c.port,
          type: c.type,
          ...(c.relAddr ? { raddr: c.relAddr } : {}),
          ...(c.relPort !== undefined ? { rport: c.relPort } : {}),
          ...(c.generation !== undefined ? { generation: c.generation } : {}),
        }));
      }
      if (m.fingerprint) md.fingerprint = { type: m.fingerprint.hash, hash: m.fingerprint.value };
      if (m.setup) md.setup = m.setup;
      if (m.rtcpMux) md.rtcpMux = 'rtcp-mux';
      return md;
    }),
  };
  return sdpTransform.write(sdp);
}

/** `candidate:<foundation> <component> <transport> <priority> <ip> <port> typ <type> ...` (RFC 8839). */
export function parseCandidate(line: string): IceCandidate | null {
  const t = line
    .replace(/^a=/, '')
    .replace(/^candidate:/, '')
    .trim()
    .split(/\s+/);
  if (t.length < 8 || t[6] !== 'typ') return null;
  const component = Number(t[1]);
  const priority = Number(t[3]);
  const port = Number(t[5]);
  if (!Number.isInteger(component) || component < 1 || component > 256) return null;
  if (!Number.isInteger(priority) || priority < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    return null;
  const c: IceCandidate = {
    foundation: clip(t[0] as string, 64),
    component,
    protocol: clip((t[2] as string).toLowerCase(), 8),
    priority,
    ip: clip(t[4] as string, 64),
    port,
    type: clip(t[7] as string, 16),
  };
  for (let i = 8; i + 1 < t.length; i += 2) {
    const k = t[i];
    const v = t[i + 1] as string;
    if (k === 'raddr') c.relAddr = clip(v, 64);
    else if (k === 'rport' && /^\d+$/.test(v) && Number(v) <= 65535) c.relPort = Number(v);
    else if (k === 'generation' && /^\d+$/.test(v)) c.generation = Number(v);
  }
  return c;
}

export function formatCandidate(c: IceCandidate): string {
  let s = `candidate:${c.foundation} ${c.component} ${c.protocol} ${c.priority} ${c.ip} ${c.port} typ ${c.type}`;
  if (c.relAddr) s += ` raddr ${c.relAddr}`;
  if (c.relPort !== undefined) s += ` rport ${c.relPort}`;
  if (c.generation !== undefined) s += ` generation ${c.generation}`;
  return s;
}

/** What the adapter remembers of a call's offer, to give candidates their media line. */
export interface CallMedia {
  media: 'audio' | 'video';
  name?: string;
  ufrag?: string;
  pwd?: string;
}

export const callMediaOf = (s: SessionDescription): CallMedia[] =>
  s.media.map((m) => ({
    media: m.media,
    ...(m.name !== undefined ? { name: m.name } : {}),
    ...(m.ice ? { ufrag: m.ice.ufrag, pwd: m.ice.pwd } : {}),
  }));

export type CallParts = Pick<CallEvent, 'action' | 'callId' | 'session' | 'reason'>;

const HANGUP_REASONS: Record<string, string> = {
  user_hangup: 'normal',
  invite_timeout: 'timeout',
  ice_failed: 'failed',
  ice_timeout: 'failed',
  user_media_failed: 'failed',
  user_busy: 'busy',
  unknown_error: 'failed',
};

/** A Matrix m.call.* event as canonical call parts; null when malformed. */
export function callFromMatrix(
  type: string,
  content: Record<string, unknown>,
  known: CallMedia[],
): CallParts | null {
  const callId = str(content.call_id);
  if (!callId || callId.length > 256) return null;
  switch (type) {
    case 'm.call.invite':
    case 'm.call.answer': {
      const desc = obj(type === 'm.call.invite' ? content.offer : content.answer);
      const sdp = str(desc?.sdp);
      const session = sdp ? sdpToSession(sdp) : null;
      if (!session) return null;
      return { action: type === 'm.call.invite' ? 'invite' : 'answer', callId, session };
    }
    case 'm.call.candidates': {
      const list = Array.isArray(content.candidates) ? content.candidates : [];
      const byLine = new Map<number, IceCandidate[]>();
      for (const raw of list.slice(0, 64)) {
        const c = obj(raw);
        const text = str(c?.candidate);
        if (!text) continue; // an empty candidate marks the end of gathering
        const parsed = parseCandidate(text);
        if (!parsed) continue;
        const mid = str(c?.sdpMid);
        let index = typeof c?.sdpMLineIndex === 'number' ? c.sdpMLineIndex : -1;
        if (index < 0 && mid !== undefined) index = known.findIndex((k) => k.name === mid);
        if (!Number.isInteger(index) || index < 0 || index > 15) index = 0;
        byLine.set(index, [...(byLine.get(index) ?? []), parsed]);
      }
      if (byLine.size === 0) return null;
      const media: MediaLine[] = [...byLine.entries()]
        .sort(([a], [b]) => a - b)
        .map(([i, candidates]) => {
          const k = known[i];
          const line: MediaLine = {
            media: k?.media ?? 'audio',
            codecs: [],
            ice: { ufrag: k?.ufrag ?? '', pwd: k?.pwd ?? '', candidates },
          };
          const name = k?.name ?? String(i);
          line.name = name;
          return line;
        });
      return { action: 'candidate', callId, session: { media } };
    }
    case 'm.call.hangup': {
      const reason = str(content.reason);
      return { action: 'hangup', callId, reason: (reason && HANGUP_REASONS[reason]) ?? reason ?? 'normal' };
    }
    case 'm.call.reject':
      return { action: 'hangup', callId, reason: 'declined' };
    default:
      return null;
  }
}

const TO_MATRIX_REASON: Record<string, string> = {
  timeout: 'invite_timeout',
  failed: 'ice_failed',
  busy: 'user_busy',
};

/** A canonical call event as the Matrix event that carries it; null when Matrix has none (ringing). */
export function callToMatrix(
  e: Pick<CallEvent, 'action' | 'callId' | 'session' | 'reason'>,
  partyId: string,
  sessionId: number,
): { type: string; content: Record<string, unknown> } | null {
  const base = { call_id: e.callId, party_id: partyId, version: '1' };
  switch (e.action) {
    case 'invite':
      if (!e.session) return null;
      return {
        type: 'm.call.invite',
        content: {
          ...base,
          lifetime: 60_000,
          offer: { type: 'offer', sdp: sessionToSdp(e.session, sessionId) },
        },
      };
    case 'answer':
      if (!e.session) return null;
      return {
        type: 'm.call.answer',
        content: { ...base, answer: { type: 'answer', sdp: sessionToSdp(e.session, sessionId) } },
      };
    case 'candidate': {
      const candidates = (e.session?.media ?? []).flatMap((m, i) =>
        (m.ice?.candidates ?? []).map((c) => ({
          candidate: formatCandidate(c),
          sdpMid: m.name ?? String(i),
          sdpMLineIndex: i,
        })),
      );
      return candidates.length ? { type: 'm.call.candidates', content: { ...base, candidates } } : null;
    }
    case 'hangup':
      if (e.reason === 'declined') return { type: 'm.call.reject', content: base };
      return {
        type: 'm.call.hangup',
        content: { ...base, reason: (e.reason && TO_MATRIX_REASON[e.reason]) ?? 'user_hangup' },
      };
    case 'ringing':
      return null;
  }
}

/** A stable SDP session id (o= line) for a call. */
export const sessionIdFor = (callId: string): number =>
  createHash('sha256').update(callId).digest().readUInt32BE(0);
