// What the writer thread needs of each record besides its text: its time, its kept body and
// the terms of its fields (terms.ts). Made on the main thread, where the networks are
// registered: a party's person and domain come from parsing its address. The writer thread
// turns the body into word terms itself.

import { tryParseAddress } from '../../core/address.js';
import { recordJson } from '../../core/audit/chain.js';
import type { AuditRecord } from '../../core/audit/record.js';
import type { RecordBatch } from './protocol.js';
import { type Field, fieldTerm } from './terms.js';

/** A bounded memo: cleared when full (the values it holds recur; the rest pass through). */
class Memo {
  #m = new Map<string, string>();
  constructor(private readonly max: number) {}
  get(key: string, make: (key: string) => string): string {
    let v = this.#m.get(key);
    if (v === undefined) {
      v = make(key);
      if (this.#m.size >= this.max) this.#m = new Map();
      this.#m.set(key, v);
    }
    return v;
  }
}

/**
 * The terms of a party: its person (`user@domain`, lower case) and domain when it is an
 * address, else its exact text (a `user` filter that is no address matches only that).
 */
function partyTerms(party: string): string {
  const a = tryParseAddress(party);
  if (!a) return fieldTerm('party', party);
  return `${fieldTerm('person', `${a.user}@${a.domain}`.toLowerCase())} ${fieldTerm('domain', a.domain)}`;
}

export class Columns {
  readonly #parties = new Memo(20_000);
  /** Fields with few values (a kind, a network, a rule): their terms memoised. */
  readonly #few = new Map<Field, Memo>();

  #term(field: Field, value: string): string {
    let m = this.#few.get(field);
    if (!m) {
      m = new Memo(1000);
      this.#few.set(field, m);
    }
    return m.get(value, (v) => fieldTerm(field, v));
  }

  /** The terms of a record's indexed fields, separated by spaces. */
  terms(r: AuditRecord): string {
    let s = `${this.#parties.get(r.from, partyTerms)} ${fieldTerm('eventId', r.eventId)} ${fieldTerm('traceId', r.traceId)}`;
    if (r.to !== r.from) s += ` ${this.#parties.get(r.to, partyTerms)}`;
    s += ` ${this.#term('network', r.fromNetwork)}`;
    if (r.toNetwork !== r.fromNetwork) s += ` ${this.#term('network', r.toNetwork)}`;
    s += ` ${this.#term('kind', r.kind)} ${this.#term('decision', r.decision)} ${this.#term('category', r.category)}`;
    if (typeof r.rule === 'string') s += ` ${this.#term('rule', r.rule)}`;
    if (typeof r.outcome === 'string') s += ` ${this.#term('outcome', r.outcome)}`;
    return s;
  }

  batch(records: readonly AuditRecord[]): RecordBatch {
    const n = records.length;
    const b: RecordBatch = {
      seqs: new Array(n),
      texts: new Array(n),
      times: new Array(n),
      bodies: new Array(n),
      terms: new Array(n),
    };
    for (let i = 0; i < n; i++) {
      const r = records[i] as AuditRecord;
      b.seqs[i] = r.seq;
      b.texts[i] = recordJson(r);
      b.times[i] = typeof r.time === 'string' ? r.time : '';
      b.bodies[i] = r.content?.mode === 'full' && typeof r.content.body === 'string' ? r.content.body : null;
      b.terms[i] = this.terms(r);
    }
    return b;
  }
}
