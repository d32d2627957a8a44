import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import t from 'tap';
import {
  formatOwnVia,
  getHeader,
  getHeaders,
  isSipUri,
  ParseError,
  parseMessage,
  parseNameAddr,
  parseParams,
  parseParamsGeneral,
  parseUri,
  parseVia,
  type SipMessage,
  StreamFramer,
  serialize,
  topVia,
  validateRequest,
  validateResponse,
  viewVia,
  wireLength,
} from '../../../src/adapters/sip/message.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'torture');
const load = (name: string) => readFileSync(join(dir, `${name}.dat`));

/** Parse and apply the checks a request/response gets before the transaction layer. */
function accept(buf: Buffer): SipMessage {
  const m = parseMessage(buf);
  if (m.kind === 'request') validateRequest(m);
  else validateResponse(m);
  return m;
}

// RFC 4475 §3.1.1: a conformant parser accepts these.
const VALID = [
  'wsinv',
  'intmeth',
  'esc01',
  'escnull',
  'esc02',
  'lwsdisp',
  'longreq',
  'dblreq',
  'semiuri',
  'transports',
  'mpart01',
  'unreason',
  'noreason',
  // §3.2.1: syntactically valid; the transaction layer refuses it (transaction.test.ts).
  'badbranch',
];

// RFC 4475 §3.1.2 (and §3.3 where the fault is in the message itself): rejected, with the
// status a request deserves (responses are dropped).
const INVALID: [string, number, RegExp][] = [
  ['badinv01', 400, /bad parameter name|empty element/],
  ['clerr', 400, /Content-Length is larger/],
  ['ncl', 400, /bad Content-Length/],
  ['scalar02', 400, /CSeq number is too large|Max-Forwards|Expires/],
  ['scalarlg', 400, /CSeq number is too large|Retry-After|Warning/],
  ['quotbal', 400, /unterminated quoted string/],
  ['ltgtruri', 400, /Request-URI/],
  ['lwsruri', 400, /request line/],
  ['lwsstart', 400, /request line/],
  ['trws', 400, /request line/],
  ['escruri', 400, /must not contain headers/],
  ['baddate', 400, /bad Date/],
  ['regbadct', 400, /enclosed in <>/],
  ['badaspec', 400, /whitespace inside <URI>/],
  ['baddn', 400, /display name|empty element|bad/],
  ['badvers', 505, /version 7.0/],
  ['mismatch01', 400, /CSeq method does not match/],
  ['mismatch02', 400, /CSeq method does not match/],
  ['bigcode', 400, /bad status line/],
  ['insuf', 400, /missing/],
  ['multi01', 400, /more than one/],
  ['mcl01', 400, /more than one Content-Length/],
  ['unkscm', 416, /unsupported URI scheme/],
];

t.test('RFC 4475 valid messages parse, and survive a serialise/parse round trip', async (t) => {
  for (const name of VALID) {
    const buf = load(name);
    let m: SipMessage;
    try {
      m = accept(buf);
    } catch (err) {
      t.fail(`${name}: ${(err as Error).message}`);
      continue;
    }
    const again = accept(serialize(m));
    t.same(again.body, m.body, `${name}: body survives`);
    t.same(
      again.headers.filter((h) => h.name !== 'Content-Length'),
      m.headers.filter((h) => h.name !== 'Content-Length'),
      `${name}: headers survive`,
    );
  }
});

t.test('RFC 4475 invalid messages are rejected with a reason and a status', async (t) => {
  for (const [name, status, reason] of INVALID) {
    try {
      accept(load(name));
      t.fail(`${name} was accepted`);
    } catch (err) {
      t.ok(err instanceof ParseError, `${name}: ParseError`);
      t.equal((err as ParseError).status, status, `${name}: status ${status}`);
      t.match((err as Error).message, reason, `${name}: ${(err as Error).message}`);
    }
  }
});

