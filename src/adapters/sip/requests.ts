// A request in its server transaction, from a peer, is answered here: after the gate
// (gate.ts), by method — MESSAGE to the message intake, INVITE, BYE and CANCEL to the call
// manager, SUBSCRIBE and PUBLISH to presence, OPTIONS answered with what Parley speaks.
import type { Logger } from '../../core/logger.js';
import { ACCEPT, ALLOW, makeResponse, type Reply } from './answers.js';
import type { CallManager } from './calls.js';
import type { RequestGate } from './gate.js';
import type { MessageIntake } from './inbound-message.js';
import { getHeader, type SipRequest, tagOf } from './message.js';
import type { PresenceManager } from './presence.js';
import { randomHex } from './random.js';
import type { ServerTransaction, TransactionLayer } from './transaction.js';

export interface RequestHandlerDeps {
  logger: Logger;
  layer: TransactionLayer;
  gate: RequestGate;
  intake: MessageIntake;
  calls: CallManager;
  presence: PresenceManager;
  /** True once the adapter is stopping: new requests are answered 503. */
  stopping(): boolean;
}

export class RequestHandler {
  constructor(readonly deps: RequestHandlerDeps) {}

  dispatch(msg: SipRequest, tx: ServerTransaction): void {
    const toTag = randomHex(8);
    const reply: Reply = (status, reason, extra = []) =>
      tx.respond(makeResponse(msg, status, reason, extra, toTag));
    if (this.deps.stopping()) {
      reply(503, 'Service Unavailable', [{ name: 'Retry-After', value: '5' }]);
      return;
    }
    this.deps.gate.admit(msg, tx.source, reply, () => this.#handle(msg, tx, toTag, reply));
  }

  #handle(msg: SipRequest, tx: ServerTransaction, toTag: string, reply: Reply): void {
    switch (msg.method) {
      case 'MESSAGE':
        this.deps.intake.handle(msg, reply).catch((err: unknown) => {
          this.deps.logger.error({ err }, 'SIP MESSAGE handling failed');
          reply(500, 'Server Internal Error');
        });
        return;
      case 'OPTIONS':
        reply(200, 'OK', [
          { name: 'Allow', value: ALLOW },
          { name: 'Accept', value: ACCEPT },
          { name: 'Allow-Events', value: 'presence' },
        ]);
        return;
      case 'INVITE': {
        if (tagOf(getHeader(msg, 'To')) !== undefined) {
          // re-INVITE: refused, the dialog stays as it is.
          if (this.deps.calls.isKnownDialog(msg)) reply(488, 'Not Acceptable Here');
          else reply(481, 'Call/Transaction Does Not Exist');
          return;
        }
        this.deps.calls
          .inboundInvite(msg, tx, toTag, (status, reason, extra = []) =>
            makeResponse(msg, status, reason, extra, toTag),
          )
          .catch((err: unknown) => {
            this.deps.logger.error({ err }, 'SIP INVITE handling failed');
            reply(500, 'Server Internal Error');
          });
        return;
      }
      case 'SUBSCRIBE':
        this.deps.presence.subscribe(msg, toTag, reply).catch((err: unknown) => {
          this.deps.logger.error({ err }, 'SIP SUBSCRIBE handling failed');
          reply(500, 'Server Internal Error');
        });
        return;
      case 'PUBLISH':
        this.deps.presence.publish(msg, reply).catch((err: unknown) => {
          this.deps.logger.error({ err }, 'SIP PUBLISH handling failed');
          reply(500, 'Server Internal Error');
        });
        return;
      case 'BYE': {
        const [status, reason] = this.deps.calls.bye(msg);
        reply(status, reason);
        return;
      }
      case 'CANCEL': {
        const invite = this.deps.layer.inviteFor(tx.key);
        const [status, reason] = invite
          ? this.deps.calls.cancel(invite)
          : [481, 'Call/Transaction Does Not Exist'];
        reply(status, reason);
        return;
      }
      default:
        reply(501, 'Not Implemented', [{ name: 'Allow', value: ALLOW }]);
    }
  }
}
