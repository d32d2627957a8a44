// How the SIP adapter answers a request in-band: responses built from the request (RFC 3261
// §8.2.6), and the SIP status for a pipeline outcome that was not a delivery (403 for a
// policy denial, 404 unroutable, 488 unsupported, 480 when the target link failed, ...).
// The pipeline reports each refusal through Adapter.refuse while the submit is still
// pending; InBandRefusals keeps it until the request's answer is built from it.
import type { Refusal, SubmitOutcome } from '../../core/adapter.js';
import { ChurnMap } from '../../core/churn-map.js';
import { type Header, hasControl, type SipRequest, type SipResponse, viewNameAddr } from './message.js';

export const ALLOW = 'INVITE, ACK, CANCEL, BYE, MESSAGE, OPTIONS, SUBSCRIBE, PUBLISH';
export const ACCEPT = 'text/plain, message/cpim, application/im-iscomposing+xml';

/** Answer the request being handled (its server transaction's response). */
export type Reply = (status: number, reason: string, extra?: Header[]) => void;

/** A response's status, reason phrase and extra headers. */
export type Answer = [number, string, Header[]];

/** A reason phrase or Warning text: no control characters, no quotes, bounded. */
export const phrase = (s: string): string =>
  [...s]
    .map((c) => (hasControl(c) || c === '"' || c === '\\' ? ' ' : c))
    .join('')
    .slice(0, 200)
    .trim() || 'Forbidden';

/** A Warning header carrying Parley's reason (RFC 3261 §20.43, code 399). */
export const warning = (why: string): Header => ({ name: 'Warning', value: `399 parley "${phrase(why)}"` });

/** Build a response to a request (RFC 3261 §8.2.6): Via, From, To (+tag), Call-ID, CSeq copied. */
export function makeResponse(
  req: SipRequest,
  status: number,
  reason: string,
  extra: Header[] = [],
  toTag?: string,
): SipResponse {
  const headers: Header[] = [];
  for (const h of req.headers) {
    if (h.name === 'Via' || h.name === 'From' || h.name === 'Call-ID' || h.name === 'CSeq')
      headers.push({ ...h });
    else if (h.name === 'To') {
      let value = h.value;
      if (status > 100 && toTag) {
        try {
          if (!viewNameAddr(value, 'To').params.has('tag')) value = `${value};tag=${toTag}`;
        } catch {
          // unparsable To (a salvaged request): copied as is
        }
      }
      headers.push({ name: 'To', value });
    }
  }
  headers.push({ name: 'Server', value: 'Parley' }, ...extra);
  return { kind: 'response', status, reason: phrase(reason), headers, body: Buffer.alloc(0) };
}

/**
 * The SIP answer to a SubmitOutcome that was not a delivery (null when it was), from the
 * refusal the pipeline reported for it, if any.
 */
export function outcomeAnswer(outcome: SubmitOutcome, refusal: Refusal | undefined): Answer | null {
  switch (outcome.status) {
    case 'delivered':
    case 'queued':
      return null;
    case 'denied': {
      const code = refusal?.code ?? 'policy';
      const why = phrase(outcome.reason);
      const warn = [
        { name: 'Warning', value: `399 parley "${why}"` },
        ...(outcome.rule ? [{ name: 'Reason', value: `SIP;cause=403;text="${why}"` }] : []),
      ];
      if (code === 'unroutable') return [404, why, warn];
      if (code === 'unsupported') return [488, why, warn];
      return [403, why, warn];
    }
    case 'failed': {
      const why = phrase(refusal?.reason ?? outcome.reason);
      const warn = [{ name: 'Warning', value: `399 parley "${why}"` }];
      switch (outcome.code) {
        case 'invalid':
          return [400, why, warn];
        case 'shutdown':
          return [503, why, [...warn, { name: 'Retry-After', value: '5' }]];
        case 'delivery':
          return [480, why, warn];
        default:
          return [500, why, warn];
      }
    }
  }
}

/** Refusals of events whose requests are still to be answered in-band, by event id. */
export class InBandRefusals {
  readonly #refusals = new Map<string, { refusal: Refusal; at: number }>();
  /** Events submitted and not yet answered in-band. */
  readonly #answering = new ChurnMap<true>();

  /** The event's request will be answered from its outcome (call before submitting it). */
  begin(id: string): void {
    this.#answering.set(id, true);
  }

  end(id: string): void {
    this.#answering.delete(id);
  }

  answering(id: string): boolean {
    return this.#answering.has(id);
  }

  /** Keep the pipeline's refusal of an event being answered in-band. */
  keep(id: string, refusal: Refusal): void {
    const now = Date.now();
    this.#refusals.set(id, { refusal, at: now });
    // Refusals of events answered in-band are consumed at once; those of events nobody
    // answers in-band (presence fan-out, call progress) expire here.
    if (this.#refusals.size > 1000) {
      for (const [key, r] of this.#refusals) if (now - r.at > 60_000) this.#refusals.delete(key);
    }
  }

  /** The refusal kept for an event, forgotten as it is read. */
  take(id: string): Refusal | undefined {
    const refusal = this.#refusals.get(id)?.refusal;
    this.#refusals.delete(id);
    return refusal;
  }

  /** The SIP answer to an event's outcome (null for a delivery), from its kept refusal. */
  answer(id: string, outcome: SubmitOutcome): Answer | null {
    return outcomeAnswer(outcome, this.take(id));
  }
}