t.test('wsinv: folding, compact forms, quoted pairs, LWS everywhere', async (t) => {
  const m = accept(load('wsinv'));
  t.equal(m.kind, 'request');
  if (m.kind !== 'request') return;
  t.equal(m.method, 'INVITE');
  t.equal(getHeader(m, 'Max-Forwards'), '0068');
  t.equal(getHeader(m, 'CSeq'), '0009 INVITE');
  const from = parseNameAddr(getHeader(m, 'From')!, 'From');
  t.equal(from.display, 'J Rosenberg \\"');
  t.equal(from.params.get('tag'), '98asjd8');
  t.equal(parseNameAddr(getHeader(m, 'To')!, 'To').params.get('tag'), '1918181833n');
  const vias = getHeaders(m, 'Via').map(parseVia);
  t.same(
    vias.map((v) => [v.transport, v.host, v.params.get('branch')]),
    [
      ['UDP', '192.0.2.2', '390skdjuw'],
      ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
      ['UDP', '192.168.255.111', 'z9hG4bK30239'],
    ],
  );
  const contact = parseNameAddr(getHeaders(m, 'Contact')[0]!, 'Contact');
  t.equal(contact.display, 'Quoted string ""');
  t.equal(contact.params.get('newparam'), 'newvalue');
  t.equal(contact.params.get('secondparam'), null);
  t.equal(contact.params.get('q'), '0.33');
  t.equal(getHeader(m, 'NewFangledHeader'), 'newfangled value continued newfangled value');
  t.equal(getHeader(m, 'UnknownHeaderWithUnusualValue'), ';;,,;;,;');
  t.equal(getHeader(m, 'Subject'), '');
  t.equal(m.body.length, 150);
});

