// Fuzz targets: one property per input surface an outsider (or a bad file) reaches. The CI
// tests in this folder run each with a few hundred runs; `npm run fuzz` (scripts/fuzz.mjs)
// runs the same properties for a time budget. A target fails on an uncaught exception
// other than the surface's documented error, on a result that is not one of its documented
// shapes, or on output out of proportion to the input (unbounded allocation).

import { TypeCompiler } from '@sinclair/typebox/compiler';
import { xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import fc from 'fast-check';
import { stringify as yamlStringify } from 'yaml';
import {
  messageFromMatrix,
  presenceFromMatrix,
  readReceipts,
  typingUsers,
} from '../../src/adapters/matrix/translate.js';
import {
  ParseError,
  parseMessage,
  type SipMessage,
  StreamFramer,
  salvageRequest,
  serialize,
  validateRequest,
  validateResponse,
} from '../../src/adapters/sip/message.js';
import {
  describeError,
  readMessage,
  readPresence,
  type StanzaEnv,
  writeMessage,
} from '../../src/adapters/xmpp/stanza.js';
import { parseConfig } from '../../src/config.js';
import { CanonicalEvent } from '../../src/core/model.js';
import { compilePolicySource } from '../../src/core/policy/load.js';
import { MAX_PROBLEMS, SourceError } from '../../src/core/yaml-source.js';

/** One fuzz target: a property, built with whatever it needs (and closed after). */
export interface FuzzTarget {
  name: string;
  /** Runs in CI (keep every file under its share of 60 s on 2 cores). */
  ciRuns: number;
  prepare(): Promise<{ property: fc.IAsyncProperty<[unknown]>; close?: () => Promise<void> }>;
}

/** A property over one generated value; `check` throws (an assertion) to fail. */
function target(
  name: string,
  ciRuns: number,
  arb: fc.Arbitrary<unknown>,
  check: (v: unknown) => void | Promise<void>,
): FuzzTarget {
  return {
    name,
    ciRuns,
    prepare: async () => ({ property: fc.asyncProperty(arb, async (v) => await check(v)) }),
  };
}

class FuzzFailure extends Error {
  override name = 'FuzzFailure';
}
function must(cond: unknown, what: string): asserts cond {
  if (!cond) throw new FuzzFailure(what);
}

/** Only `expected` errors may come out of `fn`; anything else is a finding. */
function onlyThrows<T>(fn: () => T, expected: (err: unknown) => boolean, what: string): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (expected(err)) return undefined;
    throw new FuzzFailure(
      `${what} threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
    );
  }
}

const checkCanonical = TypeCompiler.Compile(CanonicalEvent);

// ---------------------------------------------------------------------------------------
// SIP: the parser (one datagram) and the stream framer (TCP/TLS).

const CRLF = '\r\n';
const token = fc.stringMatching(/^[A-Za-z0-9.!%*_+`'~-]{1,12}$/);
const hostish = fc.oneof(
  fc.constantFrom('corp.test', 'partner.test', '127.0.0.1', '[::1]', 'a.b.c.example'),
  fc.string({ maxLength: 20 }),
);
const sipUri = fc.oneof(
  fc
    .tuple(token, hostish, fc.option(fc.integer({ min: -1, max: 70000 })))
    .map(([u, h, p]) => `sip:${u}@${h}${p === null ? '' : `:${p}`}`),
  fc.string({ maxLength: 40 }),
);
const headerValue = fc.oneof(
  sipUri.map((u) => `<${u}>;tag=${Math.abs(u.length * 7919)}`),
  fc.string({ maxLength: 60 }),
  fc.constantFrom('SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1', '1 MESSAGE', '0', '70', 'text/plain'),
);
const headerName = fc.oneof(
  fc.constantFrom(
    'Via',
    'v',
    'From',
    'f',
    'To',
    't',
    'Call-ID',
    'i',
    'CSeq',
    'Max-Forwards',
    'Content-Type',
    'c',
    'Content-Length',
    'l',
    'Contact',
    'm',
    'Route',
    'Record-Route',
    'Authorization',
    'Event',
    'Expires',
  ),
  token,
);

/** A request or response text, plausible enough to get past the first line. */
const sipText = fc
  .record({
    first: fc.oneof(
      fc
        .tuple(fc.constantFrom('MESSAGE', 'INVITE', 'ACK', 'BYE', 'OPTIONS', 'REGISTER'), sipUri)
        .map(([m, u]) => `${m} ${u} SIP/2.0`),
      fc.integer({ min: 0, max: 999 }).map((c) => `SIP/2.0 ${c} Reason`),
      fc.string({ maxLength: 40 }),
    ),
    headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 16 }),
    body: fc.string({ maxLength: 200 }),
    sep: fc.constantFrom(CRLF, '\n'),
  })
  .map(
    ({ first, headers, body, sep }) =>
      `${first}${sep}${headers.map(([n, v]) => `${n}: ${v}`).join(sep)}${sep}${sep}${body}`,
  );

