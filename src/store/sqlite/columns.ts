// What the writer thread needs of each record besides its text: its time, its kept body and
// the terms of its fields (terms.ts). Made on the main thread, where the networks are
// registered: a party's person and domain come from parsing its address. The writer thread
// turns the body into word terms itself.

import { tryParseAddress } from '../../core/address.js';
import { recordJson } from '../../core/audit/chain.js';
import { personOf } from '../../core/audit/query.js';
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
 * The terms of a party: its person as the `user` filter reads one (personOf), else its exact
 * text (a `user` filter that names no person matches only that); and its domain when it is
 * an address.
 */
function partyTerms(party: string): string {
  const person = typeof party === 'string' ? personOf(party) : null;
  const own = person !== null ? fieldTerm('person', person) : fieldTerm('party', String(party));
  const domain = tryParseAddress(party)?.domain;
  return domain === undefined ? own : `${own} ${fieldTerm('domain', domain)}`;
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
    const all: string[] = new Array(n);
    let units = 0;
    let longest = 0;
    for (let i = 0; i < n; i++) {
      const text = recordJson(records[i] as AuditRecord);
      all[i] = text;
      units += text.length;
      if (text.length > longest) longest = text.length;
    }
    // Room for ASCII texts as they are, and for the worst case (3 bytes a UTF-16 unit) of
    // one more; grown when texts in other scripts need it. Not pooled: it is handed over.
    let texts = Buffer.allocUnsafeSlow(units + 3 * longest);
    const textEnds = new Uint32Array(n);
    let at = 0;
    const times: string[] = new Array(n);
    const terms: string[] = new Array(n);
    const bodies: string[] = [];
    const bodyLengths: number[] = new Array(n);
    let contiguous = true;
    for (let i = 0; i < n; i++) {
      const r = records[i] as AuditRecord;
      if (i > 0 && r.seq !== (records[i - 1] as AuditRecord).seq + 1) contiguous = false;
      const text = all[i] as string;
      if (texts.length - at < text.length * 3) {
        const bigger = Buffer.allocUnsafeSlow(Math.max(texts.length * 2, at + text.length * 3));
        texts.copy(bigger, 0, 0, at);
        texts = bigger;
      }
      at += texts.write(text, at, 'utf8');
      textEnds[i] = at;
      const time = typeof r.time === 'string' ? r.time : '';
      times[i] = time.includes('\n') ? '' : time;
      const body = r.content?.mode === 'full' && typeof r.content.body === 'string' ? r.content.body : null;
      if (body === null) bodyLengths[i] = -1;
      else {
        bodies.push(body);
        bodyLengths[i] = body.length;
      }
      terms[i] = this.terms(r);
    }
    return {
      count: n,
      first: (records[0] as AuditRecord | undefined)?.seq ?? 0,
      seqs: contiguous ? null : records.map((r) => r.seq),
      texts: new Uint8Array(texts.buffer, 0, at),
      textEnds,
      times: times.join('\n'),
      bodies: bodies.join(''),
      bodyLengths,
      terms: terms.join('\n'),
    };
  }
}