t.test('URIs: escapes, odd users and passwords, params', async (t) => {
  const esc = accept(load('esc01'));
  t.equal(esc.kind === 'request' && esc.uri, 'sip:sips%3Auser%40example.com@example.net');
  const ruri = parseUri('sip:sips%3Auser%40example.com@example.net');
  t.ok(isSipUri(ruri) && ruri.user === 'sips:user@example.com' && ruri.host === 'example.net');
  const to = parseNameAddr(getHeader(esc, 'To')!, 'To').uri;
  t.ok(isSipUri(to) && to.user === 'user');
  const contact = parseNameAddr(getHeader(esc, 'Contact')!, 'Contact').uri;
  t.ok(isSipUri(contact));
  if (isSipUri(contact)) {
    t.equal(contact.user, 'caller');
    t.equal(contact.params.get('lr'), null);
    t.equal(contact.params.get('name'), 'value%41');
  }
  const im = accept(load('intmeth'));
  const u = parseUri(im.kind === 'request' ? im.uri : '');
  t.ok(isSipUri(u));
  if (isSipUri(u)) {
    t.equal(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    t.equal(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    t.equal(u.host, 'example.com');
  }
  const imTo = parseNameAddr(getHeader(im, 'To')!, 'To');
  t.equal(imTo.display, 'BEL:\x07 NUL:\x00 DEL:\x7f');
  const imFrom = parseNameAddr(getHeader(im, 'From')!, 'From');
  t.equal(imFrom.params.get("fromparam''~+*_!.-%"), 'работающий');
  const semi = parseUri('sip:user;par=u%40example.net@example.com');
  t.ok(isSipUri(semi) && semi.user === 'user;par=u@example.net');
  const v6 = parseUri('sip:alice@[2001:db8::1]:5070;transport=tcp');
  t.ok(
    isSipUri(v6) && v6.host === '[2001:db8::1]' && v6.port === 5070 && v6.params.get('transport') === 'tcp',
  );
  t.throws(() => parseUri('sip:alice@exa mple.com'), ParseError);
  t.throws(() => parseUri('sip:alice@host:99999'), ParseError);
  t.throws(() => parseUri('sip:al ice@host'), ParseError);
});

t.test('dblreq: octets past Content-Length in a datagram are ignored', async (t) => {
  const m = accept(load('dblreq'));
  t.equal(m.kind === 'request' && m.method, 'REGISTER');
  t.equal(m.body.length, 0);
});

t.test('escnull, esc02, mpart01 and the response lines', async (t) => {
  const n = accept(load('escnull'));
  t.same(
    getHeaders(n, 'Contact').map((c) => {
      const u = parseNameAddr(c, 'Contact').uri;
      return isSipUri(u) ? u.user : null;
    }),
    ['\0', '\0\0'],
  );
  const e = accept(load('esc02'));
  t.equal(e.kind === 'request' && e.method, 'RE%47IST%45R');
  t.equal(getHeaders(e, 'Contact').length, 2, 'C%6Fntact is another header, not Contact');
  const mp = accept(load('mpart01'));
  t.ok(mp.body.includes(Buffer.from(Array.from({ length: 256 }, (_, i) => i))), 'binary body intact');
  const ur = accept(load('unreason'));
  t.equal(ur.kind === 'response' && ur.reason, '= 2**3 * 5**2 но сто девяносто девять - простое');
  const nr = accept(load('noreason'));
  t.ok(nr.kind === 'response' && nr.status === 100 && nr.reason === '');
  t.equal(topVia(nr).params.get('branch'), 'z9hG4bK2398ndaoe');
});

t.test('serialise: canonical names, Content-Length from the body, no CR/LF injection', async (t) => {
  const buf = serialize({
    kind: 'request',
    method: 'MESSAGE',
    uri: 'sip:bob@partner.test',
    headers: [
      { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1' },
      { name: 'Content-Length', value: '999' },
    ],
    body: Buffer.from('héllo'),
  });
  t.match(
    buf.toString(),
    /^MESSAGE sip:bob@partner\.test SIP\/2\.0\r\nVia: .*\r\nContent-Length: 6\r\n\r\nhéllo$/,
  );
  t.throws(
    () =>
      serialize({
        kind: 'response',
        status: 200,
        reason: 'OK',
        headers: [{ name: 'X', value: 'a\r\nB: c' }],
        body: Buffer.alloc(0),
      }),
    ParseError,
  );
});

t.test('stream framing: split, coalesced, keep-alives, missing/oversize Content-Length', async (t) => {
  const a = load('esc01');
  const b = load('lwsdisp');
  const f = new StreamFramer();
  const whole = Buffer.concat([Buffer.from('\r\n\r\n'), a, b]);
  const got: Buffer[] = [];
  for (let i = 0; i < whole.length; i += 7) got.push(...f.push(whole.subarray(i, i + 7)));
  t.same(
    got.map((g) => g.toString('latin1')),
    [a, b].map((x) => x.toString('latin1')),
  );
  t.equal(f.buffered, 0);
  const two = new StreamFramer().push(Buffer.concat([b, b]));
  t.equal(two.length, 2, 'two messages in one chunk');
  t.throws(
    () => new StreamFramer().push(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n')),
    /required/,
  );
  const statusOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return err instanceof ParseError ? err.status : -1;
    }
    return 0;
  };
  t.equal(
    statusOf(() => new StreamFramer({ maxBody: 10 }).push(a)),
    413,
    'oversize body: 413',
  );
  t.equal(
    statusOf(() => new StreamFramer({ maxHead: 100 }).push(Buffer.alloc(200, 0x41))),
    413,
    'oversize head: 413',
  );
});

const throwsOnlyParseError = (buf: Buffer): boolean => {
  try {
    accept(buf);
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
  }
  try {
    new StreamFramer({ maxBody: 4096 }).push(buf);
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
  }
  return true;
};

t.test('fuzz: random bytes, mutated torture messages and spliced lines throw only ParseError', async (t) => {
  const corpus = [...VALID, ...INVALID.map(([n]) => n)].map(load);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => throwsOnlyParseError(Buffer.from(bytes))),
    {
      numRuns: 3000,
    },
  );
  // Mutations of real messages: overwrite, insert and delete octets.
  const mutation = fc.record({
    base: fc.nat({ max: corpus.length - 1 }),
    edits: fc.array(
      fc.record({
        at: fc.nat(),
        op: fc.constantFrom('set', 'ins', 'del'),
        byte: fc.integer({ min: 0, max: 255 }),
      }),
      { minLength: 1, maxLength: 12 },
    ),
  });
  fc.assert(
    fc.property(mutation, ({ base, edits }) => {
      let b = Buffer.from(corpus[base]!);
      for (const e of edits) {
        const at = e.at % (b.length + 1);
        if (e.op === 'set' && at < b.length) b[at] = e.byte;
        else if (e.op === 'ins')
          b = Buffer.concat([b.subarray(0, at), Buffer.from([e.byte]), b.subarray(at)]);
        else b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
      }
      return throwsOnlyParseError(b);
    }),
    { numRuns: 5000 },
  );
  // Structured garbage: header lines built from SIP's own punctuation.
  const punct = fc.constantFrom(
    ...'<>";:,=/\\@?% \t[]'.split(''),
    'sip:',
    'SIP/2.0',
    '\r\n',
    '\r\n ',
    'z9hG4bK',
    'a',
    '1',
  );
  const value = fc.array(punct, { maxLength: 30 }).map((a) => a.join(''));
  const name = fc.constantFrom(
    'Via',
    'v',
    'To',
    'f',
    'Contact',
    'm',
    'CSeq',
    'Call-ID',
    'l',
    'Route',
    'Date',
    'Warning',
    'c',
    'X',
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(name, value), { maxLength: 12 }), value, (hs, body) => {
      const text = `MESSAGE sip:a@b.test SIP/2.0\r\n${hs.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\n\r\n${body}`;
      return throwsOnlyParseError(Buffer.from(text));
    }),
    { numRuns: 5000 },
  );
  t.pass('no exception other than ParseError');
});