const VALID_SIP = [
  'MESSAGE sip:alice@corp.test SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport',
  'Max-Forwards: 70',
  'From: <sip:bob@partner.test>;tag=1',
  'To: <sip:alice@corp.test>',
  'Call-ID: c1@partner.test',
  'CSeq: 1 MESSAGE',
  'Content-Type: text/plain',
  'Content-Length: 5',
  '',
  'hello',
].join(CRLF);

/** Byte-level mutations of a valid message (what 11,000 mutated datagrams did by hand). */
const mutatedSip = fc
  .array(
    fc.record({
      at: fc.nat(),
      del: fc.nat({ max: 8 }),
      ins: fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.constantFrom('\r\n', '\r', '\n', ':', ';', '<', '>', '\0', ' ', '\t'),
      ),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((muts) => {
    let s = VALID_SIP;
    for (const m of muts) {
      const i = m.at % (s.length + 1);
      s = s.slice(0, i) + m.ins + s.slice(i + m.del);
    }
    return s;
  });

/** A valid message with some header lines replaced, added or removed: gets past the first checks. */
const headerEditedSip = fc
  .array(
    fc.record({
      at: fc.nat(),
      op: fc.constantFrom('set', 'add', 'del'),
      name: headerName,
      value: headerValue,
    }),
    { maxLength: 4 },
  )
  .map((edits) => {
    const [head, body] = VALID_SIP.split(`${CRLF}${CRLF}`) as [string, string];
    const lines = head.split(CRLF);
    for (const e of edits) {
      const i = 1 + (e.at % (lines.length - 1));
      if (e.op === 'del' && lines.length > 2) lines.splice(i, 1);
      else if (e.op === 'add') lines.splice(i, 0, `${e.name}: ${e.value}`);
      else lines[i] = `${lines[i]!.split(':')[0]}: ${e.value}`;
    }
    return `${lines.join(CRLF)}${CRLF}${CRLF}${body}`;
  });

/** A valid message with a stray CR, LF or NUL in one of its header lines (not at its end). */
const strayControlSip = fc
  .record({ line: fc.nat(), at: fc.nat(), ch: fc.constantFrom('\r', '\n', '\0') })
  .map(({ line, at, ch }) => {
    const [head, body] = VALID_SIP.split(`${CRLF}${CRLF}`) as [string, string];
    const lines = head.split(CRLF);
    const i = 1 + (line % (lines.length - 1));
    const j = at % lines[i]!.length;
    lines[i] = lines[i]!.slice(0, j) + ch + lines[i]!.slice(j);
    return `${lines.join(CRLF)}${CRLF}${CRLF}${body}`;
  });

const sipBytes = fc.oneof(
  headerEditedSip.map((s) => Buffer.from(s, 'utf8')),
  strayControlSip.map((s) => Buffer.from(s, 'utf8')),
  sipText.map((s) => Buffer.from(s, 'utf8')),
  mutatedSip.map((s) => Buffer.from(s, 'utf8')),
  fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
);

const sipParser = target('sip-parser', 2000, sipBytes, (v) => {
  const buf = v as Buffer;
  const msg = onlyThrows(
    () => parseMessage(buf),
    (e) => e instanceof ParseError,
    'parseMessage',
  );
  onlyThrows(
    () => salvageRequest(buf),
    () => false,
    'salvageRequest',
  );
  if (!msg) return;
  onlyThrows(
    () =>
      'method' in msg
        ? validateRequest(msg)
        : validateResponse(msg as Extract<SipMessage, { status: number }>),
    (e) => e instanceof ParseError,
    'validate',
  );
  // A message the parser accepted is one Parley can send on: serialize never throws (a
  // bare CR the parser once let through in a header it does not read made it refuse).
  // What it writes may add a Content-Length and normalise names.
  const out = onlyThrows(
    () => serialize(msg),
    () => false,
    'serialize',
  );
  must(
    out === undefined || out.length <= buf.length * 2 + 256,
    `serialised ${out?.length} bytes from ${buf.length}`,
  );
});

/** A well-formed message for the framer: its Content-Length is right. */
const framedMessage = fc
  .record({
    headers: fc.array(
      fc.tuple(
        headerName.filter((n) => !/^(content-length|l)$/i.test(n)),
        fc.stringMatching(/^[ -~]{0,40}$/),
      ),
      {
        maxLength: 8,
      },
    ),
    body: fc.uint8Array({ maxLength: 300 }),
    compact: fc.boolean(),
  })
  .map(({ headers, body, compact }) => {
    const head = [
      'MESSAGE sip:a@corp.test SIP/2.0',
      ...headers.map(([n, v]) => `${n}: ${v}`),
      `${compact ? 'l' : 'Content-Length'}: ${body.length}`,
    ].join(CRLF);
    return Buffer.concat([Buffer.from(`${head}${CRLF}${CRLF}`), Buffer.from(body)]);
  });

const FRAMER_LIMITS = { maxHead: 4096, maxBody: 4096 };

const framerWhole = target(
  'sip-framer-whole',
  800,
  fc.record({
    messages: fc.array(fc.tuple(framedMessage, fc.constantFrom('', '\r\n', '\r\n\r\n')), {
      minLength: 1,
      maxLength: 5,
    }),
    cuts: fc.array(fc.nat(), { maxLength: 40 }),
  }),
  (v) => {
    const { messages, cuts } = v as { messages: [Buffer, string][]; cuts: number[] };
    // Keep-alive CRLFs may come between messages (RFC 5626 §3.5.1).
    const stream = Buffer.concat(messages.flatMap(([m, ka]) => [Buffer.from(ka), m]));
    const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
    const framer = new StreamFramer(FRAMER_LIMITS);
    const got: Buffer[] = [];
    let from = 0;
    for (const p of [...points, stream.length]) {
      got.push(...framer.push(stream.subarray(from, p)));
      from = p;
    }
    must(got.length === messages.length, `${got.length} messages out of ${messages.length}`);
    for (const [i, [m]] of messages.entries()) must(got[i]!.equals(m), `message ${i} came out changed`);
    must(framer.buffered === 0, `${framer.buffered} bytes left over`);
  },
);

const framerNoise = target(
  'sip-framer-noise',
  800,
  fc.array(
    fc.oneof(
      fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)),
      sipText.map((s) => Buffer.from(s)),
      fc.constantFrom(
        Buffer.from('\r\n'),
        Buffer.from('\r\n\r\n'),
        Buffer.from('Content-Length: 99999999\r\n\r\n'),
      ),
    ),
    { maxLength: 20 },
  ),
  (v) => {
    const framer = new StreamFramer(FRAMER_LIMITS);
    let total = 0;
    for (const chunk of v as Buffer[]) {
      total += chunk.length;
      const out = onlyThrows(
        () => framer.push(chunk),
        (e) => e instanceof ParseError,
        'StreamFramer.push',
      );
      if (!out) return; // a framing error ends the connection
      for (const m of out) must(m.length <= total, 'a message longer than what came in');
      // What waits is at most one message in progress: the limits bound it.
      must(
        framer.buffered <= FRAMER_LIMITS.maxHead + 4 + FRAMER_LIMITS.maxBody,
        `${framer.buffered} bytes buffered`,
      );
    }
  },
);

