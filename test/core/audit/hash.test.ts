import fc from 'fast-check';
import t from 'tap';
import { chainEntries } from '../../../src/core/audit/chain.js';
import {
  canonicalEntryRecord,
  canonicalJson,
  canonicalRecord,
  hashRecord,
  sha256Hex,
} from '../../../src/core/audit/hash.js';
import { type AuditEntry, GENESIS_HASH } from '../../../src/core/audit/record.js';
import { arbitraryEntry, entry } from './fixtures.js';

// A slow, obviously-right reference: sorted keys, JSON.stringify for the leaves. (Not
// via Object.fromEntries: objects put integer-like keys first, whatever the sort.)
const reference = (v: unknown): string => {
  if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const members = Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${reference(o[k])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(v);
};

t.test('canonical JSON: sorted keys, no whitespace, JCS numbers and strings', async (t) => {
  t.equal(
    canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 1, y: 2 } }),
    '{"a":[true,null,"x"],"b":1,"c":{"y":2,"z":1}}',
  );
  t.equal(
    canonicalJson({ n: 1.0, m: -0, big: 1e21, small: 1e-7, f: 0.1 }),
    '{"big":1e+21,"f":0.1,"m":0,"n":1,"small":1e-7}',
  );
  t.equal(canonicalJson({ s: 'a"b\\c\n\u0001é😀' }), '{"s":"a\\"b\\\\c\\n\\u0001é😀"}');
  t.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}', 'undefined members are omitted');
  t.equal(canonicalJson({ '\u00e9': 1, z: 2, A: 3 }), '{"A":3,"z":2,"é":1}', 'keys by UTF-16 code units');
  t.throws(() => canonicalJson({ x: Number.NaN }), /non-finite/);
  t.throws(() => canonicalJson({ x: () => 1 }), /function/);
  t.throws(() => canonicalJson({ x: 10n }), /bigint/);
});

t.test('canonical JSON equals the sorted JSON.stringify reference (property)', async (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      // fc.jsonValue may produce -0, which JSON.stringify writes as 0 as well.
      return canonicalJson(v) === reference(v);
    }),
    { numRuns: 500 },
  );
  t.pass('500 random JSON values');
});

t.test('hashRecord covers every field but hash, prev included', async (t) => {
  const [r] = chainEntries(null, [entry({ details: { b: 2, a: 1 }, actor: 'admin' })]);
  if (!r) throw new Error('no record');
  t.equal(r.prev, GENESIS_HASH);
  t.equal(r.hash, hashRecord(r));
  t.equal(r.hash, sha256Hex(canonicalRecord(r)));
  t.notOk(canonicalRecord(r).includes('"hash"'), 'hash not covered');
  t.equal(hashRecord({ ...r, hash: 'whatever' }), r.hash, 'the stored hash does not change the hash');
  const reordered = Object.fromEntries(Object.entries(r).reverse()) as typeof r;
  t.equal(hashRecord(reordered), r.hash, 'member order does not matter');
  for (const [k, v] of Object.entries(r)) {
    if (k === 'hash') continue;
    const changed = { ...r, [k]: typeof v === 'number' ? v + 1 : typeof v === 'string' ? `${v}x` : { x: 1 } };
    t.not(hashRecord(changed), r.hash, `changing ${k} changes the hash`);
  }
  t.not(hashRecord({ ...r, extra: 1 } as typeof r), r.hash, 'an added field changes the hash');
});

