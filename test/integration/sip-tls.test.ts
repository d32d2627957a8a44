// SIP over TLS (RFC 3261 §26.2, RFC 5630) with a real TLS peer: baresip (Debian's SIPp is
// built without TLS: "To use a TLS transport you must compile SIPp with OpenSSL"). A
// self-signed certificate made with openssl serves both sides. MESSAGE both ways, a call
// from baresip, and a next hop whose certificate Parley does not trust.
import t from 'tap';
import type { CallEvent, SessionDescription } from '../../src/core/model.js';
import { message } from '../fixtures/memory-adapter.js';
import { partnerPolicy, startSipRig } from '../fixtures/sip-rig.js';
import { type BaresipHandle, startBaresip } from '../harness/baresip.js';
import { freePort } from '../harness/processes.js';
import { selfSignedCert, type TestCert } from '../harness/sip.js';

t.setTimeout(90_000);

const POLICY = partnerPolicy('sip-tls');

let cert: TestCert;
let phone: BaresipHandle;
let parleyPort: number;

t.before(async () => {
  cert = selfSignedCert(['partner.test']);
  parleyPort = await freePort();
  phone = await startBaresip({
    aor: 'bob@partner.test',
    transport: 'tls',
    outbound: `sip:127.0.0.1:${parleyPort};transport=tls`,
    certFile: cert.bothFile,
    caFile: cert.certFile,
    answermode: 'auto',
    contacts: ['sip:alice@corp.test'],
  });
});
t.teardown(async () => {
  await phone?.stop();
  cert?.remove();
});

async function setup(tls: Record<string, unknown>, listen: string[] = [], route?: string) {
  return startSipRig({
    policy: POLICY,
    sip: {
      listen: [`tls://127.0.0.1:${parleyPort}`, ...listen],
      domains: ['partner.test'],
      route: route ?? `sip:127.0.0.1:${phone.tlsPort};transport=tls`,
      timers: { t1: 100, t4: 500 },
      tls: { certFile: cert.certFile, keyFile: cert.keyFile, ...tls },
    },
  });
}

const waitFor = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
};

/**
 * baresip's trace since `mark`, once it holds `last`: the trace comes through a pipe and
 * can lag behind what Parley already handled.
 */
const traceAfter = async (mark: number, last: RegExp): Promise<string> => {
  await waitFor(() => last.test(phone.log().slice(mark)));
  return phone.log().slice(mark);
};

t.test('baresip sends a MESSAGE over TLS; delivered; 200 back on the TLS connection', async (t) => {
  const env = await setup({ caFile: cert.certFile });
  t.teardown(env.stop);
  const mark = phone.log().length;
  t.ok((await phone.command('message', 'hello over TLS')).ok);
  t.ok(await waitFor(() => env.corp.delivered.length === 1), phone.log().slice(-3000));
  const e = env.corp.delivered[0]?.event;
  t.same(e?.kind === 'message' && [e.from, e.body], ['sip:bob@partner.test', 'hello over TLS']);
  const trace = await traceAfter(mark, /MESSAGE sip:alice@corp\.test/);
  t.match(
    trace,
    new RegExp(`TLS 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${parleyPort}\\s+MESSAGE sip:alice@corp\\.test`),
  );
  const [ok] = await phone.waitLog(
    new RegExp(
      `TLS 127\\.0\\.0\\.1:${parleyPort} -> 127\\.0\\.0\\.1:\\d+\\s+SIP/2\\.0 200 OK\\s+Via: SIP/2\\.0/TLS`,
    ),
  );
  t.ok(ok, "Parley's 200 over TLS");
});

t.test(
  'Parley sends a MESSAGE to baresip over TLS (Via SIP/2.0/TLS), verifying its certificate',
  async (t) => {
    const env = await setup({ caFile: cert.certFile });
    t.teardown(env.stop);
    const mark = phone.log().length;
    const out = await env.corp.submit(
      message('xmpp:alice@corp.test', 'sip:bob@partner.test', 'hi bob over TLS'),
    );
    t.match(out, { status: 'delivered' });
    const trace = await traceAfter(mark, /MESSAGE sip:bob@partner\.test SIP\/2\.0/);
    t.match(
      trace,
      new RegExp(
        `TLS 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${phone.tlsPort}\\s+MESSAGE sip:bob@partner\\.test SIP/2\\.0\\s+Via: SIP/2\\.0/TLS 127\\.0\\.0\\.1:${parleyPort};`,
      ),
    );
    t.match(trace, /hi bob over TLS/);
  },
);

const SESSION: SessionDescription = {
  media: [
    {
      media: 'audio',
      port: 40000,
      address: '127.0.0.1',
      protocol: 'RTP/AVP',
      direction: 'sendrecv',
      codecs: [{ payloadType: 0, name: 'PCMU', clockRate: 8000 }],
    },
  ],
};