// ---------------------------------------------------------------------------------------
// XMPP: stanza translation (what the XMPP server hands the component).

let seq = 0;
const XMPP_ENV: StanzaEnv = {
  adapter: 'corp',
  component: 'gw.corp.test',
  domains: ['corp.test'],
  networkOf: (d) =>
    d === 'hs.test' ? 'matrix' : d === 'partner.test' ? 'sip' : d === 'corp.test' ? 'xmpp' : null,
  now: () => new Date('2026-11-25T10:00:00Z'),
  newId: () => `id${++seq}`,
  newTraceId: () => `tr${seq}`,
};

const servedJid = fc.constantFrom('alice@corp.test/phone', 'alice@corp.test', 'carol@corp.test/laptop');
const ghostJid = fc.constantFrom(
  'bob%hs.test@gw.corp.test',
  'bob%partner.test@gw.corp.test',
  'bob%hs.test@gw.corp.test/x',
  'nobody%unknown.test@gw.corp.test',
  'gw.corp.test',
);
const jidish = fc.oneof(
  fc.constantFrom(
    'alice@corp.test/phone',
    'alice@corp.test',
    'bob%hs.test@gw.corp.test',
    'bob%partner.test@gw.corp.test',
    'gw.corp.test',
    'x@evil.test/r',
    '@corp.test',
    'a@b@c',
  ),
  fc.string({ maxLength: 30 }),
);
const xmlText = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.constantFrom('', 'dnd', 'away', 'xa', 'chat', '2026-11-25T09:58:00Z'),
);
const elName = fc.constantFrom(
  'body',
  'html',
  'x',
  'thread',
  'subject',
  'show',
  'status',
  'priority',
  'idle',
  'replace',
  'reply',
  'composing',
  'active',
  'received',
  'request',
  'markable',
  'displayed',
  'url',
  'desc',
  'origin-id',
  'error',
  'text',
  'p',
);
const nsName = fc.constantFrom(
  undefined,
  'urn:xmpp:idle:1',
  'jabber:x:oob',
  'urn:xmpp:message-correct:0',
  'http://jabber.org/protocol/chatstates',
  'urn:xmpp:receipts',
  'urn:xmpp:chat-markers:0',
  'http://jabber.org/protocol/xhtml-im',
  'urn:xmpp:reply:0',
  'urn:xmpp:sid:0',
  'urn:ietf:params:xml:ns:xmpp-stanzas',
);
const child: fc.Arbitrary<Element> = fc.letrec<{ node: Element }>((tie) => ({
  node: fc
    .record({
      name: elName,
      ns: nsName,
      attrs: fc.dictionary(
        fc.constantFrom('id', 'to', 'from', 'since', 'type', 'stamp', 'xml:lang'),
        xmlText,
        {
          maxKeys: 3,
        },
      ),
      text: fc.option(xmlText),
      // Three levels at most: the XMPP server bounds depth long before Parley sees it.
      kids: fc.oneof(
        { maxDepth: 3, depthIdentifier: 'xmpp' },
        fc.constant([] as Element[]),
        fc.array(tie('node'), { maxLength: 3 }),
      ),
    })
    .map(({ name, ns, attrs, text, kids }) => {
      const a: Record<string, string> = { ...attrs };
      if (ns) a.xmlns = ns;
      return xml(name, a, ...(text === null ? [] : [text]), ...kids);
    }),
})).node;

