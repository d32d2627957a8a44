// The in-memory homeserver fixture (test/fixtures/matrix-homeserver.ts) carries a delivery
// end to end: what an adapter contract suite builds on. The adapter takes its homeserver
// client as a constructor option, so nothing here talks to a network but the appservice
// listener on 127.0.0.1.
import t from 'tap';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Pipeline } from '../../../src/core/pipeline.js';
import { compilePolicySource } from '../../../src/core/policy/index.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { memoryMatrixAdapter } from '../../fixtures/matrix-homeserver.js';
import { MemoryAdapter, message } from '../../fixtures/memory-adapter.js';

const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: t, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [hs.test] }
defaults: { decision: deny }
rules:
  - id: partners
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
`;

t.test('a message delivered to a Matrix user arrives in their room with the sender ghost', async (t) => {
  const store = new MemoryStore();
  const audit = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(POLICY, 'p.yaml');
  const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const { adapter, hs } = memoryMatrixAdapter();
  await corp.start(pipeline.register(corp));
  await adapter.start(pipeline.register(adapter));
  t.teardown(async () => {
    await adapter.stop();
    await audit.close();
  });
  t.equal(pipeline.linkStatus().get('hs')?.state, 'up', 'the adapter reported its link up');

  const sent = message('xmpp:bob@corp.test', 'matrix:u/alice:hs.test', 'hello alice');
  t.match(await corp.submit(sent), { status: 'delivered' });

  const ghost = '@_parley_bob=40corp.test:hs.test';
  const inbox = hs.inbox('@alice:hs.test');
  t.equal(inbox.length, 1, 'alice sees one event');
  t.match(inbox[0], {
    asUser: ghost,
    type: 'm.room.message',
    content: { msgtype: 'm.text', body: 'hello alice' },
  });
  const roomId = inbox[0]?.roomId as string;
  t.equal(hs.rooms.get(roomId)?.get(ghost), 'join', 'the ghost opened the room');
  t.equal(hs.rooms.get(roomId)?.get('@alice:hs.test'), 'invite', 'and invited alice');
  t.equal(corp.refused.length, 0, 'nothing refused');
});
