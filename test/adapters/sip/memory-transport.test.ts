// The SIP adapter on an in-memory transport (its `transport` option), with the real
// pipeline: an event from the other network becomes the pager-mode MESSAGE the adapter
// writes to its route, and the far end's 200 makes it a delivery. No sockets.
import t from 'tap';
import { makeResponse, resolveSipConfig, SipAdapter } from '../../../src/adapters/sip/index.js';
import { getHeader, type SipRequest } from '../../../src/adapters/sip/message.js';
import { AuditWriter } from '../../../src/core/audit/writer.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Pipeline } from '../../../src/core/pipeline.js';
import { compilePolicySource } from '../../../src/core/policy/index.js';
import { MemoryStore } from '../../../src/store/memory.js';
import { MemoryAdapter, message } from '../../fixtures/memory-adapter.js';
import { memoryTransport } from '../../fixtures/sip-memory-transport.js';
import { partnerPolicy } from '../../fixtures/sip-rig.js';

/** A pipeline with an XMPP-side memory adapter and the SIP adapter on an in-memory transport, started. */
async function setUp() {
  const store = new MemoryStore();
  const audit = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(partnerPolicy('memory-transport'), 'policy.yaml');
  const pipeline = new Pipeline({ policy: () => policy, audit, store, logger: silentLogger });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const wire = memoryTransport([{ transport: 'udp', host: '192.0.2.10', port: 5060 }]);
  const config = resolveSipConfig(
    {
      type: 'sip',
      listen: ['udp://192.0.2.10:5060'],
      domains: ['partner.test'],
      route: 'sip:192.0.2.20:5070',
      peers: ['192.0.2.20/32'],
    },
    { configDir: '.' },
  );
  const sip = new SipAdapter('partner-sip', config, silentLogger, { transport: wire.factory });
  await corp.start(pipeline.register(corp));
  await sip.start(pipeline.register(sip));
  return { store, audit, pipeline, corp, wire, sip };
}

t.test('a message delivered through an in-memory transport: the SIP MESSAGE it produced', async (t) => {
  const { audit, pipeline, corp, wire, sip } = await setUp();
  t.teardown(() => audit.close());
  t.equal(pipeline.linkStatus().get('partner-sip')?.state, 'up', 'the adapter reported its link up');
  t.ok(wire.transport.accept('192.0.2.20'), 'the transport was given the peer check: a peer');
  t.notOk(wire.transport.accept('192.0.2.99'), 'the transport was given the peer check: a stranger');

  const far = wire.transport;
  far.answer = (req) => makeResponse(req, 200, 'OK', [], 'far');
  const outcome = await corp.submit(
    message('xmpp:alice@corp.test', 'sip:bob@partner.test', 'hello, in memory'),
  );
  t.match(outcome, { status: 'delivered' }, "the far end's 200 made it a delivery");

  t.equal(far.sent.length, 1, 'one request went out');
  const [sent] = far.sent;
  t.same(sent?.dest, { transport: 'udp', address: '192.0.2.20', port: 5070 }, 'to the route');
  const req = sent?.msg as SipRequest;
  t.equal(req.kind, 'request');
  t.equal(req.method, 'MESSAGE');
  t.equal(req.uri, 'sip:bob@partner.test');
  t.match(getHeader(req, 'Via'), /^SIP\/2\.0\/UDP 192\.0\.2\.10:5060;branch=z9hG4bK\w+/, 'our Via');
  t.match(getHeader(req, 'From'), /^<sip:alice@corp\.test>;tag=\w+$/, "the sender's SIP address");
  t.equal(getHeader(req, 'To'), '<sip:bob@partner.test>');
  t.equal(getHeader(req, 'CSeq'), '1 MESSAGE');
  t.equal(getHeader(req, 'Max-Forwards'), '70');
  t.equal(getHeader(req, 'Content-Type'), 'text/plain;charset=UTF-8');
  t.equal(req.body.toString('utf8'), 'hello, in memory');
  t.match(
    sent?.bytes.toString('utf8'),
    /^MESSAGE sip:bob@partner\.test SIP\/2\.0\r\n/,
    'as written on the wire',
  );

  await sip.stop();
  t.equal(
    pipeline.linkStatus().get('partner-sip')?.state,
    'stopped',
    'the adapter reported its link stopped',
  );
});

t.test(
  'the outcome record says failed when no answer came, refused when the network answered no',
  async (t) => {
    const { store, audit, pipeline, corp, wire, sip } = await setUp();
    t.teardown(async () => {
      await sip.stop();
      await audit.close();
    });
    const outcomeOf = async (eventId: string) => {
      await pipeline.drain();
      await audit.flush();
      const records = await store.audit.range(1, 1000);
      return records.find((r) => r.category === 'outcome' && r.eventId === eventId);
    };

    wire.transport.failWith = new Error('EPERM: the socket refused the write');
    const lost = message('xmpp:alice@corp.test', 'sip:bob@partner.test', 'into a broken socket');
    t.match(await corp.submit(lost), { status: 'failed', code: 'delivery' });
    t.match(
      await outcomeOf(lost.id),
      { outcome: 'failed', outcomeReason: /transport error: EPERM/ },
      'a transport error: the delivery failed (the network never answered)',
    );

    wire.transport.failWith = null;
    wire.transport.answer = (req) => makeResponse(req, 480, 'Temporarily Unavailable', [], 'far');
    const declined = message('xmpp:alice@corp.test', 'sip:bob@partner.test', 'to someone away');
    t.match(await corp.submit(declined), { status: 'failed', code: 'delivery' });
    t.match(
      await outcomeOf(declined.id),
      { outcome: 'refused', outcomeReason: /^480 Temporarily Unavailable/ },
      "the network's 480: refused",
    );
  },
);