const stanza = fc
  .record({
    name: fc.constantFrom('message', 'presence'),
    type: fc.option(
      fc.constantFrom(
        'chat',
        'normal',
        'groupchat',
        'headline',
        'error',
        'unavailable',
        'probe',
        'subscribe',
        'bogus',
      ),
    ),
    from: fc.oneof({ weight: 4, arbitrary: servedJid }, { weight: 1, arbitrary: jidish }),
    to: fc.oneof({ weight: 4, arbitrary: ghostJid }, { weight: 1, arbitrary: jidish }),
    id: fc.option(fc.string({ maxLength: 600 })),
    body: fc.option(xmlText),
    kids: fc.array(child, { maxLength: 5 }),
  })
  .map(({ name, type, from, to, id, body, kids }) => {
    const attrs: Record<string, string> = { from, to };
    if (type !== null) attrs.type = type;
    if (id !== null) attrs.id = id;
    return xml(name, attrs, ...(body === null ? [] : [xml('body', {}, body)]), ...kids);
  });

const xmppStanza = target('xmpp-stanza', 1500, stanza, (v) => {
  const el = v as Element;
  const size = el.toString().length;
  if (el.name === 'message') {
    const r = onlyThrows(
      () => readMessage(el, XMPP_ENV),
      () => false,
      'readMessage',
    );
    must(r && ['events', 'error', 'ignore'].includes(r.kind), 'readMessage gave no Inbound');
    if (r.kind === 'events') {
      for (const e of r.events) {
        must(checkCanonical.Check(e), `an event that is not canonical: ${JSON.stringify(e).slice(0, 300)}`);
        must(JSON.stringify(e).length <= size * 2 + 1024, 'an event far larger than its stanza');
        // What came in can go out (to another XMPP link) without throwing.
        const w = onlyThrows(
          () => writeMessage(e, 'gw.partner.test'),
          () => false,
          'writeMessage',
        );
        must(w && typeof w.ok === 'boolean', 'writeMessage gave no Outbound');
      }
    }
  } else {
    const p = onlyThrows(
      () => readPresence(el),
      () => false,
      'readPresence',
    );
    must(p && typeof p.show === 'string', 'readPresence gave no show');
    must(JSON.stringify(p).length <= size * 2 + 256, 'a presence far larger than its stanza');
  }
  onlyThrows(
    () => describeError(el),
    () => false,
    'describeError',
  );
});

