// Presence (RFC 3856 SUBSCRIBE/NOTIFY, RFC 3903 PUBLISH, RFC 3863 PIDF + RFC 4480 RPID).
//  - A SIP watcher SUBSCRIBEs to a user on another network: the subscription is state in
//    the store (with its expiry); presence the pipeline delivers for that pair becomes a
//    NOTIFY in the subscription's dialog. Only delivered (policy-approved) presence is ever
//    sent: the initial NOTIFY carries the last delivered state for the pair, or no body.
//  - A SIP user PUBLISHes: the state goes to everyone on other networks who has sent that
//    user presence (their rosters, learned from delivered traffic), each through the policy.
import type { DeliveryResult, SubmitOutcome } from '../../core/adapter.js';
import { bareId, formatAddress, tryParseAddress } from '../../core/address.js';
import type { AdapterState } from '../../core/delivery/state.js';
import type { Logger } from '../../core/logger.js';
import type { CanonicalEvent, Network, PresenceEvent, PresenceShow } from '../../core/model.js';
import { newTraceId } from '../../core/pipeline.js';
import {
  getHeader,
  getHeaders,
  type Header,
  isSipUri,
  parseMediaType,
  parseNameAddr,
  type SipRequest,
  tagOf,
  topVia,
} from './message.js';
import type { Router } from './nexthop.js';
import { randomHex } from './random.js';
import { ownVia, type TransactionLayer } from './transaction.js';
import type { TransportName } from './transport.js';

const rand = (n = 8) => randomHex(n);
const MAX_EXPIRES = 3600;
const MIN_EXPIRES = 60;

// ---------------------------------------------------------------------------------------
// PIDF

export interface PresenceState {
  show: PresenceShow;
  status?: string;
  activity?: string;
}

const xmlEscape = (s: string) =>
  s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
