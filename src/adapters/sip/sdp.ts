// SDP (RFC 4566) <-> the neutral session description, through sdp-transform.
import sdpTransform from 'sdp-transform';
import type { Codec, IceCandidate, MediaLine, SessionDescription } from '../../core/model.js';
import { ParseError } from './message.js';

const DIRECTIONS = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);
const SETUPS = new Set(['actpass', 'active', 'passive']);
const clip = (s: string, n: number) => s.slice(0, n);

/** Parse an SDP offer/answer; throws ParseError when it is not SDP or has no audio/video. */
export function sdpToSession(text: string): SessionDescription {
  try {
    return toSession(text);
  } catch (err) {
    if (err instanceof ParseError) throw err;
    throw new ParseError(`unusable SDP: ${(err as Error).message}`, 488);
  }
}

function toSession(text: string): SessionDescription {
  if (!/^v=0\r?\n/.test(text)) throw new ParseError('the body is not SDP (no v=0)', 488);
  let sdp: sdpTransform.SessionDescription;
  try {
    sdp = sdpTransform.parse(text);
  } catch (err) {
    throw new ParseError(`unparsable SDP: ${(err as Error).message}`, 488);
  }
  const media: MediaLine[] = [];
  for (const m of sdp.media ?? []) {
    if (m.type !== 'audio' && m.type !== 'video') continue;
    const order = String(m.payloads ?? '')
      .split(/\s+/)
      .filter((p) => /^\d+$/.test(p))
      .map(Number);
    const codecs: Codec[] = [];
    for (const pt of order) {
      if (pt > 127) continue;
      const rtp = m.rtp?.find((r) => r.payload === pt);
      const fmtp = m.fmtp?.find((f) => f.payload === pt);
      // Static payload types without an rtpmap (RFC 3551): the common ones by number.
      const fallback: Record<number, [string, number]> = {
        0: ['PCMU', 8000],
        3: ['GSM', 8000],
        8: ['PCMA', 8000],
        9: ['G722', 8000],
        18: ['G729', 8000],
      };
      const name = rtp?.codec ?? fallback[pt]?.[0] ?? `PT${pt}`;
      const codec: Codec = {
        payloadType: pt,
        name: clip(name, 64),
        clockRate: rtp?.rate ?? fallback[pt]?.[1] ?? 0,
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
  if (!media.length) throw new ParseError('the SDP has no audio or video stream', 488);
  return { media };
}

/** Write a session description as SDP; `address` is used where a media line names none. */
export function sessionToSdp(s: SessionDescription, address: string, sessionId: number): string {
  const ipVer = address.includes(':') ? 6 : 4;
  const sdp: sdpTransform.SessionDescription = {
    version: 0,
    origin: { username: 'parley', sessionId, sessionVersion: 1, netType: 'IN', ipVer, address },
    name: 'Parley',
    timing: { start: 0, stop: 0 },
    connection: { version: ipVer, ip: address },
    media: s.media.map((m) => {
      const md: sdpTransform.MediaDescription = {
        type: m.media,
        port: m.port ?? 9,
        protocol: m.protocol ?? 'RTP/AVP',
        payloads: m.codecs.map((c) => c.payloadType).join(' '),
        rtp: m.codecs.map((c) => ({
          payload: c.payloadType,
          codec: c.name,
          rate: c.clockRate,
          ...(c.channels && c.channels > 1 ? { encoding: c.channels } : {}),
        })),
        fmtp: m.codecs.filter((c) => c.fmtp).map((c) => ({ payload: c.payloadType, config: c.fmtp! })),
      };
      if (m.address && m.address !== address)
        md.connection = { version: m.address.includes(':') ? 6 : 4, ip: m.address };
      if (m.direction) md.direction = m.direction;
      if (m.name) md.mid = m.name;
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
