// The XMPP adapter through the composition root: a config file with two `type: xmpp`
// links (corp.test and partner.test on one real Prosody), started by startGateway, with
// /readyz following the links and a real message crossing. A wrong block is refused
// naming its line.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseConfig } from '../../src/config.js';
import { silentLogger } from '../../src/core/logger.js';
import { startGateway } from '../../src/gateway.js';
import { login, POLICY, xmlParse } from '../fixtures/xmpp-setup.js';
import { type ProsodyHandle, startProsody } from '../harness/prosody.js';

// The registry entry the lead adds in src/adapters/index.ts; set here if not there yet.

let prosody: ProsodyHandle;

t.before(async () => {
  prosody = await startProsody({
    hosts: [
      { domain: 'corp.test', users: { alice: 'pw-a' } },
      { domain: 'partner.test', users: { bob: 'pw-b' } },
    ],
    components: [
      { domain: 'gw.corp.test', secret: 'corp-secret' },
      { domain: 'gw.partner.test', secret: 'partner-secret' },
    ],
  });
});
t.teardown(() => prosody?.destroy());

function config(adapters: string) {
  const dir = mkdtempSync(join(tmpdir(), 'parley-xmpp-gw-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  const text = `store: { memory: true }\nhttp:\n  listen: "127.0.0.1:0"\npolicy: { file: policy.yaml, watch: false }\nadapters:\n${adapters}`;
  writeFileSync(join(dir, 'parley.yaml'), text);
  return parseConfig(text, join(dir, 'parley.yaml'), { CORP: 'corp-secret', PARTNER: 'partner-secret' });
}

t.test('two XMPP links from the config: ready, and a message crosses', async (t) => {
  const loaded = config(`  corp:
    type: xmpp
    service: "${prosody.componentService}"
    component: gw.corp.test
    secret: "\${CORP}"
    domains: [corp.test]
  partner:
    type: xmpp
    service: "${prosody.componentService}"
    component: gw.partner.test
    secret: "\${PARTNER}"
    domains: [partner.test]
`);
  const gw = await startGateway(loaded, { logger: silentLogger });
  t.teardown(() => gw.stop());
  const deadline = Date.now() + 10_000;
  let ready: { status: number; body: { ready: boolean; adapters: Record<string, { state: string }> } };
  for (;;) {
    const res = await fetch(`${gw.url}/readyz`);
    ready = { status: res.status, body: (await res.json()) as typeof ready.body };
    if (ready.body.ready || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(ready.status, 200);
  t.match(ready.body.adapters, { corp: { state: 'up' }, partner: { state: 'up' } });

  const [alice, bob] = await Promise.all([
    login(prosody.c2sService, 'corp.test', 'alice', 'pw-a'),
    login(prosody.c2sService, 'partner.test', 'bob', 'pw-b'),
  ]);
  t.teardown(() => Promise.all([alice.stop(), bob.stop()]));
  await alice.send(
    xmlParse(
      `<message to="bob%partner.test@gw.corp.test" type="chat" id="gw-1"><body>via the gateway</body></message>`,
    ),
  );
  const got = await bob.next((el) => el.attrs.id === 'gw-1');
  t.equal(got.attrs.from, 'alice%corp.test@gw.partner.test');
  t.equal(got.getChildText('body'), 'via the gateway');
  const rec = (await gw.store.audit.range(1, 100)).find((r) => r.eventId === 'gw-1');
  t.match(rec, { decision: 'allow', sourceAdapter: 'corp', targetAdapter: 'partner' });
});

t.test('a wrong block is refused at startup, naming the key and its line', async (t) => {
  const loaded = config(`  corp:
    type: xmpp
    service: "http://nowhere"
    component: gw.corp.test
    secret: x
    domains: [corp.test]
`);
  const err = (await startGateway(loaded, { logger: silentLogger, http: false }).catch(
    (e: unknown) => e,
  )) as Error;
  t.ok(err instanceof Error);
  t.match(err.message, /service/);
  t.match(
    err.message,
    /parley\.yaml:\d+:\d+: adapters\.corp\.service: service: "http:\/\/nowhere" is not valid \(expected xmpp:\/\/host:port/,
  );
});
