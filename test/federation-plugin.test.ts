// A network is a plug-in: "Chat", a network that exists only in the tests
// (test/fixtures/chat-network.ts), is registered through the same point as XMPP, Matrix and
// SIP, configured by `type: chat`, named in the policy by `network: chat`, and its messages
// cross the real gateway: delivered, denied by the policy (the sender told in Chat's terms,
// the denial audited), and degraded (Chat cannot edit or carry rich text) with a notice to
// the sender. Nothing in src/ knows Chat.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfig } from '../src/config.js';
import { parseAddress } from '../src/core/address.js';
import type { AuditRecord } from '../src/core/audit/record.js';
import { registerNetworks } from '../src/core/network.js';
import { compilePolicySource } from '../src/core/policy/index.js';
import { SourceError } from '../src/core/yaml-source.js';
import { startGateway } from '../src/gateway.js';
import { createLogger } from '../src/log.js';
import { NETWORK_MODULES } from '../src/networks.js';
import { chatNetwork, chatService } from './fixtures/chat-network.js';

registerNetworks([...NETWORK_MODULES, chatNetwork]);

const silent = createLogger({ level: 'silent', destination: process.stderr });

const POLICY = `apiVersion: parley/v1
kind: Policy
metadata: { name: plug-in, version: "1" }
zones:
  enterprise: { domains: [corp.chat] }
  partner: { domains: [partner.chat] }
defaults: { decision: deny }
rules:
  - id: not-mallory-on-chat
    match: { to: { network: chat, user: mallory } }
    effect: deny
    reason: Mallory may not be written to from the enterprise.
  - id: partners
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
`;