t.test('parsed values are the caller’s own: mutating one does not change the next parse', async (t) => {
  const via = 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-cache;rport';
  const a = parseVia(via);
  a.params.set('received', '198.51.100.7');
  a.host = 'mutated.test';
  const b = parseVia(via);
  t.equal(b.host, '192.0.2.1');
  t.notOk(b.params.has('received'), 'a stamp on one copy does not leak into the next');
  const na = '"Alice" <sip:alice@partner.test;transport=tcp>;tag=abc';
  const n1 = parseNameAddr(na, 'From');
  n1.params.set('tag', 'changed');
  if (isSipUri(n1.uri)) n1.uri.params.delete('transport');
  const n2 = parseNameAddr(na, 'From');
  t.equal(n2.params.get('tag'), 'abc');
  t.ok(isSipUri(n2.uri) && n2.uri.params.get('transport') === 'tcp');
  t.equal(n2.display, 'Alice');
  // A bad value still fails with its own field name, every time (failures are not cached).
  t.throws(() => parseNameAddr('<sip:bad host>', 'To'), /To: whitespace inside <URI>/);
  t.throws(() => parseNameAddr('<sip:bad host>', 'Contact'), /Contact: whitespace inside <URI>/);
});

t.test('wireLength is the length serialize produces, without building it', async (t) => {
  const header = fc.record({
    name: fc.constantFrom('Via', 'From', 'To', 'Subject', 'X-Note', 'Content-Length'),
    value: fc.string({ maxLength: 60 }).filter((v) => !/[\r\n]/.test(v)),
  });
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.array(header, { maxLength: 12 }),
      fc.uint8Array({ maxLength: 2000 }),
      fc.string({ maxLength: 20 }),
      (isRequest, headers, body, text) => {
        const msg: SipMessage = isRequest
          ? {
              kind: 'request',
              method: 'MESSAGE',
              uri: `sip:${encodeURIComponent(text)}@x.test`,
              headers,
              body: Buffer.from(body),
            }
          : {
              kind: 'response',
              status: 200,
              reason: `OK ${text}`.replace(/[\r\n]/g, ''),
              headers,
              body: Buffer.from(body),
            };
        return wireLength(msg) === serialize(msg).length;
      },
    ),
    { numRuns: 500 },
  );
  // Multi-byte characters count as their UTF-8 bytes.
  const m: SipMessage = {
    kind: 'request',
    method: 'MESSAGE',
    uri: 'sip:bob@x.test',
    headers: [{ name: 'Subject', value: 'Grüße 👋' }],
    body: Buffer.from('héllo'),
  };
  t.equal(wireLength(m), serialize(m).length);
});

t.test('formatOwnVia: the remembered parse equals a parse of the text', async (t) => {
  for (const [transport, hostport] of [
    ['udp', '127.0.0.1:5060'],
    ['tcp', '[::1]:5070'],
    ['tls', 'gw.example.com'],
  ] as const) {
    const text = formatOwnVia(transport, hostport, 'z9hG4bKabc123');
    t.equal(text, `SIP/2.0/${transport.toUpperCase()} ${hostport};branch=z9hG4bKabc123;rport`);
    const viewed = viewVia(text);
    // A trailing space makes another memo key: a fresh parse of the same Via.
    t.same(viewed, parseVia(`${text} `), `${transport}: same as a fresh parse`);
    t.same(
      [...viewed.params],
      [
        ['branch', 'z9hG4bKabc123'],
        ['rport', null],
      ],
    );
  }
});

t.test('parseParams: the token fast path agrees with the general parser', async (t) => {
  const outcome = (f: () => Map<string, string | null>) => {
    try {
      return { ok: [...f()] };
    } catch (err) {
      return { error: (err as Error).message };
    }
  };
  const char = fc.constantFrom(...'aB9-.!%*_+`\'~=; "[]:\t'.split(''));
  fc.assert(
    fc.property(fc.array(char, { maxLength: 40 }), (chars) => {
      const s = `;${chars.join('')}`;
      const fast = outcome(() => parseParams(s, 'P'));
      const general = outcome(() => parseParamsGeneral(s, 'P'));
      return JSON.stringify(fast) === JSON.stringify(general);
    }),
    { numRuns: 20_000 },
  );
  t.same(
    [...parseParams(';Branch=z9hG4bK-Ab;rport;received=10.0.0.1', 'Via')],
    [
      ['branch', 'z9hG4bK-Ab'],
      ['rport', null],
      ['received', '10.0.0.1'],
    ],
  );
  t.throws(() => parseParams(';a=b=c', 'P'), /bad value for parameter a/);
  t.throws(() => parseParams(';a;;b', 'P'), /bad parameter name/);
});

