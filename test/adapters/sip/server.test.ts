// The SIP adapter's server side over a real UDP socket, with the real pipeline: server
// transactions (retransmissions, Timer J), CANCEL of a ringing call, methods it refuses.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { buildSipAdapter } from '../../../src/adapters/sip/index.js';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { CallEvent } from '../../../src/core/model.js';
import { Pipeline } from '../../../src/core/pipeline.js';
import { compilePolicySource } from '../../../src/core/policy/index.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { MemoryAdapter } from '../../fixtures/memory-adapter.js';

const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: t, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test] }
defaults: { decision: deny }
rules:
  - id: ok
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
`;

const T1 = 10;

async function setup() {
  const store = new MemoryStore();
  const audit = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(POLICY, 't.yaml');
  const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const sip = buildSipAdapter(
    'sip',
    {
      type: 'sip',
      listen: ['udp://127.0.0.1:0'],
      domains: ['partner.test'],
      route: 'sip:127.0.0.1:9',
      peers: ['127.0.0.1/32'],
      timers: { t1: T1, t4: 50 },
    },
    { logger: silentLogger, configDir: '.' },
  );
  await corp.start(pipeline.register(corp));
  await sip.start(pipeline.register(sip));
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.toString()));
  const port = sip.transport.local('udp')!.port;
  const send = (text: string) => sock.send(Buffer.from(text.replace(/\n/g, '\r\n')), port, '127.0.0.1');
  return {
    corp,
    sip,
    got,
    send,
    me: sock.address().port,
    stop: async () => {
      sock.close();
      await sip.stop();
      await audit.close();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until `cond` holds (at most 10 s, for a loaded machine); the assertion follows. */
async function until(cond: () => boolean): Promise<void> {
  for (let waited = 0; !cond() && waited < 10_000; waited += 10) await sleep(10);
}

const req = (me: number, method: string, branch: string, extra = '', body = '', cseqMethod = method) =>
  `${method} sip:alice@corp.test SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:${me};branch=${branch};rport
From: <sip:bob@partner.test>;tag=f1
To: <sip:alice@corp.test>
Call-ID: ${branch}-call
CSeq: 1 ${cseqMethod}
Max-Forwards: 70
${extra}Content-Length: ${Buffer.byteLength(body.replace(/\n/g, '\r\n'))}

