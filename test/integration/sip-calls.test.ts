// Calls through the SIP adapter with SIPp as the real SIP phone: INVITE/180/200/ACK/BYE
// with SDP <-> canonical call events, a re-INVITE refused without breaking the dialog, a
// call the policy denies, and an outbound call that Parley places and hangs up.
import t from 'tap';
import { buildSipAdapter } from '../../src/adapters/sip/index.js';
import type { Delivery } from '../../src/core/adapter.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { silentLogger } from '../../src/core/logger.js';
import type { CallEvent, SessionDescription } from '../../src/core/model.js';
import { Pipeline } from '../../src/core/pipeline.js';
import { compilePolicySource } from '../../src/core/policy/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { MemoryAdapter } from '../fixtures/memory-adapter.js';
import { ensureSipTools, freeUdpPort, runSipp, startKamailio, startSipp } from '../harness/sip.js';

const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: sip-calls, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test] }
  consumer: { domains: ["*"] }
defaults: { decision: deny }
rules:
  - id: partners-talk
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
  - id: block-rival
    match: { party: { domain: [rival.test] } }
    effect: deny
    reason: Calls with competitors are prohibited
`;

ensureSipTools();

const SESSION: SessionDescription = {
  media: [
    {
      media: 'audio',
      port: 40000,
      address: '127.0.0.1',
      protocol: 'RTP/AVP',
      direction: 'sendrecv',
      codecs: [
        { payloadType: 0, name: 'PCMU', clockRate: 8000 },
        { payloadType: 101, name: 'telephone-event', clockRate: 8000, fmtp: '0-15' },
      ],
    },
  ],
};

async function setup(route: string, listenPort = 0) {
  const store = new MemoryStore();
  const audit = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(POLICY, 'sip-calls.yaml');
  const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const sip = buildSipAdapter(
    'partner-sip',
    {
      type: 'sip',
      listen: [`udp://127.0.0.1:${listenPort}`],
      domains: ['partner.test', 'rival.test'],
      route,
      peers: ['127.0.0.1/32'],
      timers: { t1: 50, t4: 100 },
    },
    { logger: silentLogger, configDir: '.' },
  );
  await corp.start(pipeline.register(corp));
  await sip.start(pipeline.register(sip));
  return {
    store,
    corp,
    sip,
    port: sip.transport.local('udp')!.port,
    stop: async () => {
      await sip.stop();
      await audit.close();
    },
  };
}

const calls = (ds: Delivery[]) => ds.map((d) => d.event).filter((e): e is CallEvent => e.kind === 'call');
const waitFor = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
};

t.test('a SIPp caller reaches the enterprise side: rings, answered, re-INVITE 488, BYE', async (t) => {
  const env = await setup(`sip:127.0.0.1:${await freeUdpPort()}`);
  t.teardown(env.stop);
  // The far side (an XMPP user, in-process here) rings and answers every call it is given.
  env.corp.onDeliver = (d) => {
    const e = d.event;
    if (e.kind !== 'call' || e.action !== 'invite') return;
    const reply = (action: CallEvent['action'], extra: Partial<CallEvent> = {}) =>
      env.corp.submit({
        kind: 'call',
        id: `${e.callId}-${action}`,
        time: new Date().toISOString(),
        from: 'xmpp:alice@corp.test',
        to: e.from,
        adapter: 'corp',
        traceId: 't',
        action,
        callId: e.callId,
        ...extra,
      } as CallEvent);
    setTimeout(async () => {
      await reply('ringing');
      await reply('answer', { session: SESSION });
    }, 50);
  };
  const r = await runSipp({
    scenario: 'invite-uac.xml',
    port: await freeUdpPort(),
    target: `127.0.0.1:${env.port}`,
    keys: { from_user: 'bob', from_domain: 'partner.test', to_user: 'alice', to_domain: 'corp.test' },
  });
  t.equal(r.code, 0, r.code === 0 ? 'SIPp call flow completed' : r.messages.slice(-3000));
  t.match(r.messages, /SIP\/2\.0 180 Ringing/);
  t.match(
    r.messages,
    /SIP\/2\.0 200 OK[\s\S]*Content-Type: application\/sdp[\s\S]*m=audio 40000 RTP\/AVP 0 101/,
  );
  t.match(r.messages, /SIP\/2\.0 488 Not Acceptable Here/, 're-INVITE refused');
  await waitFor(() => calls(env.corp.delivered).length >= 2);
  const got = calls(env.corp.delivered);
  t.same(
    got.map((e) => e.action),
    ['invite', 'hangup'],
  );
  t.equal(got[0]!.from, 'sip:bob@partner.test');
  t.same(
    got[0]!.session?.media[0]?.codecs.map((c) => c.name),
    ['PCMU', 'PCMA', 'telephone-event'],
  );
  t.equal(got[0]!.session?.media[0]?.direction, 'sendrecv');
  t.equal(got[1]!.callId, got[0]!.callId);
  t.equal(env.sip.calls.size, 0, 'no call state left behind');
});