// Header lines end with CRLF (RFC 3261 §7); a bare CR once stayed inside the value of a
// header the parser does not read, and serialize refused the message when it was answered.
const LINES = [
  'MESSAGE sip:alice@corp.test SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcrlf',
  'From: <sip:bob@partner.test>;tag=f1',
  'To: <sip:alice@corp.test>',
  'Call-ID: crlf-1',
  'CSeq: 1 MESSAGE',
  'Content-Type: text/plain',
  'Content-Length: 2',
];
const withLines = (lines: string[], sep = '\r\n') => Buffer.from(`${lines.join(sep)}${sep}${sep}hi`);
const refusal = (buf: Buffer): string => {
  try {
    parseMessage(buf);
  } catch (err) {
    if (err instanceof ParseError) return `${err.status} ${err.message}`;
    return `not a ParseError: ${String(err)}`;
  }
  return 'accepted';
};

t.test('a bare CR, a bare LF or a NUL in the header section is refused with its line', async (t) => {
  t.equal(refusal(withLines(LINES)), 'accepted', 'the message without them parses');
  // The fuzz find: a CR without its LF inside the CSeq line, the rest of it in the value.
  const cr = [...LINES];
  cr.splice(5, 2, 'CSeq: 1 MESSAGE\r>-Type: text/plain');
  t.equal(
    refusal(withLines(cr)),
    '400 a bare CR in line 6 of the header section (CSeq: 1 MESSAGE<CR>>-Type: text/plain); lines end with CRLF',
  );
  t.match(
    refusal(withLines([...LINES.slice(0, 7), 'X-Note: a\rb', LINES[7]!])),
    /^400 a bare CR in line 8 of the header section \(X-Note: a<CR>b\)/,
    'in a header nobody reads',
  );
  t.match(
    refusal(withLines([...LINES.slice(0, 7), 'X-Note: trailing\r\r', LINES[7]!])),
    /^400 a bare CR in line 8 /,
    'a CR before the CRLF',
  );
  t.match(
    refusal(withLines([`${LINES[0]!}\r`, ...LINES.slice(1)])),
    /^400 a bare CR in line 1 /,
    'in the start line',
  );
  t.match(
    refusal(
      withLines([...LINES.slice(0, 7), `X-Note: a\nVia: SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKx`, LINES[7]!]),
    ),
    /^400 a bare LF in line 8 of the header section \(X-Note: a<LF>Via: SIP\/2\.0\/UDP 203\.0\.113\.9;branch=z9hG4bKx\)/,
    'a bare LF does not split a header in two',
  );
  t.match(
    refusal(withLines(LINES, '\n')),
    /^400 a bare LF in line 1 /,
    'lines ending in LF only: refused at the first',
  );
  t.match(
    refusal(Buffer.from(`${LINES.join('\r\n')}\n\nhi`)),
    /^400 a bare LF in line 8 of the header section \(Content-Length: 2<LF><LF>\)/,
    'a header section ending at LF LF',
  );
  t.match(refusal(Buffer.from(`${LINES.join('\r\n')}\r\n\nhi`)), /^400 a bare LF in line 9 /, 'CRLF then LF');
  t.match(
    refusal(withLines([...LINES.slice(0, 7), 'X-Note: a\0b', LINES[7]!])),
    /^400 a NUL in line 8 of the header section \(X-Note: a<NUL>b\)/,
  );
  t.match(
    refusal(withLines([...LINES.slice(0, 7), 'X-Note: "a\\\\\0"', LINES[7]!])),
    /^400 a NUL in line 8 /,
    'an escaped backslash then a NUL: not a quoted-pair',
  );
  const pair = parseMessage(withLines([...LINES.slice(0, 7), 'X-Note: "a\\\0b"', LINES[7]!]));
  t.equal(getHeader(pair, 'X-Note'), '"a\\\0b"', 'a NUL in a quoted-pair (RFC 4475 intmeth) is kept');
});

t.test('folded headers (CRLF then SP or HT) still parse and serialize', async (t) => {
  const m = parseMessage(
    withLines([
      LINES[0]!,
      'Via: SIP/2.0/UDP 192.0.2.1:5060',
      '   ;branch=z9hG4bKfold',
      ...LINES.slice(2, 6),
      'Subject: one',
      '\ttwo',
      ' \t three',
      ...LINES.slice(6),
    ]),
  );
  t.equal(getHeader(m, 'Subject'), 'one two three');
  t.equal(topVia(m).params.get('branch'), 'z9hG4bKfold');
  validateRequest(m as Extract<SipMessage, { kind: 'request' }>);
  const again = parseMessage(serialize(m));
  t.same(again.headers, m.headers, 'round trip');
});
