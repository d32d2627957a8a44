// Header lines end with CRLF (RFC 3261 §7), over real sockets to a running SIP adapter: a
// request with a bare CR or bare LF in its header section gets a 400 naming the line (and
// a log line), and the same peer's next valid MESSAGE still goes through. Over TCP the
// connection stays open and in step: the refused message is framed by its Content-Length.
import dgram from 'node:dgram';
import net from 'node:net';
import t from 'tap';
import { recordingLogger } from '../../fixtures/recording-logger.js';
import { partnerPolicy, startSipRig } from '../../fixtures/sip-rig.js';

async function setup() {
  const { logger, lines } = recordingLogger();
  const rig = await startSipRig({
    policy: partnerPolicy('line-ends'),
    logger,
    sip: {
      listen: ['udp://127.0.0.1:0', 'tcp://127.0.0.1:0'],
      domains: ['partner.test'],
      route: 'sip:127.0.0.1:9',
      timers: { t1: 10, t4: 50 },
    },
  });
  return { ...rig, lines };
}

/** Wait (polling) until `ok()` holds; the test's own timeout bounds it. */
async function until(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setTimeout(r, 10));
}

/** A MESSAGE from bob to alice; `extra` header lines go before Content-Length. */
const message = (transport: string, port: number, n: number, text: string, extra: string[] = []) =>
  Buffer.from(
    [
      'MESSAGE sip:alice@corp.test SIP/2.0',
      `Via: SIP/2.0/${transport} 127.0.0.1:${port};branch=z9hG4bKle${transport}${n};rport`,
      'Max-Forwards: 70',
      `From: <sip:bob@partner.test>;tag=le${n}`,
      'To: <sip:alice@corp.test>',
      `Call-ID: line-ends-${transport}-${n}`,
      `CSeq: ${n} MESSAGE`,
      'Content-Type: text/plain',
      ...extra,
      `Content-Length: ${Buffer.byteLength(text)}`,
      '',
      text,
    ].join('\r\n'),
  );

const delivered = (rig: Awaited<ReturnType<typeof setup>>, text: string) =>
  rig.corp.delivered.some((d) => JSON.stringify(d.event).includes(text));

t.test(
  'UDP: a bare CR or bare LF in a header gets a 400 naming the line; the next MESSAGE works',
  async (t) => {
    const rig = await setup();
    t.teardown(rig.stop);
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    t.teardown(() => sock.close());
    const got: string[] = [];
    sock.on('message', (m) => got.push(m.toString()));
    const me = sock.address().port;
    const port = rig.sip.transport.local('udp')!.port;
    const send = (b: Buffer) => sock.send(b, port, '127.0.0.1');

    // The fuzz find's shape: the CR of a header line without its LF, in a header Parley does
    // not read (before, it was accepted and the answer could not be serialised).
    send(message('UDP', me, 1, 'bad cr', ['X-Note: one\r>-Type: text/plain']));
    await until(() => got.some((m) => /CSeq: 1 MESSAGE/.test(m)));
    const cr = got.find((m) => /CSeq: 1 MESSAGE/.test(m))!;
    t.match(
      cr,
      /^SIP\/2\.0 400 a bare CR in line 9 of the header section \(X-Note: one<CR>>-Type: text\/plain\); lines end with CRLF\r\n/,
    );
    t.match(cr, /\r\nCall-ID: line-ends-UDP-1\r\n/, 'the 400 is for that request');
    t.match(
      rig.lines.find((l) => l.msg === 'unparsable SIP message'),
      { level: 'warn', fields: { reason: /^a bare CR in line 9 / } },
      'a log line with the reason',
    );
    t.notOk(delivered(rig, 'bad cr'), 'not delivered');

    // A bare LF: another stack would read two headers where we would have read one.
    send(message('UDP', me, 2, 'bad lf', ['X-Note: two\nRoute: <sip:203.0.113.9;lr>']));
    await until(() => got.some((m) => /CSeq: 2 MESSAGE/.test(m)));
    t.match(
      got.find((m) => /CSeq: 2 MESSAGE/.test(m)),
      /^SIP\/2\.0 400 a bare LF in line 9 of the header section \(X-Note: two<LF>Route: <sip:203\.0\.113\.9;lr>\)/,
    );
    t.notOk(delivered(rig, 'bad lf'), 'not delivered');

    // A bare CR in a header a 400 copies (the fuzz find: `CSeq: 1\r MESSAGE`): no answer
    // can be built from it, so none is sent; the refusal is logged, nothing fails.
    send(
      Buffer.from(
        message('UDP', me, 4, 'bad cseq').toString().replace('CSeq: 4 MESSAGE', 'CSeq: 4\r MESSAGE'),
      ),
    );
    const cseqLine = () => rig.lines.find((l) => /^a bare CR in line 7 /.test(String(l.fields.reason)));
    await until(() => cseqLine() !== undefined);
    t.match(cseqLine(), {
      level: 'warn',
      msg: 'unparsable SIP message',
      fields: { reason: /\(CSeq: 4<CR> MESSAGE\)/ },
    });

    send(message('UDP', me, 3, 'good after bad'));
    await until(() => got.some((m) => /CSeq: 3 MESSAGE/.test(m)));
    t.match(
      got.find((m) => /CSeq: 3 MESSAGE/.test(m)),
      /^SIP\/2\.0 2\d\d /,
      'the valid MESSAGE is answered 2xx',
    );
    await until(() => delivered(rig, 'good after bad'));
    t.pass('and delivered to alice');
    t.notOk(delivered(rig, 'bad cseq'), 'the one with the bad CSeq is not delivered');
    t.notOk(
      got.some((m) => /CSeq: 4/.test(m)),
      'nor answered',
    );
    t.notOk(
      rig.lines.some((l) => l.level === 'error'),
      'no handler failed',
    );
  },
);

t.test('TCP: the refused message gets its 400 on the connection, which stays open and in step', async (t) => {
  const rig = await setup();
  t.teardown(rig.stop);
  const port = rig.sip.transport.local('tcp')!.port;
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  t.teardown(() => sock.destroy());
  let data = '';
  let closed = false;
  sock.on('data', (d) => {
    data += d.toString();
  });
  sock.on('close', () => {
    closed = true;
  });
  const me = sock.localPort!;
  // Both in one write: the framer must hand over the good one after the bad one.
  sock.write(
    Buffer.concat([
      message('TCP', me, 1, 'bad cr', ['X-Note: one\rtwo']),
      message('TCP', me, 2, 'good after bad'),
    ]),
  );
  await until(() => /CSeq: 1 MESSAGE/.test(data) && /CSeq: 2 MESSAGE/.test(data));
  t.match(
    data,
    /SIP\/2\.0 400 a bare CR in line 9 of the header section \(X-Note: one<CR>two\); lines end with CRLF\r\n/,
  );
  t.match(
    data,
    /SIP\/2\.0 2\d\d [^\r]*\r\n(?:[^\r]+\r\n)*CSeq: 2 MESSAGE\r\n/,
    'the next MESSAGE is answered 2xx',
  );
  await until(() => delivered(rig, 'good after bad'));
  t.notOk(delivered(rig, 'bad cr'), 'the bad one is not delivered');
  t.notOk(closed, 'the connection is still open');
  t.match(
    rig.lines.find((l) => l.msg === 'unparsable SIP message'),
    { level: 'warn', fields: { reason: /^a bare CR in line 9 / } },
  );
});
