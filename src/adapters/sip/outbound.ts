// What the SIP adapter sends for the pipeline: per event kind a handler (the kind table),
// and the pager-mode MESSAGE (RFC 3428) that carries messages (text/plain, or CPIM asking
// for IMDN), chat states (isComposing, RFC 3994) and receipts (IMDN, RFC 5438). Presence
// and calls have managers of their own (presence.ts, calls.ts).
import type { DeliveryResult } from '../../core/adapter.js';
import { bareId, formatAddress, tryParseAddress } from '../../core/address.js';
import { type EventOf, type KindTable, kindsOf } from '../../core/kind-table.js';
import type { Logger } from '../../core/logger.js';
import type { EventKind, MessageEvent, ReceiptEvent } from '../../core/model.js';
import { isComposingXml } from './content.js';
import { cpimBody, dispositionOf, dispositionsFor, type ImdnState, imdnMessageId, imdnXml } from './imdn.js';
import { getHeaders, type SipRequest } from './message.js';
import type { Local, Router } from './nexthop.js';
import { randomHex } from './random.js';
import { ownVia } from './transaction.js';
import type { TransportName } from './transport.js';

/** RFC 3428 §6: over a transport without congestion control a MESSAGE stays under 1300 bytes. */
export const UDP_MESSAGE_LIMIT = 1300;

/** Where each kind the SIP link carries is sent. */
export type SipSenders = {
  readonly [K in 'message' | 'chatstate' | 'receipt' | 'presence' | 'call']: (
    e: EventOf<K>,
  ) => Promise<DeliveryResult>;
};

/** The SIP link's outbound handling: every kind has a sender. */
export function sipKindTable(s: SipSenders): KindTable {
  return {
    message: (d) => s.message(d.event),
    chatstate: (d) => s.chatstate(d.event),
    // Receipts travel as IMDN (RFC 5438) where the SIP user asked for them (imdn.ts).
    receipt: (d) => s.receipt(d.event),
    presence: (d) => s.presence(d.event),
    call: (d) => s.call(d.event),
  };
}

const detached = (): Promise<DeliveryResult> =>
  Promise.resolve({ ok: false, refused: true, reason: 'no SIP link' });

/** The kinds a SIP link carries, from a table of senders that are never called. */
export const SIP_KINDS: ReadonlySet<EventKind> = kindsOf(
  sipKindTable({
    message: detached,
    chatstate: detached,
    receipt: detached,
    presence: detached,
    call: detached,
  }),
);

export interface OutboundDeps {
  router: Router;
  logger: Logger;
  /** The transport requests are built for (the route's, else the first listener's). */
  transport: TransportName;
  /** Our address on that transport (Via sent-by), null without a listener. */
  local(): Local | null;
  /** IMDN bookkeeping, once started. */
  imdn(): ImdnState | null;
}

export class MessageOutbound {
  constructor(readonly deps: OutboundDeps) {}

  async message(e: MessageEvent): Promise<DeliveryResult> {
    const out = await this.#messageBody(e);
    return this.send(e.from, e.to, out.body, out.type);
  }

  chatstate(e: EventOf<'chatstate'>): Promise<DeliveryResult> {
    const body = Buffer.from(isComposingXml(e.state === 'composing' ? 'active' : 'idle'), 'utf8');
    return this.send(e.from, e.to, body, 'application/im-iscomposing+xml');
  }

