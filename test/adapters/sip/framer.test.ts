// StreamFramer (SIP over TCP/TLS, RFC 3261 §18.3): the same messages however the stream is
// split, and work linear in the bytes received (issue 15: a body sent in small segments
// was re-joined and re-scanned per chunk).
import fc from 'fast-check';
import t from 'tap';
import { ParseError, StreamFramer } from '../../../src/adapters/sip/message.js';

const msg = (body: string, opts: { lf?: boolean; compact?: boolean } = {}) => {
  const eol = opts.lf ? '\n' : '\r\n';
  const lines = [
    'MESSAGE sip:alice@corp.test SIP/2.0',
    'Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK1',
    'From: <sip:bob@partner.test>;tag=1',
    'To: <sip:alice@corp.test>',
    'Call-ID: x',
    'CSeq: 1 MESSAGE',
    `${opts.compact ? 'l' : 'Content-Length'}: ${Buffer.byteLength(body)}`,
  ];
  return Buffer.from(`${lines.join(eol)}${eol}${eol}${body}`);
};

/** Push the pieces; the messages framed, as strings. */
const frame = (pieces: Buffer[], f = new StreamFramer()) => {
  const out: string[] = [];
  for (const p of pieces) for (const m of f.push(p)) out.push(m.toString('latin1'));
  return { out, f };
};

const A = msg('hello\r\n\r\nwith blank lines\n\n inside');
const B = msg('', { lf: true });
const C = msg('ünïcode ✓', { compact: true });
const STREAM = Buffer.concat([
  Buffer.from('\r\n\r\n'),
  A,
  Buffer.from('\r\n'),
  B,
  C,
  Buffer.from('\r\n\r\n'),
]);
const EXPECTED = [A, B, C].map((m) => m.toString('latin1'));

t.test('split at every byte position: the same messages', async (t) => {
  let bad = 0;
  for (let i = 0; i <= STREAM.length; i++) {
    const { out, f } = frame([STREAM.subarray(0, i), STREAM.subarray(i)]);
    if (JSON.stringify(out) !== JSON.stringify(EXPECTED) || f.buffered !== 0) {
      bad++;
      t.same(out, EXPECTED, `split at ${i}`);
    }
  }
  t.equal(bad, 0, `${STREAM.length + 1} splits frame the same three messages`);
  const bytes = [...STREAM].map((b) => Buffer.from([b]));
  t.same(frame(bytes).out, EXPECTED, 'one byte at a time');
});

t.test('several messages in one chunk, and one left incomplete', async (t) => {
  const { out, f } = frame([Buffer.concat([A, B, C, A.subarray(0, 50)])]);
  t.same(out, EXPECTED, 'three messages from one chunk');
  t.equal(f.buffered, 50, 'the start of the fourth waits');
  t.same(frame([A.subarray(50)], f).out, [A.toString('latin1')], 'and completes with its rest');
  t.equal(f.buffered, 0);
});

t.test('a header end split across chunks in every way (CRLF CRLF and LF LF)', async (t) => {
  for (const m of [A, B]) {
    const end = m.indexOf(m === B ? '\n\n' : '\r\n\r\n');
    for (let i = end - 2; i <= end + 4; i++)
      for (let j = i; j <= end + 4; j++) {
        const { out } = frame([m.subarray(0, i), m.subarray(i, j), m.subarray(j)]);
        t.same(out, [m.toString('latin1')], `pieces ${i}/${j}`);
      }
  }
});

t.test('property: any split of any sequence of messages frames as the whole does', async () => {
  const pool = [A, B, C, msg('x'.repeat(3000))];
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 40 }),
      (picks, sizes) => {
        const whole = Buffer.concat(picks.map((i) => pool[i]!));
        const pieces: Buffer[] = [];
        let at = 0;
        for (let k = 0; at < whole.length; k++) {
          const n = sizes[k % sizes.length]!;
          pieces.push(whole.subarray(at, at + n));
          at += n;
        }
        const got = frame(pieces).out;
        return JSON.stringify(got) === JSON.stringify(picks.map((i) => pool[i]!.toString('latin1')));
      },
    ),
    { numRuns: 300 },
  );
});