t.test('a call the policy denies gets 403 with the reason, and the ACK ends it', async (t) => {
  const env = await setup(`sip:127.0.0.1:${await freeUdpPort()}`);
  t.teardown(env.stop);
  const r = await runSipp({
    scenario: 'invite-uac-403.xml',
    port: await freeUdpPort(),
    target: `127.0.0.1:${env.port}`,
    keys: { from_user: 'eve', from_domain: 'rival.test', to_user: 'alice', to_domain: 'corp.test' },
  });
  t.equal(r.code, 0, r.code === 0 ? 'SIPp got 403' : r.messages.slice(-2000));
  t.match(r.messages, /SIP\/2\.0 403 Calls with competitors are prohibited/);
  t.equal(
    (r.messages.match(/SIP\/2\.0 403/g) ?? []).length,
    1,
    'the ACK stopped Timer G: no 403 retransmission',
  );
  t.equal(calls(env.corp.delivered).length, 0);
  t.ok(
    await waitFor(() => env.sip.layer.server.size === 0, 1000),
    'the INVITE server transaction ended (Timer I)',
  );
});

t.test('the enterprise side calls a SIPp phone: ringing, answer with SDP, hangup as BYE', async (t) => {
  const uasPort = await freeUdpPort();
  const uas = startSipp({ scenario: 'invite-uas.xml', port: uasPort, timeoutS: 15 });
  await new Promise((r) => setTimeout(r, 300));
  const env = await setup(`sip:127.0.0.1:${uasPort}`);
  t.teardown(env.stop);
  const base = {
    kind: 'call' as const,
    time: new Date().toISOString(),
    from: 'xmpp:alice@corp.test',
    to: 'sip:carol@partner.test',
    adapter: 'corp',
    traceId: 't',
    callId: 'jingle-session-1',
  };
  const out = await env.corp.submit({ ...base, id: 'c-inv', action: 'invite', session: SESSION });
  t.match(out, { status: 'delivered' });
  t.ok(await waitFor(() => calls(env.corp.delivered).some((e) => e.action === 'answer')), 'answered');
  const got = calls(env.corp.delivered);
  t.same(
    got.map((e) => e.action),
    ['ringing', 'answer'],
  );
  t.equal(got[1]!.from, 'sip:carol@partner.test');
  t.same(
    got[1]!.session?.media[0]?.codecs.map((c) => [c.payloadType, c.name]),
    [[8, 'PCMA']],
  );
  const bye = await env.corp.submit({ ...base, id: 'c-bye', action: 'hangup', reason: 'hangup' });
  t.match(bye, { status: 'delivered' }, 'BYE answered 200');
  const r = await uas.done;
  t.equal(r.code, 0, r.code === 0 ? 'SIPp UAS completed' : r.messages.slice(-3000));
  t.match(r.messages, /INVITE sip:carol@partner\.test SIP\/2\.0[\s\S]*m=audio 40000 RTP\/AVP 0 101/);
  t.match(r.messages, /ACK sip:callee@127\.0\.0\.1/);
  t.match(r.messages, /BYE sip:callee@127\.0\.0\.1/);
  t.equal(env.sip.calls.size, 0);
});

t.test('a busy SIP callee: 486 is ACKed by Parley and the caller is told', async (t) => {
  const uasPort = await freeUdpPort();
  const uas = startSipp({ scenario: 'invite-uas-486.xml', port: uasPort, timeoutS: 10 });
  await new Promise((r) => setTimeout(r, 300));
  const env = await setup(`sip:127.0.0.1:${uasPort}`);
  t.teardown(env.stop);
  const out = await env.corp.submit({
    kind: 'call',
    id: 'c-busy',
    time: new Date().toISOString(),
    from: 'xmpp:alice@corp.test',
    to: 'sip:carol@partner.test',
    adapter: 'corp',
    traceId: 't',
    action: 'invite',
    callId: 'busy-1',
    session: SESSION,
  });
  t.match(out, { status: 'failed', code: 'delivery', reason: '486 Busy Here' });
  const r = await uas.done;
  t.equal(r.code, 0, r.code === 0 ? 'SIPp got the ACK for its 486' : r.messages.slice(-2000));
  t.match(r.messages, /ACK sip:carol@partner\.test SIP\/2\.0[\s\S]*CSeq: 1 ACK/);
  t.equal(env.sip.calls.size, 0);
});

