// SIP retransmissions across replicas: two gateways (each its pipeline and SIP adapter on
// its own UDP socket) share one store, as replicas behind a UDP Service do. The copies of
// one request that land on both are handled once; the other replica absorbs its copies.
import dgram from 'node:dgram';
import t from 'tap';
import { TransactionClaims } from '../../../src/adapters/sip/claims.js';
import { buildSipAdapter } from '../../../src/adapters/sip/index.js';
import type { SipRequest } from '../../../src/adapters/sip/message.js';
import { newBranch, TransactionLayer } from '../../../src/adapters/sip/transaction.js';
import type { SipTransport } from '../../../src/adapters/sip/transport.js';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { namespacedState } from '../../../src/core/delivery/state.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Pipeline } from '../../../src/core/pipeline.js';
import { compilePolicySource } from '../../../src/core/policy/index.js';
import type { Store } from '../../../src/core/store.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { MemoryAdapter } from '../../fixtures/memory-adapter.js';
import { asShared } from '../../fixtures/shared-store.js';

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One replica: its own pipeline and SIP adapter, on the shared store. */
async function replica(store: Store, corp: MemoryAdapter) {
  const audit = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(POLICY, 't.yaml');
  const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger });
  const sip = buildSipAdapter(
    'sip',
    {
      type: 'sip',
      listen: ['udp://127.0.0.1:0'],
      domains: ['partner.test'],
      route: 'sip:127.0.0.1:9',
      peers: ['127.0.0.1/32'],
      timers: { t1: 20, t4: 50 },
    },
    { logger: silentLogger, configDir: '.' },
  );
  await corp.start(pipeline.register(corp));
  await sip.start(pipeline.register(sip));
  return {
    sip,
    port: sip.transport.local('udp')!.port,
    stop: async () => {
      await sip.stop();
      await audit.close();
    },
  };
}

const message = (me: number, branch: string, body: string) =>
  `MESSAGE sip:alice@corp.test SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:${me};branch=${branch};rport
From: <sip:bob@partner.test>;tag=f1
To: <sip:alice@corp.test>
Call-ID: ${branch}-call
CSeq: 1 MESSAGE
Max-Forwards: 70
Content-Type: text/plain
Content-Length: ${Buffer.byteLength(body)}

${body}`.replace(/\n/g, '\r\n');

t.test('a request whose copies land on two replicas is delivered once', async (t) => {
  const store = asShared(new MemoryStore());
  const corpA = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const corpB = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const a = await replica(store, corpA);
  const b = await replica(store, corpB);
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  t.teardown(async () => {
    sock.close();
    await a.stop();
    await b.stop();
  });
  const answers: { from: number; text: string }[] = [];
  sock.on('message', (m, rinfo) => answers.push({ from: rinfo.port, text: m.toString() }));
  const me = sock.address().port;
  const branch = newBranch();
  const req = Buffer.from(message(me, branch, 'spread over two replicas'));
  sock.send(req, a.port, '127.0.0.1');
  await sleep(100);
  // The client retransmits; the Service sends this copy to the other replica.
  sock.send(req, b.port, '127.0.0.1');
  await sleep(100);
  sock.send(req, b.port, '127.0.0.1');
  await sleep(100);
  t.equal(corpA.delivered.length + corpB.delivered.length, 1, 'delivered once');
  t.equal(corpA.delivered.length, 1, 'by the replica that got the first copy');
  t.equal(answers.filter((x) => x.from === a.port && /^SIP\/2\.0 200/.test(x.text)).length, 1);
  t.same(
    answers.filter((x) => x.from === b.port),
    [],
    'the other replica absorbs its copies without answering',
  );
  t.ok(await store.get(`sip:sip:tx:${branch}|127.0.0.1:${me}|MESSAGE`), 'the claim is in the store');
  // A copy back at the first replica gets its final response again (RFC 3261 §17.2.2).
  sock.send(req, a.port, '127.0.0.1');
  await sleep(100);
  t.equal(answers.filter((x) => x.from === a.port && /^SIP\/2\.0 200/.test(x.text)).length, 2);
  t.equal(corpA.delivered.length + corpB.delivered.length, 1, 'still once');

  // Two different requests at once, one on each replica: both are handled.
  const [b1, b2] = [newBranch(), newBranch()];
  sock.send(Buffer.from(message(me, b1, 'one')), a.port, '127.0.0.1');
  sock.send(Buffer.from(message(me, b2, 'two')), b.port, '127.0.0.1');
  await sleep(150);
  t.same(
    [...corpA.delivered, ...corpB.delivered].map((d) => d.event.kind === 'message' && d.event.body).sort(),
    ['one', 'spread over two replicas', 'two'],
  );
});

t.test('claims: first wins, the holder may see its own again, a silent store means handle it', async (t) => {
  const store = asShared(new MemoryStore());
  const transport = { send: async () => {}, responseTarget: () => ({}) } as unknown as SipTransport;
  const layer = new TransactionLayer(transport, { t1: 10, t2: 40, t4: 50 }, silentLogger);
  const mk = (s: Store | null) =>
    new TransactionClaims({
      state: () => s && namespacedState(s, 'sip:sip:'),
      layer,
      ttlMs: 200,
      logger: silentLogger,
    });
  const request: SipRequest = {
    kind: 'request',
    method: 'MESSAGE',
    uri: 'sip:alice@corp.test',
    headers: [
      { name: 'Via', value: `SIP/2.0/UDP 127.0.0.1:5099;branch=${newBranch()}` },
      { name: 'CSeq', value: '1 MESSAGE' },
    ],
    body: Buffer.alloc(0),
  };
  const tx = layer.receiveRequest(request, { transport: 'udp', address: '127.0.0.1', port: 5099 })!;
  const one = mk(store);
  const two = mk(store);
  t.ok(await one.claim(tx), 'the first replica claims it');
  t.notOk(await two.claim(tx), 'the second absorbs it');
  t.ok(await one.claim(tx), 'the holder handles its own copy (after its transaction ended)');
  t.equal(await store.get(`sip:sip:tx:${tx.key}`), one.owner);
  t.ok(layer.server.has(tx.key), 'the absorbed transaction stays to absorb later copies');
  await sleep(250);
  t.notOk(layer.server.has(tx.key), 'until the holder’s transaction has ended');
  t.ok(await two.claim(tx), 'then the claim has expired and a new copy is a new transaction');
  t.ok(await mk(null).claim(tx), 'no store yet: handled here');
  const broken = {
    setIfAbsent: () => Promise.reject(new Error('ECONNREFUSED')),
  } as unknown as Store;
  t.ok(await mk(broken).claim(tx), 'store unreachable: handled here (better twice than never)');
});
