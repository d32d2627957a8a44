// Presence through the SIP adapter with SIPp as the real SIP endpoint: a SIP watcher's
// SUBSCRIBE/NOTIFY (RFC 3856, PIDF + RPID) fed by enterprise presence, and a SIP user's
// PUBLISH (RFC 3903) reaching the enterprise side through the policy.
import t from 'tap';
import { buildSipAdapter } from '../../src/adapters/sip/index.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { silentLogger } from '../../src/core/logger.js';
import type { PresenceEvent } from '../../src/core/model.js';
import { Pipeline } from '../../src/core/pipeline.js';
import { compilePolicySource } from '../../src/core/policy/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { MemoryAdapter } from '../fixtures/memory-adapter.js';
import { ensureSipTools, freeUdpPort, runSipp, startSipp } from '../harness/sip.js';

const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: sip-presence, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test] }
defaults: { decision: deny }
rules:
  - id: partners-talk
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
`;

ensureSipTools();

async function setup(route: string) {
  const store = new MemoryStore();
  const audit = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(POLICY, 'sip-presence.yaml');
  const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const sip = buildSipAdapter(
    'partner-sip',
    {
      type: 'sip',
      listen: ['udp://127.0.0.1:0'],
      domains: ['partner.test'],
      route,
      peers: ['127.0.0.1/32'],
      timers: { t1: 50, t4: 100 },
    },
    { logger: silentLogger, configDir: '.' },
  );
  await corp.start(pipeline.register(corp));
  await sip.start(pipeline.register(sip));
  return {
    corp,
    sip,
    port: sip.transport.local('udp')!.port,
    stop: async () => {
      await sip.stop();
      await audit.close();
    },
  };
}

const presence = (from: string, to: string, extra: Partial<PresenceEvent>): PresenceEvent => ({
  kind: 'presence',
  id: `p-${Math.random()}`,
  time: new Date().toISOString(),
  from,
  to,
  adapter: 'corp',
  traceId: 't',
  show: 'available',
  ...extra,
});

const waitFor = async (cond: () => Promise<boolean> | boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await cond()) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
};

t.test('a SIP watcher subscribes to an enterprise user and is notified of their presence', async (t) => {
  const sippPort = await freeUdpPort();
  const env = await setup(`sip:127.0.0.1:${sippPort}`);
  t.teardown(env.stop);
  const watcher = startSipp({
    scenario: 'subscribe-uac.xml',
    port: sippPort,
    target: `127.0.0.1:${env.port}`,
    keys: { from_user: 'bob', from_domain: 'partner.test', to_user: 'alice', to_domain: 'corp.test' },
    timeoutS: 15,
  });
  t.ok(await waitFor(async () => (await env.sip.presence.count('sip:alice@corp.test')) === 1), 'subscribed');
  await new Promise((r) => setTimeout(r, 200)); // the initial NOTIFY is answered
  const out = await env.corp.submit(
    presence('xmpp:alice@corp.test', 'sip:bob@partner.test', {
      show: 'dnd',
      status: 'In a meeting <until 3>',
      activity: 'meeting',
    }),
  );
  t.match(out, { status: 'delivered' });
  const r = await watcher.done;
  t.equal(r.code, 0, r.code === 0 ? 'SIPp subscription flow completed' : r.messages.slice(-3000));
  t.match(r.messages, /SIP\/2\.0 200 OK[\s\S]*Expires: 600/);
  t.match(
    r.messages,
    /NOTIFY sip:bob@127\.0\.0\.1:\d+ SIP\/2\.0[\s\S]*Subscription-State: active;expires=600/,
  );
  t.match(r.messages, /Content-Type: application\/pidf\+xml[\s\S]*<basic>open<\/basic>/);
  t.match(r.messages, /<rpid:meeting\/>/);
  t.match(r.messages, /<note>In a meeting &lt;until 3&gt;<\/note>/);
  t.match(r.messages, /Subscription-State: terminated/);
  t.equal(await env.sip.presence.count('sip:alice@corp.test'), 0, 'unsubscribed');
});

t.test("a SIP user's PUBLISH reaches the enterprise users who share presence with them", async (t) => {
  const env = await setup(`sip:127.0.0.1:${await freeUdpPort()}`);
  t.teardown(env.stop);
  // alice (XMPP) shares presence with bob (SIP): that makes her one of bob's watchers.
  t.match(await env.corp.submit(presence('xmpp:alice@corp.test', 'sip:bob@partner.test', {})), {
    status: 'delivered',
  });
  const r = await runSipp({
    scenario: 'publish-uac.xml',
    port: await freeUdpPort(),
    target: `127.0.0.1:${env.port}`,
    keys: { from_user: 'bob', from_domain: 'partner.test', note: 'On a call' },
  });
  t.equal(r.code, 0, r.code === 0 ? 'PUBLISH answered 200' : r.messages.slice(-2000));
  t.match(r.messages, /SIP-ETag: \w+/);
  t.ok(await waitFor(() => env.corp.delivered.length === 1), 'delivered to alice');
  const e = env.corp.delivered[0]?.event;
  t.same(e?.kind === 'presence' && [e.from, e.to, e.show, e.activity, e.status], [
    'sip:bob@partner.test',
    'xmpp:alice@corp.test',
    'dnd',
    'on-the-phone',
    'On a call',
  ]);
});
