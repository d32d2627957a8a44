// The federation world: ONE Parley gateway started by startGateway from a real config file,
// with a real Redis as its store and three real networks behind it:
//   xmpp   corp.test     a private Prosody (component gw.corp.test), user alice (@xmpp/client)
//   matrix hs.test       a private Synapse (Parley as its appservice), user carol (matrix-js-sdk)
//   sip    partner.test  a private Kamailio as the partner's proxy; bob is SIPp (UAC scenarios
//                        sent to Kamailio, UAS scenarios on the "phone" port Kamailio relays to)
// Every server starts once per test file; the harness modules start and stop them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { SipAdapter } from '../../src/adapters/sip/index.js';
import { matrixCommand } from '../../src/cli/matrix.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/core/logger.js';
import { type Gateway, startGateway } from '../../src/gateway.js';
import { type ProsodyHandle, startProsody } from '../harness/prosody.js';
import { freePort, type RedisHandle, startRedis } from '../harness/redis.js';
import {
  ensureSipTools,
  freeUdpPort,
  type KamailioHandle,
  runSipp,
  type SippHandle,
  type SippResult,
  startKamailio,
  startSipp,
} from '../harness/sip.js';
import { type SynapseHandle, startSynapse } from '../harness/synapse.js';
import { TestUser as MatrixUser, until } from './matrix-users.js';
import { login, type TestUser as XmppUser, xmlParse } from './xmpp-setup.js';

export type { MatrixUser, XmppUser };
export { until, xmlParse };

export const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: federation-it, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test] }
  consumer: { domains: [hs.test] }
defaults: { decision: deny }
rules:
  - id: enterprise-partner
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
  - id: enterprise-consumer
    match: { between: [{ zone: enterprise }, { zone: consumer }] }
    effect: allow
  - id: partner-consumer
    match: { between: [{ zone: partner }, { zone: consumer }] }
    effect: allow
  - id: no-top-secrets
    match: { kind: [message], content: { pattern: 'top secret' } }
    effect: deny
    reason: Top secrets stay inside the company
`;

export const DENY_REASON = 'Top secrets stay inside the company';
const XMPP_SECRET = 'federation-component-secret';

/** How each user appears on the other networks (DESIGN's default ghost mapping). */
export const GHOSTS = {
  /** On XMPP (alice's side). */
  xmpp: { carol: 'carol%hs.test@gw.corp.test', bob: 'bob%partner.test@gw.corp.test' },
  /** On Matrix (carol's side). */
  matrix: { alice: '@_parley_alice=40corp.test:hs.test', bob: '@_parley_bob=40partner.test:hs.test' },
} as const;

export interface Federation {
  dir: string;
  redis: RedisHandle;
  prosody: ProsodyHandle;
  synapse: SynapseHandle;
  kamailio: KamailioHandle;
  gw: Gateway;
  sip: SipAdapter;
  /** Where Kamailio relays what Parley sends to partner.test: SIPp UAS scenarios bind it. */
  phonePort: number;
  alice: XmppUser;
  carol: MatrixUser;
  /** carol's direct rooms with the ghosts of alice and bob. */
  rooms: { alice: string; bob: string };
  /** A SIPp UAS on the phone port (bob's phone), bound and ready. */
  phone(scenario: string, timeoutS?: number): Promise<SippHandle>;
  /** A SIPp UAC (bob) sending through Kamailio. */
  bob(scenario: string, keys: Record<string, string>): Promise<SippResult>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function configText(o: {
  redis: string;
  prosodyComponent: string;
  hsPort: number;
  asPort: number;
  sipPort: number;
  kamPort: number;
}): string {
  return `store: { redis: "${o.redis}/0" }
http: { listen: "127.0.0.1:0" }
log: { level: silent }
policy: { file: policy.yaml, watch: false }
audit: { content: full, failClosed: true }
adapters:
  corp:
    type: xmpp
    service: "${o.prosodyComponent}"
    component: gw.corp.test
    secret: "${XMPP_SECRET}"
    domains: [corp.test]
    reconnect: { initialDelayMs: 100, maxDelayMs: 1000 }
  consumer-matrix:
    type: matrix
    homeserver: "http://127.0.0.1:${o.hsPort}"
    serverName: hs.test
    registration: matrix-registration.yaml
    listen: "127.0.0.1:${o.asPort}"
    domains: [hs.test]
    requestTimeoutMs: 5000
  partner-sip:
    type: sip
    listen: ["udp://127.0.0.1:${o.sipPort}"]
    domains: [partner.test]
    route: "sip:127.0.0.1:${o.kamPort}"
    peers: ["127.0.0.1/32"]
    timers: { t1: 50, t4: 100 }