t.test('a call from the enterprise to baresip over TLS: answered, then hung up with BYE', async (t) => {
  const env = await setup({ caFile: cert.certFile });
  t.teardown(env.stop);
  const ev0 = phone.events.length;
  const base = {
    kind: 'call' as const,
    time: new Date().toISOString(),
    from: 'xmpp:alice@corp.test',
    to: 'sip:bob@partner.test',
    adapter: 'corp',
    traceId: 't',
    callId: 'tls-call-1',
  };
  t.match(await env.corp.submit({ ...base, id: 'tc-inv', action: 'invite', session: SESSION }), {
    status: 'delivered',
  });
  const calls = () => env.corp.delivered.map((d) => d.event).filter((e): e is CallEvent => e.kind === 'call');
  t.ok(await waitFor(() => calls().some((e) => e.action === 'answer')), 'baresip answered');
  await phone.waitEvent((e) => e.type === 'CALL_ESTABLISHED', ev0);
  t.match(await env.corp.submit({ ...base, id: 'tc-bye', action: 'hangup' }), { status: 'delivered' });
  await phone.waitEvent((e) => e.type === 'CALL_CLOSED', ev0);
  t.match(phone.log(), /INVITE sip:bob@partner\.test SIP\/2\.0\s+Via: SIP\/2\.0\/TLS/);
  t.equal(env.sip.calls.size, 0);
});

t.test(
  'baresip calls over TLS (Parley also on UDP): the 200 names a TLS Contact; ACK, BYE over TLS',
  async (t) => {
    // A UDP route: Parley's own requests default to UDP, yet this dialog stays on TLS.
    const env = await setup(
      { caFile: cert.certFile },
      ['udp://127.0.0.1:0'],
      `sip:127.0.0.1:${phone.sipPort}`,
    );
    t.teardown(env.stop);
    env.corp.onDeliver = (d) => {
      const e = d.event;
      if (e.kind !== 'call' || e.action !== 'invite') return;
      setTimeout(() => {
        env.corp.submit({
          kind: 'call',
          id: `${e.callId}-answer`,
          time: new Date().toISOString(),
          from: 'xmpp:alice@corp.test',
          to: e.from,
          adapter: 'corp',
          traceId: 't',
          action: 'answer',
          callId: e.callId,
          session: SESSION,
        });
      }, 50);
    };
    const ev0 = phone.events.length;
    const mark = phone.log().length;
    t.ok((await phone.command('dial', 'sip:alice@corp.test')).ok, 'ctrl_tcp dial');
    await phone.waitEvent((e) => e.type === 'CALL_ESTABLISHED', ev0);
    t.ok((await phone.command('hangup')).ok, 'ctrl_tcp hangup');
    const calls = () =>
      env.corp.delivered.map((d) => d.event).filter((e): e is CallEvent => e.kind === 'call');
    t.ok(
      await waitFor(() => calls().some((e) => e.action === 'hangup')),
      'the hangup reached the other side',
    );
    const trace = await traceAfter(mark, /BYE sip:alice@[^\r\n]*SIP\/2\.0/);
    t.match(
      trace,
      new RegExp(
        `SIP/2\\.0 200 OK[\\s\\S]*?Contact: <sip:alice@127\\.0\\.0\\.1:${parleyPort};transport=tls>`,
      ),
      "Parley's Contact is its TLS listener",
    );
    // baresip's trace line "TLS a -> b" can be cut by another thread's log line (seen:
    // "TLS 127.0.0.1:aubridge: thread start..."), so the request line and its TLS Via are
    // what is matched; "nothing over UDP" below rules the other transport out.
    for (const method of ['ACK', 'BYE']) {
      t.match(
        trace,
        new RegExp(
          `${method} sip:alice@127\\.0\\.0\\.1:${parleyPort};transport=tls SIP/2\\.0\\r?\\n\\s*Via: SIP/2\\.0/TLS `,
        ),
        `${method} over TLS, to Parley's TLS Contact`,
      );
    }
    t.notMatch(trace, /UDP 127\.0\.0\.1:\d+ -> /, 'nothing over UDP');
    t.equal(env.sip.calls.size, 0);
  },
);

t.test('a next hop whose certificate is not trusted: delivery fails, nothing sent in clear', async (t) => {
  const env = await setup({}); // Node's bundled roots only: the self-signed certificate fails
  t.teardown(env.stop);
  const out = await env.corp.submit(message('xmpp:alice@corp.test', 'sip:bob@partner.test', 'secret'));
  t.match(out, { status: 'failed', code: 'delivery' });
  t.match(env.corp.refused[0]?.refusal.reason, /self-signed certificate/);
});