const xmlUnescape = (s: string) =>
  s
    .replace(/&#x([0-9a-fA-F]{1,6});/g, (_m, h: string) => safeChar(Number.parseInt(h, 16)))
    .replace(/&#(\d{1,7});/g, (_m, d: string) => safeChar(Number(d)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
const safeChar = (n: number) =>
  n > 0 && n <= 0x10ffff && (n < 0xd800 || n > 0xdfff) ? String.fromCodePoint(n) : '';

/** RPID activities (RFC 4480) that Parley carries, and the show they imply. */
const ACTIVITIES: Record<string, PresenceShow> = {
  away: 'away',
  busy: 'dnd',
  'on-the-phone': 'dnd',
  meeting: 'dnd',
  vacation: 'xa',
  appointment: 'dnd',
  meal: 'away',
  sleeping: 'xa',
};

/** Read a PIDF document (namespace prefixes ignored); null when it is not one. */
export function pidfToPresence(xml: string): PresenceState | null {
  if (xml.length > 65536 || !/<(?:[\w.-]+:)?presence[\s>]/.test(xml)) return null;
  const basic = /<(?:[\w.-]+:)?basic>\s*(open|closed)\s*<\/(?:[\w.-]+:)?basic>/.exec(xml)?.[1];
  if (!basic) return null;
  const note = /<(?:[\w.-]+:)?note(?:\s[^>]*)?>([^<]{0,4096})<\/(?:[\w.-]+:)?note>/.exec(xml)?.[1];
  const acts = /<(?:[\w.-]+:)?activities(?:\s[^>]*)?>([\s\S]{0,4096}?)<\/(?:[\w.-]+:)?activities>/.exec(
    xml,
  )?.[1];
  let activity: string | undefined;
  if (acts) {
    for (const m of acts.matchAll(/<(?:[\w.-]+:)?([\w-]+)\s*\/?>/g)) {
      if (m[1] && m[1] in ACTIVITIES) {
        activity = m[1];
        break;
      }
    }
  }
  const p: PresenceState = {
    show: basic === 'closed' ? 'offline' : activity ? ACTIVITIES[activity]! : 'available',
  };
  const status = note === undefined ? '' : xmlUnescape(note).trim();
  if (status) p.status = status;
  if (activity && basic === 'open') p.activity = activity;
  return p;
}

/** Write PIDF with RPID activities for a presentity (`sip:user@domain`). */
export function presenceToPidf(entity: string, p: PresenceState): string {
  const activity =
    p.activity && p.activity in ACTIVITIES
      ? p.activity
      : p.show === 'away' || p.show === 'xa'
        ? 'away'
        : p.show === 'dnd'
          ? 'busy'
          : undefined;
  const open = p.show !== 'offline';
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="${xmlEscape(entity)}">\n` +
    `  <tuple id="t${rand(4)}">\n    <status><basic>${open ? 'open' : 'closed'}</basic></status>\n  </tuple>\n` +
    (open && activity
      ? `  <dm:person id="p1"><rpid:activities><rpid:${activity}/></rpid:activities></dm:person>\n`
      : '') +
    (p.status ? `  <note>${xmlEscape(p.status)}</note>\n` : '') +
    '</presence>\n'
  );
}

// ---------------------------------------------------------------------------------------
// Subscriptions

interface Subscription {
  id: string;
  callId: string;
  /** Canonical addresses. */
  watcher: string;
  presentity: string;
  /** Dialog: our From (presentity + our tag), their To (the watcher + their tag). */
  localUri: string;
  remoteUri: string;
  remoteTarget: string;
  routeSet: string[];
  localSeq: number;
  expiresAt: number;
}

export interface PresenceDeps {
  name: string;
  layer: TransactionLayer;
  logger: Logger;
  /** The adapter's state (keys under `sip:<name>:`), once started. */
  state: () => AdapterState | null;
  networkOf: (domain: string) => Network | null;
  /** Our address on a transport (default: the one requests are built for). */
  local: (transport?: TransportName) => { hostport: string; transport: TransportName } | null;
  /** Where requests go (the route, or RFC 3263 on the watcher's Contact). */
  router: Router;
  submit: (e: CanonicalEvent) => Promise<SubmitOutcome>;
}

type Reply = (status: number, reason: string, extra?: Header[]) => void;

const sipAddress = (nameAddr: string): string | null => {
  try {
    const u = parseNameAddr(nameAddr, 'address').uri;
    if (!isSipUri(u) || u.user === undefined) return null;
    const a = tryParseAddress(formatAddress({ network: 'sip', user: u.user, domain: u.host }));
    return a ? formatAddress(a) : null;
  } catch {
    return null;
  }
};
const uriOf = (nameAddr: string) => /<([^>]*)>/.exec(nameAddr)?.[1] ?? nameAddr.split(';')[0]!.trim();
const domainOf = (addr: string) => tryParseAddress(addr)?.domain ?? '';
/** `user@domain`: the same person whatever the scheme of the URI naming them. */
const bare = (addr: string) => {
  const a = tryParseAddress(addr);
  return a ? bareId(a) : addr;
};

export class PresenceManager {
  constructor(readonly deps: PresenceDeps) {}

  async #load(id: string): Promise<Subscription | null> {
    const raw = await this.deps.state()?.get(`sub:${id}`);
    if (!raw) return null;
    try {
      return JSON.parse(raw) as Subscription;
    } catch {
      return null;
    }
  }

  async #save(s: Subscription): Promise<void> {
    const store = this.deps.state();
    if (!store) return;
    const ttl = Math.max(1, s.expiresAt - Date.now());
    await store.set(`sub:${s.id}`, JSON.stringify(s), ttl);
    await store.hset(`subs:${bare(s.presentity)}`, s.id, bare(s.watcher));
  }

  async #drop(s: Subscription): Promise<void> {
    const store = this.deps.state();
    if (!store) return;
    await store.del(`sub:${s.id}`);
    await store.hdel(`subs:${bare(s.presentity)}`, s.id);
  }

  /** Active subscriptions (for tests and /readyz detail). */
  async count(presentity: string): Promise<number> {
    const all = (await this.deps.state()?.hgetall(`subs:${bare(presentity)}`)) ?? {};
    let n = 0;
    for (const id of Object.keys(all)) if (await this.#load(id)) n++;
    return n;
  }

  /** SUBSCRIBE (initial or refresh/unsubscribe inside its dialog). */
  async subscribe(req: SipRequest, localTag: string, reply: Reply): Promise<void> {
    const event = (getHeader(req, 'Event') ?? '').split(';')[0]!.trim().toLowerCase();
    if (event !== 'presence') return reply(489, 'Bad Event', [{ name: 'Allow-Events', value: 'presence' }]);
    const accept = getHeaders(req, 'Accept');
    if (accept.length && !accept.some((a) => /application\/pidf\+xml|\*\/\*/i.test(a))) {
      return reply(406, 'Not Acceptable', [{ name: 'Accept', value: 'application/pidf+xml' }]);
    }
    const expiresText = getHeader(req, 'Expires');
    const asked = expiresText === undefined ? MAX_EXPIRES : Number(expiresText);
    if (asked !== 0 && asked < MIN_EXPIRES) {
      return reply(423, 'Interval Too Brief', [{ name: 'Min-Expires', value: String(MIN_EXPIRES) }]);
    }
    const expires = Math.min(asked, MAX_EXPIRES);
    const callId = getHeader(req, 'Call-ID')!;
    const remoteTag = tagOf(getHeader(req, 'From')) ?? '';
    const toTag = tagOf(getHeader(req, 'To'));
    const id = `${callId}|${remoteTag}`;
    let sub: Subscription | null;
    if (toTag !== undefined) {
      sub = await this.#load(id);
      if (!sub?.localUri.includes(`tag=${toTag}`)) return reply(481, 'Subscription Does Not Exist');
    } else {
      const watcher = sipAddress(getHeader(req, 'From')!);
      const presentity = sipAddress(getHeader(req, 'To')!);
      if (!watcher || !presentity) return reply(400, 'From and To must be sip: URIs with a user');
      const network = this.deps.networkOf(domainOf(presentity));
      if (!network || network === 'sip') return reply(404, 'Not Found');
      const contact = getHeaders(req, 'Contact')[0];
      if (!contact) return reply(400, 'Missing Contact header');
      sub = {
        id,
        callId,
        watcher,
        presentity,
        localUri: `${getHeader(req, 'To')!};tag=${localTag}`,
        remoteUri: getHeader(req, 'From')!,
        remoteTarget: uriOf(contact),
        routeSet: getHeaders(req, 'Record-Route'),
        localSeq: 0,
        expiresAt: 0,
      };
    }
    // The Contact on the transport the SUBSCRIBE came over (its top Via).
    const viaTp = topVia(req).transport.toLowerCase();
    const arrived = viaTp === 'udp' || viaTp === 'tcp' || viaTp === 'tls' ? viaTp : undefined;
    const local = (arrived && this.deps.local(arrived)) || this.deps.local();
    const contactHdr = local
      ? [{ name: 'Contact', value: `<sip:${local.hostport};transport=${local.transport}>` }]
      : [];
    if (expires === 0) {
      reply(200, 'OK', [{ name: 'Expires', value: '0' }, ...contactHdr]);
      await this.#drop(sub);
      await this.#notify(sub, 'terminated;reason=timeout', null);
      return;
    }
    sub.expiresAt = Date.now() + expires * 1000;
    await this.#save(sub);
    reply(200, 'OK', [{ name: 'Expires', value: String(expires) }, ...contactHdr]);
    const cached = await this.deps.state()?.get(`pres:${bare(sub.presentity)}|${bare(sub.watcher)}`);
    let state: PresenceState | null = null;
    try {
      state = cached ? (JSON.parse(cached) as PresenceState) : null;
    } catch {
      state = null;
    }
    await this.#notify(sub, `active;expires=${expires}`, state);
  }

  async #notify(
    sub: Subscription,
    subscriptionState: string,
    state: PresenceState | null,
  ): Promise<DeliveryResult> {
    const local = this.deps.local();
    if (!local) return { ok: false, refused: true, reason: 'no listener' };
    sub.localSeq++;
    if (!subscriptionState.startsWith('terminated')) await this.#save(sub);
    const body = state
      ? Buffer.from(presenceToPidf(sub.presentity.replace(/^[a-z]+:/, 'sip:'), state))
      : Buffer.alloc(0);
    const req: SipRequest = {
      kind: 'request',
      method: 'NOTIFY',
      uri: sub.remoteTarget,
      headers: [
        {
          name: 'Via',
          value: ownVia(local.transport, local.hostport),
        },
        ...sub.routeSet.map((r) => ({ name: 'Route', value: r })),
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: sub.localUri },
        { name: 'To', value: sub.remoteUri },
        { name: 'Call-ID', value: sub.callId },
        { name: 'CSeq', value: `${sub.localSeq} NOTIFY` },
        { name: 'Contact', value: `<sip:${local.hostport};transport=${local.transport}>` },
        { name: 'Event', value: 'presence' },
        { name: 'Subscription-State', value: subscriptionState },
        ...(state ? [{ name: 'Content-Type', value: 'application/pidf+xml' }] : []),
      ],
      body,
    };
    const r = (await this.deps.router.send(req)).result;
    if (!r.ok) return { ok: false, refused: r.declined === true, reason: r.reason };
    if (r.response.status === 481) await this.#drop(sub); // the watcher forgot it
    return r.response.status < 300
      ? { ok: true }
      : { ok: false, refused: true, reason: `${r.response.status} ${r.response.reason}` };
  }

  /** Presence the pipeline delivers to a SIP user: NOTIFY their subscriptions, remember it. */
  async deliver(e: PresenceEvent): Promise<DeliveryResult> {
    const store = this.deps.state();
    if (!store) return { ok: false, reason: 'not started' };
    const state: PresenceState = { show: e.show };
    if (e.status) state.status = e.status;
    if (e.activity) state.activity = e.activity;
    await store.set(`pres:${bare(e.from)}|${bare(e.to)}`, JSON.stringify(state), 24 * 3600_000);
    // The sender is in the SIP user's roster on its network: PUBLISHes go back to it.
    await store.hset(`watchers:${bare(e.to)}`, e.from, '1');
    const subs = await store.hgetall(`subs:${bare(e.from)}`);
    const results: DeliveryResult[] = [];
    for (const [id, watcher] of Object.entries(subs)) {
      if (watcher !== bare(e.to)) continue;
      const sub = await this.#load(id);
      if (!sub) {
        await store.hdel(`subs:${bare(e.from)}`, id);
        continue;
      }
      const left = Math.max(0, Math.round((sub.expiresAt - Date.now()) / 1000));
      results.push(await this.#notify(sub, `active;expires=${left}`, state));
    }
    const failed = results.find((r) => !r.ok);
    // No subscription yet: kept for the first SUBSCRIBE, which is what SIP offers.
    return failed ?? { ok: true };
  }

  /** PUBLISH (RFC 3903): the state goes to the SIP user's watchers on other networks. */
  async publish(req: SipRequest, reply: Reply): Promise<void> {
    const event = (getHeader(req, 'Event') ?? '').split(';')[0]!.trim().toLowerCase();
    if (event !== 'presence') return reply(489, 'Bad Event', [{ name: 'Allow-Events', value: 'presence' }]);
    const presentity = sipAddress(getHeader(req, 'To')!);
    if (!presentity) return reply(400, 'To must be a sip: URI with a user');
    const expiresText = getHeader(req, 'Expires');
    const expires = Math.min(expiresText === undefined ? MAX_EXPIRES : Number(expiresText), MAX_EXPIRES);
    const ifMatch = getHeader(req, 'SIP-If-Match');
    const store = this.deps.state();
    if (!store) return reply(503, 'Service Unavailable');
    const etagKey = (tag: string) => `etag:${bare(presentity)}|${tag}`;
    if (ifMatch !== undefined && !(await store.get(etagKey(ifMatch))))
      return reply(412, 'Conditional Request Failed');
    let state: PresenceState | null;
    if (req.body.length === 0) {
      if (ifMatch === undefined) return reply(400, 'An initial PUBLISH needs a PIDF body');
      state = expires === 0 ? { show: 'offline' } : null; // a refresh changes nothing
    } else {
      const ct = getHeader(req, 'Content-Type');
      const mt = ct ? parseMediaType(ct) : null;
      if (!mt || `${mt.type}/${mt.subtype}` !== 'application/pidf+xml') {
        return reply(415, 'Unsupported Media Type', [{ name: 'Accept', value: 'application/pidf+xml' }]);
      }
      state = pidfToPresence(req.body.toString('utf8'));
      if (!state) return reply(400, 'Unreadable PIDF document');
      if (expires === 0) state = { show: 'offline' };
    }
    if (ifMatch !== undefined) await store.del(etagKey(ifMatch));
    const etag = rand(8);
    if (expires > 0) await store.set(etagKey(etag), '1', expires * 1000);
    reply(200, 'OK', [
      { name: 'SIP-ETag', value: etag },
      { name: 'Expires', value: String(expires) },
    ]);
    if (!state) return;
    const watchers = Object.keys(await store.hgetall(`watchers:${bare(presentity)}`));
    for (const to of watchers) {
      const ev: PresenceEvent = {
        kind: 'presence',
        id: `${getHeader(req, 'Call-ID')}:${getHeader(req, 'CSeq')}:${to}`.slice(0, 512),
        time: new Date().toISOString(),
        from: presentity,
        to,
        adapter: this.deps.name,
        traceId: newTraceId(),
        show: state.show,
        ...(state.status ? { status: state.status } : {}),
        ...(state.activity ? { activity: state.activity } : {}),
      };
      this.deps.submit(ev).catch((err: unknown) => this.deps.logger.error({ err }, 'presence submit failed'));
    }
  }
}