// ---------------------------------------------------------------------------------------
// Matrix: event contents from the homeserver (any user's client chose them).

const matrixKey = fc.constantFrom(
  'msgtype',
  'body',
  'format',
  'formatted_body',
  'm.relates_to',
  'm.new_content',
  'rel_type',
  'event_id',
  'm.in_reply_to',
  'url',
  'info',
  'mimetype',
  'size',
  'filename',
  'presence',
  'status_msg',
  'last_active_ago',
  'user_ids',
  'm.read',
  'm.read.private',
  '$event',
  '@u:hs.test',
  'ts',
);
const matrixLeaf = fc.oneof(
  fc.constantFrom(
    'm.text',
    'm.notice',
    'm.emote',
    'm.image',
    'm.file',
    'm.replace',
    'org.matrix.custom.html',
    'online',
    'unavailable',
    'offline',
    'busy',
    'mxc://hs.test/abc',
    '$ev:hs.test',
    '@bob:hs.test',
  ),
  fc.string({ maxLength: 60 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);
const matrixValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', depthIdentifier: 'mx' },
    matrixLeaf,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(matrixKey, fc.string({ maxLength: 8 })), tie('v'), { maxKeys: 6 }),
  ),
})).v;
const randomContent = fc.dictionary(fc.oneof(matrixKey, fc.string({ maxLength: 8 })), matrixValue, {
  maxKeys: 8,
});
/** Shaped like a message (msgtype and body), with random extras: reaches the translation proper. */
const messageContent = fc
  .record({
    msgtype: fc.oneof(
      fc.constantFrom('m.text', 'm.notice', 'm.emote', 'm.image', 'm.file', 'm.audio', 'm.location'),
      fc.string({ maxLength: 8 }),
    ),
    body: fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom('> <@a:hs.test> quoted\n\nreply', '* edited'),
    ),
    extra: randomContent,
    rel: fc.option(
      fc.record(
        {
          rel_type: fc.constantFrom('m.replace', 'm.thread', 'x'),
          event_id: fc.oneof(fc.constant('$ev:hs.test'), fc.string({ maxLength: 600 })),
          'm.in_reply_to': fc.record({ event_id: fc.oneof(fc.constant('$r:hs.test'), matrixLeaf) }),
        },
        { requiredKeys: [] },
      ),
    ),
    html: fc.option(fc.string({ maxLength: 200 }).map((h) => `<mx-reply>q</mx-reply><b>${h}</b>`)),
  })
  .map(({ msgtype, body, extra, rel, html }) => ({
    ...extra,
    msgtype,
    body,
    ...(rel ? { 'm.relates_to': rel } : {}),
    ...(html ? { format: 'org.matrix.custom.html', formatted_body: html } : {}),
  }));