let run = 0;
function load(adapters: string) {
  const dir = mkdtempSync(join(tmpdir(), 'parley-plugin-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  const text = `store: { memory: true }\npolicy: { file: policy.yaml, watch: false }\nadapters:\n${adapters}`;
  writeFileSync(join(dir, 'parley.yaml'), text);
  return parseConfig(text, join(dir, 'parley.yaml'), {});
}

/** A gateway with two Chat links (each its own Chat server), as a config file sets it up. */
async function start(t: Test) {
  run++;
  const corp = `corp-${run}`;
  const partner = `partner-${run}`;
  const loaded = load(
    `  corp:\n    type: chat\n    domains: [corp.chat]\n    service: ${corp}\n` +
      `  partner:\n    type: chat\n    domains: [partner.chat]\n    service: ${partner}\n`,
  );
  const gw = await startGateway(loaded, { logger: silent, http: false });
  t.teardown(() => gw.stop());
  const records = async (): Promise<AuditRecord[]> => {
    await gw.pipeline.drain();
    await gw.audit.flush();
    return gw.store.audit.range(1, 1000);
  };
  return { gw, corp: chatService(corp), partner: chatService(partner), records };
}

const ALICE = 'chat:alice@corp.chat';
const BOB = 'chat:bob@partner.chat';
const MALLORY = 'chat:mallory@partner.chat';

t.test("the plug-in's addresses are read and written like any network's", async (t) => {
  t.same(parseAddress('chat:Bob@Partner.Chat'), { network: 'chat', user: 'Bob', domain: 'partner.chat' });
  t.throws(() => parseAddress('chat:partner.chat'), /needs a user: chat:user@domain/);
  t.throws(() => parseAddress('irc:bob@partner.chat'), /expected xmpp:, matrix:u\/, sip: or chat:/);
});

t.test('the config names the plug-in by its type and checks its block', async (t) => {
  const loaded = load('  corp:\n    type: chat\n    domains: [corp.chat]\n    servce: x\n');
  const err = await startGateway(loaded, { logger: silent, http: false }).catch((e: unknown) => e);
  t.type(err, SourceError);
  t.match((err as SourceError).problems[0], {
    line: 7,
    path: 'adapters.corp.servce',
    message: /^unknown key "servce": did you mean "service"\?/,
  });
  t.throws(() => load('  corp:\n    type: irc\n    domains: [corp.chat]\n'), {
    message: /adapters\.corp\.type: expected one of xmpp, matrix, sip, chat/,
  });
});

t.test('the policy names the plug-in as a network, and knows no other', async (t) => {
  t.doesNotThrow(() => compilePolicySource(POLICY, 'plugin.yaml'));
  t.throws(() => compilePolicySource(POLICY.replace('network: chat', 'network: irc'), 'plugin.yaml'), {
    message: /rules\[0\]\.match\.to\.network: expected a network or a non-empty list of them.*"irc"/,
  });
  t.throws(
    () => compilePolicySource(POLICY.replace('network: chat', 'network: [chat, irc]'), 'plugin.yaml'),
    {
      message: /network\[1\]: expected one of xmpp, matrix, sip, chat, got string "irc"/,
    },
  );
});

t.test('a message crosses from one Chat link to another and is audited', async (t) => {
  const { gw, corp, partner, records } = await start(t);
  t.match(Object.fromEntries(gw.pipeline.linkStatus()), {
    corp: { state: 'up', network: 'chat' },
    partner: { state: 'up', network: 'chat' },
  });
  const link = gw.adapters.find((a) => a.name === 'partner');
  t.same([...(link?.capabilities.kinds ?? [])], ['message'], 'its kinds derive from its kind table');
  const out = await corp.send(ALICE, BOB, 'hello bob');
  t.match(out, { status: 'delivered', decision: 'allow', rule: 'partners' });
  t.same(partner.inbox(BOB), [{ from: ALICE, text: 'hello bob' }]);
  t.same(corp.inbox(ALICE), [], 'the sender is told nothing');
  const [decision, outcome] = await records();
  t.match(decision, {
    from: ALICE,
    to: BOB,
    fromNetwork: 'chat',
    toNetwork: 'chat',
    decision: 'allow',
    rule: 'partners',
    outcome: 'pending',
    sourceAdapter: 'corp',
    targetAdapter: 'partner',
  });
  t.match(outcome, { category: 'outcome', eventId: decision?.eventId, outcome: 'delivered' });
});

t.test('a policy denial is refused to the sender in Chat terms, and audited', async (t) => {
  const { corp, partner, records } = await start(t);
  const out = await corp.send(ALICE, MALLORY, 'hello mallory');
  t.match(out, { status: 'denied', rule: 'not-mallory-on-chat' });
  t.same(partner.inbox(MALLORY), [], 'nothing reached Mallory');
  t.same(corp.inbox(ALICE), [
    {
      from: 'gateway',
      text: `[not delivered to ${MALLORY}] Mallory may not be written to from the enterprise.`,
    },
  ]);
  const all = await records();
  t.equal(all.length, 1, 'one decision record, no delivery');
  t.match(all[0], {
    from: ALICE,
    to: MALLORY,
    decision: 'deny',
    rule: 'not-mallory-on-chat',
    reason: 'Mallory may not be written to from the enterprise.',
    outcome: 'denied',
  });
});

t.test(
  'an edit Chat cannot carry arrives as a marked new message, and the sender gets a notice',
  async (t) => {
    const { corp, partner, records } = await start(t);
    const out = await corp.send(ALICE, BOB, 'hello bob, corrected', {
      replaces: 'm-original',
      html: '<b>hello</b> bob, corrected',
    });
    t.match(out, { status: 'delivered' });
    await records();
    t.same(partner.inbox(BOB), [{ from: ALICE, text: '[correction] hello bob, corrected' }]);
    t.same(corp.inbox(ALICE), [
      {
        from: 'gateway',
        text:
          '[note] Your correction was delivered to bob@partner.chat as a new message: Chat cannot edit messages. ' +
          'Your message was delivered to bob@partner.chat without its formatting: Chat cannot carry rich text.',
      },
    ]);
    t.same(partner.inbox(ALICE), [], 'the recipient is not told');
  },
);
