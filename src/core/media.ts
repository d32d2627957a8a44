// The neutral session description <-> SDP (RFC 4566/8866) and ICE candidate lines
// (RFC 8839), for the networks whose call signalling carries SDP; a network with a call
// description of its own maps it to the neutral one in its adapter.
import sdpTransform from 'sdp-transform';
import type { Codec, IceCandidate, MediaLine, SessionDescription } from './model.js';

export class MediaError extends Error {
  override name = 'MediaError';
}

const DIRECTIONS = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);
const SETUPS = new Set(['actpass', 'active', 'passive']);
const clip = (s: string, n: number): string => s.slice(0, n);

// Static payload types that may come without an rtpmap (RFC 3551).
const STATIC_PAYLOADS: Record<number, [string, number]> = {
  0: ['PCMU', 8000],
  3: ['GSM', 8000],
  8: ['PCMA', 8000],
  9: ['G722', 8000],
  18: ['G729', 8000],
};

/** Parse SDP into the neutral description; throws MediaError when unusable or without audio/video. */
export function parseSdp(text: string): SessionDescription {
  if (!/^v=0\r?\n/.test(text)) throw new MediaError('the body is not SDP (no v=0)');
  let sdp: sdpTransform.SessionDescription;
  try {
    sdp = sdpTransform.parse(text);
  } catch (err) {
    throw new MediaError(`unparsable SDP: ${(err as Error).message}`);
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
        name: clip(rtp?.codec ?? STATIC_PAYLOADS[pt]?.[0] ?? `PT${pt}`, 64),
        clockRate: rtp?.rate ?? STATIC_PAYLOADS[pt]?.[1] ?? 0,
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
  if (!media.length) throw new MediaError('the SDP has no audio or video stream');
  return { media };
}

export interface SdpWriteOptions {
  sessionId: number;
  /** The session's connection address (default: the first media line's, else 0.0.0.0). */
  address?: string;
  /** `s=` line (default `Parley`). */
  sessionName?: string;
  /** Transport profile where a media line names none (default `RTP/AVP`; WebRTC: `UDP/TLS/RTP/SAVPF`). */
  defaultProtocol?: string;
  /** Give every media line an `a=mid` (its index where it has no name), as WebRTC needs. */
  alwaysMid?: boolean;
}

/** Write the neutral description as SDP. */
export function writeSdp(s: SessionDescription, opts: SdpWriteOptions): string {
  const address = opts.address ?? s.media.find((m) => m.address)?.address ?? '0.0.0.0';
  const ipVer = address.includes(':') ? 6 : 4;
  const sdp: sdpTransform.SessionDescription = {
    version: 0,
    origin: {
      username: 'parley',
      sessionId: opts.sessionId,
      sessionVersion: 1,
      netType: 'IN',
      ipVer,
      address,
    },
    name: opts.sessionName ?? 'Parley',
    timing: { start: 0, stop: 0 },
    connection: { version: ipVer, ip: address },
    media: s.media.map((m, i) => {
      const md: sdpTransform.MediaDescription = {
        type: m.media,
        port: m.port ?? 9,
        protocol: m.protocol ?? opts.defaultProtocol ?? 'RTP/AVP',
        payloads: m.codecs.map((c) => c.payloadType).join(' '),
        rtp: m.codecs.map((c) => ({
          payload: c.payloadType,
          codec: c.name,
          rate: c.clockRate,
          ...(c.channels && c.channels > 1 ? { encoding: c.channels } : {}),
        })),
        fmtp: m.codecs.flatMap((c) => (c.fmtp ? [{ payload: c.payloadType, config: c.fmtp }] : [])),
      };
      if (m.name !== undefined) md.mid = m.name;
      else if (opts.alwaysMid) md.mid = String(i);
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
  if (!Number.isInteger(priority) || priority < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    return null;
  }
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