const matrixContent = fc.oneof(messageContent, randomContent);

const matrixTranslate = target('matrix-translate', 1500, matrixContent, (v) => {
  const content = v as Record<string, unknown>;
  const size = JSON.stringify(content).length;
  const m = onlyThrows(
    () => messageFromMatrix(content),
    () => false,
    'messageFromMatrix',
  );
  if (m) {
    must(typeof m.body === 'string', 'a message without a body string');
    must(JSON.stringify(m).length <= size * 2 + 512, 'a message far larger than its content');
  }
  const p = onlyThrows(
    () => presenceFromMatrix(content),
    () => false,
    'presenceFromMatrix',
  );
  if (p) must(['available', 'away', 'dnd', 'xa', 'offline'].includes(p.show), `presence show ${p.show}`);
  const r = onlyThrows(
    () => readReceipts(content),
    () => false,
    'readReceipts',
  );
  must(Array.isArray(r) && r.length <= size, 'receipts');
  const u = onlyThrows(
    () => typingUsers(content),
    () => false,
    'typingUsers',
  );
  must(Array.isArray(u) && u.length <= size, 'typing users');
});

// ---------------------------------------------------------------------------------------
// Loaders: the policy and the config file (an operator's typo, or an attacker's upload to
// POST /api/v1/policy/validate). Only SourceError, with lines, and a capped list.

const POLICY_TEXT = `apiVersion: parley/v1
kind: Policy
metadata: { name: fuzz, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [hs.test, "*.partner.test"] }
defaults: { decision: deny }
rules:
  - id: partners
    match: { between: [{ zone: enterprise }, { zone: partner }], kind: [message, presence] }
    effect: allow
    obligations: { presence: coarse, rateLimit: 10/min, disclaimer: "Archived." }
  - id: cards
    match: { kind: message, content: { pattern: '\\b(?:\\d[ -]?){13,16}\\b' } }
    effect: redact
    replacement: "[card]"
  - id: nights
    match: { time: { days: [sat, sun], from: "22:00", to: "06:00", tz: Europe/Berlin } }
    effect: deny
    reason: Not at night
`;

const CONFIG_TEXT = `http:
  listen: "\${PARLEY_HTTP_LISTEN:-127.0.0.1:8080}"
  tokens:
    admin: "\${PARLEY_ADMIN_TOKEN:-adm-123}"
log:
  level: info
policy:
  file: ../policies/default.yaml
  watch: true
audit:
  content: full
  failClosed: true
adapters:
  corp:
    type: xmpp
    service: xmpp://127.0.0.1:5347
    component: gw.corp.test
    secret: \${CORP_SECRET:-s3cret}
    domains: [corp.test]
  hs:
    type: matrix
    domains: [hs.test]
`;