t.test('the caller hangs up while the SIP phone rings: CANCEL, 487, ACK', async (t) => {
  const uasPort = await freeUdpPort();
  const uas = startSipp({ scenario: 'invite-uas-cancel.xml', port: uasPort, timeoutS: 10 });
  await new Promise((r) => setTimeout(r, 300));
  const env = await setup(`sip:127.0.0.1:${uasPort}`);
  t.teardown(env.stop);
  const base = {
    kind: 'call' as const,
    time: new Date().toISOString(),
    from: 'xmpp:alice@corp.test',
    to: 'sip:carol@partner.test',
    adapter: 'corp',
    traceId: 't',
    callId: 'cancel-1',
  };
  t.match(await env.corp.submit({ ...base, id: 'x-inv', action: 'invite', session: SESSION }), {
    status: 'delivered',
  });
  t.ok(await waitFor(() => calls(env.corp.delivered).some((e) => e.action === 'ringing')), 'ringing');
  t.match(await env.corp.submit({ ...base, id: 'x-bye', action: 'hangup' }), { status: 'delivered' });
  const r = await uas.done;
  t.equal(r.code, 0, r.code === 0 ? 'SIPp saw CANCEL and the ACK for its 487' : r.messages.slice(-3000));
  t.match(r.messages, /CANCEL sip:carol@partner\.test SIP\/2\.0[\s\S]*CSeq: 1 CANCEL/);
  t.equal(env.sip.calls.size, 0);
  t.same(
    calls(env.corp.delivered).map((e) => e.action),
    ['ringing'],
    'no answer, no hangup echoed back to the caller',
  );
});

t.test('a call to an unreachable SIP next hop fails with Timer B and the caller is told', async (t) => {
  const env = await setup(`sip:127.0.0.1:${await freeUdpPort()}`);
  t.teardown(env.stop);
  const started = Date.now();
  const out = await env.corp.submit({
    kind: 'call',
    id: 'c-dead',
    time: new Date().toISOString(),
    from: 'xmpp:alice@corp.test',
    to: 'sip:carol@partner.test',
    adapter: 'corp',
    traceId: 't',
    action: 'invite',
    callId: 'dead-1',
    session: SESSION,
  });
  t.match(out, { status: 'failed', code: 'delivery' });
  t.ok(Date.now() - started >= 64 * 50 - 50, 'after 64*T1');
  t.match(env.corp.refused[0]?.refusal, { code: 'delivery', reason: /Timer B/ });
});

t.test('calls through Kamailio (stateful relay) both ways', async (t) => {
  const parleyPort = await freeUdpPort();
  const uasPort = await freeUdpPort();
  const kam = await startKamailio(parleyPort, { forwardTo: uasPort });
  t.teardown(kam.stop);
  const env = await setup(`sip:127.0.0.1:${kam.port}`, parleyPort);
  t.teardown(env.stop);
  env.corp.onDeliver = (d) => {
    const e = d.event;
    if (e.kind !== 'call' || e.action !== 'invite') return;
    setTimeout(async () => {
      for (const action of ['ringing', 'answer'] as const) {
        await env.corp.submit({
          kind: 'call',
          id: `${e.callId}-${action}`,
          time: new Date().toISOString(),
          from: 'xmpp:alice@corp.test',
          to: e.from,
          adapter: 'corp',
          traceId: 't',
          action,
          callId: e.callId,
          ...(action === 'answer' ? { session: SESSION } : {}),
        });
      }
    }, 50);
  };
  // SIPp -> Kamailio -> Parley
  const r = await runSipp({
    scenario: 'invite-uac.xml',
    port: await freeUdpPort(),
    target: `127.0.0.1:${kam.port}`,
    keys: { from_user: 'bob', from_domain: 'partner.test', to_user: 'alice', to_domain: 'corp.test' },
  });
  t.equal(
    r.code,
    0,
    r.code === 0
      ? 'SIPp call via Kamailio completed'
      : `${r.messages.slice(-3000)}\n${kam.log().slice(-2000)}`,
  );
  t.ok(await waitFor(() => calls(env.corp.delivered).length >= 2));
  t.same(
    calls(env.corp.delivered).map((e) => e.action),
    ['invite', 'hangup'],
  );
  // Parley -> Kamailio -> SIPp
  env.corp.onDeliver = null;
  env.corp.delivered.length = 0;
  const uas = startSipp({ scenario: 'invite-uas.xml', port: uasPort, timeoutS: 15 });
  await new Promise((r) => setTimeout(r, 300));
  const base = {
    kind: 'call' as const,
    time: new Date().toISOString(),
    from: 'xmpp:alice@corp.test',
    to: 'sip:carol@partner.test',
    adapter: 'corp',
    traceId: 't',
    callId: 'via-kamailio-1',
  };
  t.match(await env.corp.submit({ ...base, id: 'k-inv', action: 'invite', session: SESSION }), {
    status: 'delivered',
  });
  t.ok(
    await waitFor(() => calls(env.corp.delivered).some((e) => e.action === 'answer')),
    'answered via Kamailio',
  );
  t.match(await env.corp.submit({ ...base, id: 'k-bye', action: 'hangup' }), { status: 'delivered' });
  const u = await uas.done;
  t.equal(
    u.code,
    0,
    u.code === 0
      ? 'SIPp UAS behind Kamailio completed'
      : `${u.messages.slice(-3000)}\n${kam.log().slice(-2000)}`,
  );
  t.match(kam.log(), /KAMAILIO-GOT INVITE from=sip:alice@corp\.test to=sip:carol@partner\.test/);
  t.match(kam.log(), /KAMAILIO-GOT BYE/);
});