/**
 * Bytes copied through Buffer.concat / Buffer.from / Buffer#copy while `fn` runs: what a
 * framer that re-joins its buffer per chunk pays quadratically, whatever its counters say.
 */
function copiedDuring(fn: () => void): number {
  let copied = 0;
  const concat = Buffer.concat;
  const from = Buffer.from;
  const copy = Buffer.prototype.copy;
  Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
    const r = concat(list, total);
    copied += r.length;
    return r;
  }) as typeof Buffer.concat;
  Buffer.from = ((...args: Parameters<typeof from>) => {
    const r = (from as (...a: unknown[]) => Buffer)(...args);
    copied += r.length;
    return r;
  }) as typeof Buffer.from;
  Buffer.prototype.copy = function (this: Buffer, ...args: Parameters<typeof copy>) {
    const n = copy.apply(this, args);
    copied += n;
    return n;
  };
  try {
    fn();
  } finally {
    Buffer.concat = concat;
    Buffer.from = from;
    Buffer.prototype.copy = copy;
  }
  return copied;
}

t.test('linear work: 1 MiB in 100-byte pieces costs what one write does', async (t) => {
  const big = msg('y'.repeat(1024 * 1024));
  const pieces: Buffer[] = [];
  for (let i = 0; i < big.length; i += 100) pieces.push(big.subarray(i, i + 100));
  const whole = new StreamFramer({ maxBody: 2 * 1024 * 1024 });
  const split = new StreamFramer({ maxBody: 2 * 1024 * 1024 });
  let n = 0;
  const copiedWhole = copiedDuring(() => {
    n += whole.push(big).length;
  });
  const copiedSplit = copiedDuring(() => {
    for (const p of pieces) n += split.push(p).length;
  });
  t.equal(n, 2, 'both framed the message');
  const head = big.indexOf('\r\n\r\n');
  t.ok(copiedSplit <= big.length + head, `split: ${copiedSplit} bytes copied for ${big.length}`);
  t.equal(copiedSplit, copiedWhole, 'as many bytes copied as for one write');
  t.same(split.work, whole.work, 'the same work counted');
  t.ok(split.work.scanned <= head + 4, `only the header section is searched (${split.work.scanned} bytes)`);
  t.equal(split.work.copied, big.length + head, 'the message copied once, its header section once more');
});

t.test('linear work: a 60 KB header section one byte at a time', async (t) => {
  const filler = Array.from({ length: 900 }, (_, i) => `X-Filler-${i}: ${'z'.repeat(50)}`).join('\r\n');
  const m = Buffer.from(
    `OPTIONS sip:a@corp.test SIP/2.0\r\n${filler}\r\nContent-Length: 0\r\n\r\n` +
      `OPTIONS sip:b@corp.test SIP/2.0\nContent-Length: 0\n\n`,
  );
  const f = new StreamFramer();
  let got = 0;
  const copied = copiedDuring(() => {
    for (let i = 0; i < m.length; i++) got += f.push(m.subarray(i, i + 1)).length;
  });
  t.equal(got, 2);
  t.ok(f.work.scanned <= m.length, `each byte searched once (${f.work.scanned} of ${m.length})`);
  t.ok(copied <= 2 * m.length, `copied ${copied} bytes for ${m.length}`);
});

t.test('limits: header section and body', async (t) => {
  const statusOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return err instanceof ParseError ? `${err.status} ${err.message}` : String(err);
    }
    return 'none';
  };
  t.match(
    statusOf(() => new StreamFramer({ maxBody: 10 }).push(A)),
    /^413 body is too large \(Content-Length \d+ > 10 bytes\)/,
  );
  const f = new StreamFramer({ maxHead: 100 });
  t.equal(
    statusOf(() => f.push(Buffer.alloc(60, 0x41))),
    'none',
    '60 bytes without an end: waits',
  );
  t.match(
    statusOf(() => f.push(Buffer.alloc(60, 0x41))),
    /^413 header section is too large/,
    '120: refused',
  );
  t.match(
    statusOf(() => new StreamFramer().push(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\n\r\n'))),
    /required/,
  );
  t.match(
    statusOf(() =>
      new StreamFramer().push(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1x\r\n\r\n')),
    ),
    /bad Content-Length/,
  );
});