/** Line-level and character-level edits of a valid file, plus YAML of random shapes. */
const yamlish = (valid: string) =>
  fc.oneof(
    fc
      .array(
        fc.record({
          op: fc.constantFrom('del', 'dup', 'swap', 'char', 'alias'),
          at: fc.nat(),
          text: fc.oneof(
            fc.string({ maxLength: 12 }),
            fc.constantFrom(':', '- ', '&a ', '*a', '{', '[', '"', "'", '\t', '  ', '#'),
          ),
        }),
        { maxLength: 6 },
      )
      .map((ops) => {
        const lines = valid.split('\n');
        for (const o of ops) {
          const i = o.at % lines.length;
          if (o.op === 'del') lines.splice(i, 1);
          else if (o.op === 'dup') lines.splice(i, 0, lines[i] ?? '');
          else if (o.op === 'swap') lines.splice(i, 2, lines[i + 1] ?? '', lines[i] ?? '');
          else if (o.op === 'alias') lines.splice(i, 0, `x${i}: &a${i} [${'*a, '.repeat(3)}1]`);
          else {
            const l = lines[i] ?? '';
            const c = o.at % (l.length + 1);
            lines[i] = l.slice(0, c) + o.text + l.slice(c + 1);
          }
          if (lines.length === 0) lines.push('');
        }
        return lines.join('\n');
      }),
    fc.anything({ maxDepth: 4 }).map((v) => {
      try {
        const y: unknown = yamlStringify(v);
        return typeof y === 'string' ? y : String(v);
      } catch {
        return String(v);
      }
    }),
    fc.json({ maxDepth: 4 }),
    fc.string({ maxLength: 300 }),
  );

/** The loaders' contract: a result, or SourceError with problems that point at lines. */
function sourceErrorOk(err: unknown, text: string, file: string): boolean {
  if (!(err instanceof SourceError)) return false;
  const lines = text.split('\n').length;
  must(err.problems.length >= 1, 'a SourceError with no problem');
  must(
    err.problems.length <= MAX_PROBLEMS + 1,
    `${err.problems.length} problems listed (cap ${MAX_PROBLEMS} + 1)`,
  );
  for (const p of err.problems) {
    must(p.file === file, `problem for file ${p.file}`);
    must(Number.isInteger(p.line) && p.line >= 1 && p.line <= lines + 1, `line ${p.line} of ${lines}`);
    must(
      typeof p.message === 'string' && p.message.length > 0 && p.message.length <= 2000,
      'a problem message',
    );
    must(!/\bat .*\.(ts|js):\d+/.test(p.message), 'a stack trace in a problem');
  }
  must(err.message.length <= 250_000, 'an error message out of proportion');
  return true;
}

