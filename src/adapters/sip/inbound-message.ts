// An inbound pager-mode MESSAGE (RFC 3428) becomes a canonical event: a message (text/plain
// or message/cpim, asking for chat states and the receipts its IMDN header asks for), a
// chat state (isComposing, RFC 3994) or — an IMDN for a message Parley sent (RFC 5438) — a
// receipt. It is answered in-band from the pipeline's outcome.
import type { SubmitOutcome } from '../../core/adapter.js';
import { bareId, formatAddress, tryParseAddress } from '../../core/address.js';
import type { Logger } from '../../core/logger.js';
import type { CanonicalEvent, ReceiptEvent } from '../../core/model.js';
import { newTraceId } from '../../core/pipeline.js';
import { ACCEPT, type Answer, type Reply } from './answers.js';
import { readBody } from './content.js';
import { type ImdnState, type Notification, readImdn, requestsOf, statusOf } from './imdn.js';
import {
  getHeader,
  isSipUri,
  type NameAddrView,
  parseCSeq,
  type SipRequest,
  viewNameAddr,
} from './message.js';

export interface MessageIntakeDeps {
  /** The adapter's name (the events' `adapter`). */
  name: string;
  logger: Logger;
  /** False until the adapter has started. */
  started(): boolean;
  /** IMDN bookkeeping, once started. */
  imdn(): ImdnState | null;
  /** Submit an event whose request is answered in-band from the outcome. */
  submit(e: CanonicalEvent): Promise<SubmitOutcome>;
  /** The SIP answer to an event's outcome, null for a delivery. */
  answer(id: string, outcome: SubmitOutcome): Answer | null;
}

export class MessageIntake {
  constructor(readonly deps: MessageIntakeDeps) {}

  async handle(req: SipRequest, reply: Reply): Promise<void> {
    if (!this.deps.started()) return reply(503, 'Service Unavailable');
    let content: ReturnType<typeof readBody>;
    let fromUri: NameAddrView['uri'];
    let toUri: NameAddrView['uri'];
    const imdn = readImdn(req);
    if (imdn.kind === 'error') return reply(400, imdn.reason);
    try {
      content = imdn.kind === 'notification' ? { kind: 'text', text: '' } : readBody(req);
      fromUri = viewNameAddr(getHeader(req, 'From')!, 'From').uri;
      toUri = viewNameAddr(getHeader(req, 'To')!, 'To').uri;
    } catch (err) {
      return reply(400, (err as Error).message);
    }
    if (content.kind === 'unsupported') {
      return reply(415, 'Unsupported Media Type', [{ name: 'Accept', value: ACCEPT }]);
    }
    if (!isSipUri(fromUri) || fromUri.user === undefined)
      return reply(400, 'From must be a sip: URI with a user');
    if (!isSipUri(toUri) || toUri.user === undefined) return reply(404, 'Not Found');
    const from = tryParseAddress(formatAddress({ network: 'sip', user: fromUri.user, domain: fromUri.host }));
    const to = tryParseAddress(formatAddress({ network: 'sip', user: toUri.user, domain: toUri.host }));
    if (!from || !to) return reply(400, 'Unusable From or To address');
    const cseq = parseCSeq(getHeader(req, 'CSeq')!);
    // A message with an imdn.Message-ID keeps it: its receipts will name it.
    const id =
      imdn.kind === 'request'
        ? imdn.request.messageId
        : `${getHeader(req, 'Call-ID')}:${cseq.seq}`.slice(0, 512);
    const base = {
      id,
      time: new Date().toISOString(),
      from: formatAddress(from),
      to: formatAddress(to),
      adapter: this.deps.name,
      traceId: newTraceId(),
    };
    if (imdn.kind === 'notification') return this.#receiveImdn(imdn.notification, base, reply);
    // Remembered before the submit: the recipient's client may answer within the delivery.
    if (imdn.kind === 'request' && content.kind === 'text')
      await this.deps.imdn()?.asked(bareId(from), imdn.request);
    const event: CanonicalEvent =
      content.kind === 'text'
        ? // isComposing (RFC 3994) carries chat states back; receipts need IMDN.
          {
            kind: 'message',
            ...base,
            body: content.text,
            requests: [
              'chatstates',
              ...(imdn.kind === 'request' ? requestsOf(imdn.request.dispositions) : []),
            ],
          }
        : { kind: 'chatstate', ...base, state: content.state };
    const outcome = await this.deps.submit(event);
    const answer = this.deps.answer(id, outcome);
    if (!answer)
      return reply(outcome.status === 'queued' ? 202 : 200, outcome.status === 'queued' ? 'Accepted' : 'OK');
    reply(...answer);
  }

  /** An IMDN for a message Parley sent becomes a canonical receipt to that message's sender. */
  async #receiveImdn(
    n: Notification,
    base: Omit<ReceiptEvent, 'kind' | 'receipt' | 'messageId'>,
    reply: Reply,
  ): Promise<void> {
    const status = statusOf(n);
    const sent = await this.deps.imdn()?.sentOf(n.messageId);
    const from = tryParseAddress(base.from);
    const to = tryParseAddress(base.to);
    // Only the recipient of a message Parley sent can acknowledge it, and only to its sender.
    if (!status || !sent || !from || !to || sent.to !== bareId(from) || sent.from !== bareId(to)) {
      this.deps.logger.debug(
        { messageId: n.messageId, kind: n.kind, status: n.status },
        'IMDN not carried (no such message sent, or a disposition the model has no receipt for)',
      );
      return reply(200, 'OK');
    }
    const outcome = await this.deps.submit({
      kind: 'receipt',
      ...base,
      receipt: status,
      messageId: sent.canonicalId,
    });
    const answer = this.deps.answer(base.id, outcome);
    if (!answer) return reply(200, 'OK');
    reply(...answer);
  }
}