  /**
   * text/plain, or CPIM asking for the notifications the sender will take back (e.requests)
   * when the recipient has shown it speaks IMDN (it asked for notifications itself) and the
   * result still fits.
   */
  async #messageBody(e: MessageEvent): Promise<{ body: Buffer; type: string }> {
    const plain = { body: Buffer.from(e.body, 'utf8'), type: 'text/plain;charset=UTF-8' };
    const from = tryParseAddress(e.from);
    const to = tryParseAddress(e.to);
    const dispositions = dispositionsFor(e.requests);
    const imdn = this.deps.imdn();
    if (!dispositions.length || !imdn || !from || !to || !(await imdn.capable(bareId(to)))) return plain;
    const messageId = imdnMessageId(e.id);
    const body = cpimBody({
      from: formatAddress({ network: 'sip', user: from.user, domain: from.domain }),
      to: formatAddress({ network: 'sip', user: to.user, domain: to.domain }),
      messageId,
      dateTime: new Date().toISOString(),
      dispositions,
      contentType: 'text/plain;charset=UTF-8',
      content: e.body,
    });
    // CPIM adds some 300 bytes; over UDP the MESSAGE must stay small (RFC 3428 §6).
    if (this.deps.transport === 'udp' && body.length + 600 > UDP_MESSAGE_LIMIT) return plain;
    await imdn.sent(messageId, { canonicalId: e.id, from: bareId(from), to: bareId(to) });
    return { body, type: 'message/cpim' };
  }

  /**
   * A receipt becomes an IMDN when the SIP user's message asked for that disposition; else
   * nothing is sent (RFC 5438 §7: no unrequested notifications) and nobody is told
   * (docs/decisions/0006).
   */
  async receipt(e: ReceiptEvent): Promise<DeliveryResult> {
    const from = tryParseAddress(e.from);
    const to = tryParseAddress(e.to);
    const state = this.deps.imdn();
    if (!from || !to || !state) return { ok: false, refused: true, reason: 'malformed address' };
    const d = dispositionOf(e.receipt);
    const asked = await state.askedOf(bareId(to), e.messageId);
    if (!asked?.dispositions.includes(d)) {
      this.deps.logger.debug({ eventId: e.id, messageId: e.messageId, d }, 'receipt not asked for: not sent');
      return { ok: true, notSent: 'the SIP user did not ask for this notification (RFC 5438 §7)' };
    }
    if (!(await state.once(bareId(to), e.messageId, d)))
      return { ok: true, notSent: 'this notification was sent for that message already' };
    const reader = formatAddress({ network: 'sip', user: from.user, domain: from.domain });
    const now = new Date().toISOString();
    const body = cpimBody({
      from: reader,
      to: formatAddress({ network: 'sip', user: to.user, domain: to.domain }),
      messageId: imdnMessageId(e.id),
      dateTime: now,
      contentType: 'message/imdn+xml',
      contentDisposition: 'notification',
      content: imdnXml({
        messageId: e.messageId,
        datetime: asked.dateTime ?? now,
        recipientUri: reader,
        status: e.receipt,
      }),
    });
    const r = await this.send(e.from, e.to, body, 'message/cpim');
    if (!r.ok) await state.forget(bareId(to), e.messageId, d);
    return r;
  }

  /** A pager-mode MESSAGE (RFC 3428) to the next hop, in a client transaction. */
  async send(fromAddr: string, toAddr: string, body: Buffer, contentType: string): Promise<DeliveryResult> {
    const from = tryParseAddress(fromAddr);
    const to = tryParseAddress(toAddr);
    if (!from || !to) return { ok: false, refused: true, reason: 'malformed address' };
    const local = this.deps.local();
    if (!local) return { ok: false, refused: true, reason: `no ${this.deps.transport} listener` };
    const host = local.hostport.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    const fromUri = formatAddress({ network: 'sip', user: from.user, domain: from.domain });
    const toUri = formatAddress({ network: 'sip', user: to.user, domain: to.domain });
    const req: SipRequest = {
      kind: 'request',
      method: 'MESSAGE',
      uri: toUri,
      headers: [
        {
          name: 'Via',
          value: ownVia(local.transport, local.hostport),
        },
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: `<${fromUri}>;tag=${randomHex(8)}` },
        { name: 'To', value: `<${toUri}>` },
        { name: 'Call-ID', value: `${randomHex(12)}@${host}` },
        { name: 'CSeq', value: '1 MESSAGE' },
        { name: 'Content-Type', value: contentType },
        { name: 'User-Agent', value: 'Parley' },
      ],
      body,
    };
    const { result: r } = await this.deps.router.send(req, { maxUdpBytes: UDP_MESSAGE_LIMIT });
    if (!r.ok) return { ok: false, refused: r.declined === true, reason: r.reason };
    const { status, reason } = r.response;
    if (status < 300) return { ok: true };
    const warning = getHeaders(r.response, 'Warning')[0];
    return {
      ok: false,
      // A final response is the network's answer (audited as refused), even a 480 or a 503.
      refused: true,
      reason: `${status} ${reason}${warning ? ` (${warning})` : ''}`,
    };
  }
}