${body}`;

t.test(
  'non-INVITE server transaction: a retransmission gets the same response; Timer J ends it',
  async (t) => {
    const env = await setup();
    t.teardown(env.stop);
    const options = req(env.me, 'OPTIONS', 'z9hG4bKopt1');
    env.send(options);
    await until(() => env.got.filter((m) => m.startsWith('SIP/2.0 200 OK')).length >= 1);
    env.send(options);
    await until(() => env.got.filter((m) => m.startsWith('SIP/2.0 200 OK')).length >= 2);
    const oks = env.got.filter((m) => m.startsWith('SIP/2.0 200 OK'));
    t.equal(oks.length, 2);
    t.equal(oks[0], oks[1], 'byte-identical retransmitted response');
    t.match(oks[0], /Allow: INVITE, ACK, CANCEL, BYE, MESSAGE, OPTIONS/);
    t.equal(env.sip.layer.server.size, 0, 'the transaction object is done');
    t.equal(env.sip.layer.lingering().server, 1, 'its response is kept for Timer J');
    await sleep(64 * T1);
    await until(() => env.sip.layer.lingering().server === 0);
    t.equal(env.sip.layer.lingering().server, 0, 'Timer J removed it');
    env.send(options);
    await until(() => env.got.filter((m) => m.startsWith('SIP/2.0 200 OK')).length >= 3);
    t.equal(
      env.got.filter((m) => m.startsWith('SIP/2.0 200 OK')).length,
      3,
      'after Timer J the same request is a new transaction (answered again)',
    );
  },
);

t.test('CANCEL of a ringing call: 200 to the CANCEL, 487 to the INVITE, hangup to the callee', async (t) => {
  const env = await setup();
  t.teardown(env.stop);
  const sdp = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n';
  env.send(
    req(
      env.me,
      'INVITE',
      'z9hG4bKinv1',
      'Contact: <sip:bob@127.0.0.1>\nContent-Type: application/sdp\n',
      sdp,
    ),
  );
  await until(() => env.got.some((m) => m.startsWith('SIP/2.0 100 Trying')) && env.corp.delivered.length > 0);
  t.ok(
    env.got.some((m) => m.startsWith('SIP/2.0 100 Trying')),
    '100 Trying',
  );
  const invite = env.corp.delivered.map((d) => d.event).find((e): e is CallEvent => e.kind === 'call');
  t.equal(invite?.action, 'invite');
  env.send(req(env.me, 'CANCEL', 'z9hG4bKinv1'));
  await until(
    () =>
      env.got.some((m) => m.startsWith('SIP/2.0 487')) &&
      env.got.some((m) => /^SIP\/2\.0 200 OK[\s\S]*CSeq: 1 CANCEL/.test(m)) &&
      env.corp.delivered.length >= 2,
  );
  t.ok(
    env.got.some((m) => /^SIP\/2\.0 200 OK[\s\S]*CSeq: 1 CANCEL/.test(m)),
    '200 for the CANCEL',
  );
  const terminated = env.got.filter((m) => m.startsWith('SIP/2.0 487 Request Terminated'));
  t.ok(terminated.length >= 1, '487 for the INVITE');
  const toTag = /To: <sip:alice@corp\.test>;tag=(\w+)/.exec(terminated[0]!)?.[1];
  t.ok(toTag, 'the 487 carries the dialog To tag');
  const calls = env.corp.delivered.map((d) => d.event).filter((e): e is CallEvent => e.kind === 'call');
  t.same(
    calls.map((c) => [c.action, c.reason]),
    [
      ['invite', undefined],
      ['hangup', 'cancelled'],
    ],
  );
  // The ACK for the 487 (same branch) stops Timer G.
  env.send(
    req(env.me, 'ACK', 'z9hG4bKinv1').replace(
      'To: <sip:alice@corp.test>',
      `To: <sip:alice@corp.test>;tag=${toTag}`,
    ),
  );
  await sleep(30);
  const before = env.got.filter((m) => m.startsWith('SIP/2.0 487')).length;
  await sleep(200);
  t.equal(
    env.got.filter((m) => m.startsWith('SIP/2.0 487')).length,
    before,
    'no 487 retransmission after the ACK',
  );
  t.equal(env.sip.calls.size, 0);
});

t.test(
  'requests Parley does not take: 501, 489, 481, 488, 400 for a branch without the cookie',
  async (t) => {
    const env = await setup();
    t.teardown(env.stop);
    env.send(req(env.me, 'REFER', 'z9hG4bKref1', 'Refer-To: <sip:x@corp.test>\n'));
    env.send(req(env.me, 'SUBSCRIBE', 'z9hG4bKsub1', 'Event: dialog\nContact: <sip:bob@127.0.0.1>\n'));
    env.send(req(env.me, 'BYE', 'z9hG4bKbye1'));
    env.send(req(env.me, 'INVITE', 'z9hG4bKnosdp', 'Contact: <sip:bob@127.0.0.1>\n'));
    env.send(req(env.me, 'MESSAGE', 'z9hG4bKhtml', 'Content-Type: text/html\n', '<b>x</b>'));
    const torture = join(dirname(fileURLToPath(import.meta.url)), 'torture', 'badbranch.dat');
    env.send(
      readFileSync(torture, 'utf8')
        .replace(/\r\n/g, '\n')
        .replace('Via: SIP/2.0/UDP 192.0.2.1;', `Via: SIP/2.0/UDP 127.0.0.1:${env.me};rport;`),
    );
    await until(() => env.got.length >= 6);
    const lines = env.got.map((m) => m.split('\r\n')[0]);
    t.ok(lines.includes('SIP/2.0 501 Not Implemented'), 'REFER: 501');
    t.ok(lines.includes('SIP/2.0 489 Bad Event'), 'SUBSCRIBE to an event package other than presence: 489');
    t.ok(lines.includes('SIP/2.0 481 Call/Transaction Does Not Exist'), 'BYE outside a dialog: 481');
    t.ok(lines.includes('SIP/2.0 488 an SDP offer in the INVITE is required'), 'offerless INVITE: 488');
    t.ok(lines.includes('SIP/2.0 415 Unsupported Media Type'), 'text/html MESSAGE: 415');
    t.ok(
      lines.includes('SIP/2.0 400 the top Via has no RFC 3261 branch (z9hG4bK...)'),
      'RFC 4475 badbranch: 400',
    );
    t.equal(env.corp.delivered.length, 0);
  },
);