`;
}

/** Subscribe alice to a ghost and approve its subscription back (XEP-0100 style handshake). */
async function rosterHandshake(alice: XmppUser, ghost: string): Promise<void> {
  const from = alice.received.length;
  const isPres = (type: string) => (el: { name: string; attrs: Record<string, string | undefined> }) =>
    el.name === 'presence' && el.attrs.type === type && el.attrs.from?.split('/')[0] === ghost;
  await alice.send(xmlParse(`<presence to="${ghost}" type="subscribe"/>`));
  await xmppWait(alice, isPres('subscribed'), from, 10_000, `subscribed from ${ghost}`);
  await xmppWait(alice, isPres('subscribe'), from, 10_000, `subscribe from ${ghost}`);
  await alice.send(xmlParse(`<presence to="${ghost}" type="subscribed"/>`));
}

type Stanza = XmppUser['received'][number];

/** The first stanza at or after index `from` matching `pred` (polling; never moves a cursor). */
export async function xmppWait(
  user: XmppUser,
  pred: (el: Stanza) => boolean,
  from: number,
  ms = 10_000,
  what = 'a matching stanza',
): Promise<Stanza> {
  const deadline = Date.now() + ms;
  for (;;) {
    for (let i = from; i < user.received.length; i++) {
      const el = user.received[i] as Stanza;
      if (pred(el)) return el;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${user.jid}: no ${what} within ${ms} ms; got:\n${user.received
          .slice(from)
          .map((e) => e.toString())
          .join('\n')
          .slice(-3000)}`,
      );
    }
    await sleep(20);
  }
}

/** carol opens a direct room with a ghost and waits until the ghost has joined. */
async function dmWith(carol: MatrixUser, ghost: string): Promise<string> {
  const res = await carol.client.createRoom({ invite: [ghost], is_direct: true });
  await carol.waitFor(
    (s) =>
      s.roomId === res.room_id &&
      s.type === 'm.room.member' &&
      s.state_key === ghost &&
      s.content.membership === 'join',
    `${ghost} joining`,
  );
  return res.room_id;
}

export async function startFederation(): Promise<Federation> {
  ensureSipTools();
  const dir = mkdtempSync(join(tmpdir(), 'parley-federation-'));
  const [sipPort, phonePort, hsPort, asPort] = [
    await freeUdpPort(),
    await freeUdpPort(),
    await freePort(),
    await freePort(),
  ];
  const [redis, prosody, kamailio] = await Promise.all([
    startRedis(),
    startProsody({
      hosts: [{ domain: 'corp.test', users: { alice: 'pw-alice' } }],
      components: [{ domain: 'gw.corp.test', secret: XMPP_SECRET }],
    }),
    startKamailio(sipPort, { forwardTo: phonePort }),
  ]);
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  writeFileSync(
    join(dir, 'parley.yaml'),
    configText({
      redis: redis.url,
      prosodyComponent: prosody.componentService,
      hsPort,
      asPort,
      sipPort,
      kamPort: kamailio.port,
    }),
  );
  // `parley matrix registration` writes the appservice registration Synapse loads.
  let out = '';
  const code = await matrixCommand(
    ['registration', '-c', 'parley.yaml'],
    { stdout: (s) => (out += s), stderr: (s) => (out += s), cwd: dir, env: {} },
    (file) => loadConfig(resolve(dir, file ?? 'parley.yaml'), {}),
  );
  if (code !== 0) throw new Error(`parley matrix registration failed: ${out}`);
  const synapse = await startSynapse({ appservices: [join(dir, 'matrix-registration.yaml')], port: hsPort });

  const gw = await startGateway(loadConfig(join(dir, 'parley.yaml'), {}), { logger: silentLogger });
  const sip = gw.adapters.find((a) => a.network === 'sip') as SipAdapter;
  await until(async () => {
    const res = await fetch(`${gw.url}/readyz`);
    return res.status === 200;
  }, 'the gateway ready (all three links up)');

  const [alice, carol] = await Promise.all([
    login(prosody.c2sService, 'corp.test', 'alice', 'pw-alice'),
    MatrixUser.create(synapse, 'carol'),
  ]);
  // alice answers Jingle requests as XEP-0166 requires.
  alice.client.iqCallee.set('urn:xmpp:jingle:1', 'jingle', () => true);
  const [roomAlice, roomBob] = await Promise.all([
    dmWith(carol, GHOSTS.matrix.alice),
    dmWith(carol, GHOSTS.matrix.bob),
  ]);
  await rosterHandshake(alice, GHOSTS.xmpp.carol);
  await rosterHandshake(alice, GHOSTS.xmpp.bob);

  return {
    dir,
    redis,
    prosody,
    synapse,
    kamailio,
    gw,
    sip,
    phonePort,
    alice,
    carol,
    rooms: { alice: roomAlice, bob: roomBob },
    phone: async (scenario, timeoutS = 15) => {
      const h = startSipp({ scenario, port: phonePort, timeoutS });
      await sleep(300); // SIPp binds its socket
      return h;
    },
    bob: async (scenario, keys) =>
      runSipp({ scenario, port: await freeUdpPort(), target: `127.0.0.1:${kamailio.port}`, keys }),
    close: async () => {
      await Promise.allSettled([alice.stop(), carol.stop()]);
      await gw.stop().catch(() => {});
      await Promise.allSettled([synapse.destroy(), prosody.destroy(), kamailio.stop(), redis.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** SIPp keys for a scenario from bob. */
export const sipKeys = (to: string, extra: Record<string, string> = {}): Record<string, string> => {
  const [toUser, toDomain] = to.split('@') as [string, string];
  return { from_user: 'bob', from_domain: 'partner.test', to_user: toUser, to_domain: toDomain, ...extra };
};