t.test('golden vector: the encoding does not drift', async (t) => {
  const rec = {
    seq: 1,
    prev: GENESIS_HASH,
    category: 'decision' as const,
    time: '2026-01-01T00:00:00.000Z',
    traceId: 't1',
    eventId: 'e1',
    kind: 'message',
    from: 'xmpp:alice@corp.example',
    to: 'sip:bob@partner.example',
    fromNetwork: 'xmpp',
    toNetwork: 'sip',
    direction: 'outbound',
    decision: 'allow' as const,
    rule: 'partners-talk',
    reason: null,
    policyVersion: '1',
    content: { mode: 'full' as const, body: 'hi' },
    sourceAdapter: 'corp',
    targetAdapter: 'partner-sip',
  };
  t.equal(
    canonicalRecord(rec),
    '{"category":"decision","content":{"body":"hi","mode":"full"},"decision":"allow","direction":"outbound","eventId":"e1","from":"xmpp:alice@corp.example","fromNetwork":"xmpp","kind":"message","policyVersion":"1","prev":"0000000000000000000000000000000000000000000000000000000000000000","reason":null,"rule":"partners-talk","seq":1,"sourceAdapter":"corp","targetAdapter":"partner-sip","time":"2026-01-01T00:00:00.000Z","to":"sip:bob@partner.example","toNetwork":"sip","traceId":"t1"}',
  );
  t.equal(hashRecord(rec), sha256Hex(canonicalRecord(rec)));
  t.match(hashRecord(rec), /^[0-9a-f]{64}$/);
  // The fields added later (eventTime, transforms, outcome, outcomeReason) sit in key order.
  const later = {
    ...rec,
    decision: 'redact' as const,
    eventTime: '2025-12-31T23:59:59.000Z',
    transforms: [{ rule: 'cards', effect: 'redact', reason: 'No card numbers' }],
    outcome: 'pending' as const,
    outcomeReason: null,
  };
  t.equal(
    canonicalRecord(later),
    '{"category":"decision","content":{"body":"hi","mode":"full"},"decision":"redact","direction":"outbound","eventId":"e1","eventTime":"2025-12-31T23:59:59.000Z","from":"xmpp:alice@corp.example","fromNetwork":"xmpp","kind":"message","outcome":"pending","outcomeReason":null,"policyVersion":"1","prev":"0000000000000000000000000000000000000000000000000000000000000000","reason":null,"rule":"partners-talk","seq":1,"sourceAdapter":"corp","targetAdapter":"partner-sip","time":"2026-01-01T00:00:00.000Z","to":"sip:bob@partner.example","toNetwork":"sip","traceId":"t1","transforms":[{"effect":"redact","reason":"No card numbers","rule":"cards"}]}',
  );
});

t.test('a record written before the optional fields existed keeps its hash', async (t) => {
  // A record without the members added later (eventTime, transforms, outcome,
  // outcomeReason), as the previous release wrote it: it must still verify.
  const old = {
    seq: 7,
    prev: 'a'.repeat(64),
    category: 'decision' as const,
    time: '2026-11-25T10:00:00.000Z',
    traceId: 't7',
    eventId: 'e7',
    kind: 'message',
    from: 'xmpp:alice@corp.example',
    to: 'matrix:u/bob:hs.example',
    fromNetwork: 'xmpp',
    toNetwork: 'matrix',
    direction: 'outbound',
    decision: 'deny' as const,
    rule: 'consumer-im',
    reason: 'Rate limit exceeded (30 per 60 s).',
    policyVersion: '2026-11-25.1',
    content: { mode: 'full' as const, body: 'three' },
    sourceAdapter: 'corp',
    targetAdapter: 'hs',
  };
  // The hash the previous release wrote for this record.
  const hash = 'b8be42bace05a15c888c655471e96703da10d002c0c8cba4a371e80a68fe4b2a';
  t.equal(hashRecord({ ...old, hash }), hash, 'the fast path');
  t.equal(hashRecord({ ...old, hash, details: undefined }), hash, 'an undefined member is no member');
  const [again] = chainEntries({ seq: 6, hash: old.prev }, [
    { ...old, seq: undefined, prev: undefined } as unknown as AuditEntry,
  ]);
  t.equal(again?.hash, hash, 'the writer encodes an entry without the new fields as before');
  t.notOk(again && 'outcome' in again, 'no outcome member is added');
});

t.test('chainEntries links records after a head', async (t) => {
  const a = chainEntries(null, [entry(), entry()]);
  t.same(
    a.map((r) => r.seq),
    [1, 2],
  );
  t.equal(a[1]?.prev, a[0]?.hash);
  const b = chainEntries({ seq: 2, hash: a[1]?.hash as string }, [entry()]);
  t.equal(b[0]?.seq, 3);
  t.equal(b[0]?.prev, a[1]?.hash);
  t.same(chainEntries(null, []), []);
});

t.test("the writer's direct encoding equals the canonical encoding of the record (property)", async (t) => {
  const text = fc.string({ unit: 'binary', maxLength: 40 });
  const arbEntry = arbitraryEntry(text);
  fc.assert(
    fc.property(arbEntry, fc.integer({ min: 1, max: 2 ** 40 }), text, (e, seq, prev) => {
      const direct = canonicalEntryRecord(e, seq, prev);
      return direct === canonicalRecord({ ...e, seq, prev }) && direct === reference({ ...e, seq, prev });
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 random entries');
  const [r] = chainEntries({ seq: 41, hash: 'h' }, [entry({ actor: 'ops', details: { why: 'test' } })]);
  t.equal(
    r?.hash,
    hashRecord(r as NonNullable<typeof r>),
    'a chained record verifies by the generic encoding',
  );
  t.match(r, { seq: 42, prev: 'h', actor: 'ops', details: { why: 'test' } });
});