/** Policies built from rule pieces with random values: most compile, and are then used. */
const rulePiece = fc.oneof(
  fc
    .record({
      kind: fc.constantFrom('message', 'presence', 'call', 'fax'),
      effect: fc.constantFrom('allow', 'deny'),
    })
    .map((r) => `match: { kind: [${r.kind}] }\n    effect: ${r.effect}`),
  fc
    .oneof(
      fc.constantFrom('\\d{4}', '(a+)+$', '[', 'secret', '\\bcard\\b', '(?<x>a)\\k<x>'),
      fc.string({ maxLength: 12 }),
    )
    .map((p) => `match: { kind: [message], content: { pattern: ${JSON.stringify(p)} } }\n    effect: redact`),
  fc
    .record({
      presence: fc.oneof(fc.constantFrom('basic', 'coarse', 'full'), fc.string({ maxLength: 6 })),
      rate: fc.oneof(
        fc.constantFrom('10/min', '0/s', '1000000/h', '5/fortnight'),
        fc.string({ maxLength: 8 }),
      ),
    })
    .map(
      (o) =>
        `match: { between: [{ zone: enterprise }, { zone: partner }] }\n    effect: allow\n    obligations: { presence: ${JSON.stringify(o.presence)}, rateLimit: ${JSON.stringify(o.rate)} }`,
    ),
  fc
    .record({
      day: fc.constantFrom('mon', 'sun', 'funday'),
      from: fc.oneof(fc.constantFrom('00:00', '22:00', '24:00', '9:00'), fc.string({ maxLength: 5 })),
      tz: fc.oneof(fc.constantFrom('UTC', 'Europe/Berlin', 'Mars/Olympus'), fc.string({ maxLength: 8 })),
    })
    .map(
      (w) =>
        `match: { time: { days: [${w.day}], from: ${JSON.stringify(w.from)}, to: "06:00", tz: ${JSON.stringify(w.tz)} } }\n    effect: deny`,
    ),
  fc
    .oneof(
      fc.constantFrom('corp.test', '*.partner.test', '*', 'bad domain', ''),
      fc.string({ maxLength: 10 }),
    )
    .map((d) => `match: { party: { domain: [${JSON.stringify(d)}] } }\n    effect: deny`),
);
const builtPolicy = fc
  .array(fc.tuple(fc.constantFrom('r', 'rule.1', 'x', '-bad'), rulePiece), { maxLength: 8 })
  .map(
    (rules) =>
      `${POLICY_TEXT.split('rules:')[0]}rules:\n${rules.map(([id, body], i) => `  - id: ${id}${i}\n    ${body}`).join('\n')}\n`,
  );

const SAMPLE_EVENTS: CanonicalEvent[] = [
  {
    kind: 'message',
    id: 'm1',
    time: '2026-11-29T23:00:00.000Z',
    from: 'xmpp:alice@corp.test',
    to: 'matrix:u/bob:hs.test',
    adapter: 'corp',
    traceId: 't1',
    // Short on purpose: with a pattern like (a+)+$ each further `a` doubles the time (a
    // finding, reported: a policy pattern with nested quantifiers lets a sender block the
    // event loop); the fuzz run checks loading and deciding, not that.
    body: 'card 4111 1111 1111 1111 secret aaaaaaaaaa!',
  },
  {
    kind: 'presence',
    id: 'p1',
    time: '2026-11-25T10:00:00.000Z',
    from: 'xmpp:alice@corp.test',
    to: 'sip:bob@eu.partner.test',
    adapter: 'corp',
    traceId: 't2',
    show: 'dnd',
    status: 'busy',
    lastActive: '2026-11-25T09:00:00.000Z',
  },
];

const policyLoader = target('policy-loader', 300, fc.oneof(yamlish(POLICY_TEXT), builtPolicy), (v) => {
  const text = v as string;
  const p = onlyThrows(
    () => compilePolicySource(text, 'fuzz.yaml'),
    (e) => sourceErrorOk(e, text, 'fuzz.yaml'),
    'compilePolicySource',
  );
  // A policy that loads decides every event without throwing.
  if (p)
    for (const e of SAMPLE_EVENTS)
      onlyThrows(
        () => p.evaluate(e),
        () => false,
        'evaluate',
      );
});

const configLoader = target('config-loader', 500, yamlish(CONFIG_TEXT), (v) => {
  const text = v as string;
  onlyThrows(
    () => parseConfig(text, 'parley.yaml', {}),
    (e) => sourceErrorOk(e, text, 'parley.yaml'),
    'parseConfig',
  );
});

export const TARGETS: readonly FuzzTarget[] = [
  sipParser,
  framerWhole,
  framerNoise,
  xmppStanza,
  matrixTranslate,
  policyLoader,
  configLoader,
];

export const targetNamed = (name: string): FuzzTarget => {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target ${name}`);
  return t;
};

export { FuzzFailure, must, onlyThrows };
