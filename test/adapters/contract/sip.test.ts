// The adapter contract (suite.ts) for SIP, on the in-memory transport: what the adapter
// sends is the requests and responses the transport wrote; the far end is the route
// (192.0.2.20:5070), which answers each request (a MESSAGE 200, an INVITE 486) unless it
// is down (no answer: Timer F, 64×T1, ends the transaction) or held.
import t from 'tap';
import { makeResponse, resolveSipConfig, SipAdapter } from '../../../src/adapters/sip/index.js';
import {
  getHeader,
  getHeaders,
  isSipUri,
  parseNameAddr,
  type SipRequest,
  type SipResponse,
} from '../../../src/adapters/sip/message.js';
import { sipKindTable } from '../../../src/adapters/sip/outbound.js';
import type { Endpoint } from '../../../src/adapters/sip/transport.js';
import { tryParseAddress } from '../../../src/core/address.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { CanonicalEvent } from '../../../src/core/model.js';
import { memoryTransport, type SentMessage } from '../../fixtures/sip-memory-transport.js';
import { type AdapterHarness, adapterContract, type FarEndItem } from './suite.js';

const FAR: Endpoint = { transport: 'udp', address: '192.0.2.20', port: 5070 };

/** `user@host` of a From or To header. */
function userOf(nameAddr: string | undefined): string {
  const uri = parseNameAddr(nameAddr ?? '', 'address').uri;
  return isSipUri(uri) ? `${uri.user}@${uri.host}` : '';
}

/** A SIP address for a canonical one: SIP users address everyone as sip:user@domain. */
function sipUri(uri: string): string {
  const a = tryParseAddress(uri);
  if (!a) throw new Error(`not an address: ${uri}`);
  return `sip:${a.user}@${a.domain}`;
}

function item({ msg }: SentMessage): FarEndItem {
  const from = userOf(getHeader(msg, 'From'));
  const to = userOf(getHeader(msg, 'To'));
  if (msg.kind === 'request') return { to, from, what: msg.method, text: msg.body.toString('utf8') };
  // A response goes back to the requester (From), from the request's recipient (To).
  return {
    to: from,
    from: to,
    what: `response ${msg.status}`,
    text: [msg.reason, ...getHeaders(msg, 'Warning')].join(' | '),
  };
}

/** The next hop: takes every request (an INVITE: busy, so that no call stays up). */
const answer = (req: SipRequest): SipResponse =>
  req.method === 'INVITE'
    ? makeResponse(req, 486, 'Busy Here', [], 'far')
    : makeResponse(req, 200, 'OK', [], 'far');

const neverCalled = () => Promise.reject(new Error('the harness never delivers through this table'));

const harness: AdapterHarness = {
  network: 'sip',
  domain: 'partner.test',
  shows: {
    delivered: 'MESSAGE',
    // The request is answered in-band (RFC 3428): 403 with the rule's reason and a Warning.
    refused: 'response 403',
    // RFC 3428 has no later error: a MESSAGE from the recipient's address.
    notice: 'MESSAGE',
  },
  // A MESSAGE is sent now or not at all: a next hop that does not answer ends the client
  // transaction (Timer F), the delivery fails and its sender is told (docs/adapters/sip.md).
  whileDown: { status: 'failed', code: 'delivery' },
  kindTable: () =>
    sipKindTable({
      message: neverCalled,
      chatstate: neverCalled,
      receipt: neverCalled,
      presence: neverCalled,
      call: neverCalled,
    }),
  build({ pipeline }) {
    const wire = memoryTransport([{ transport: 'udp', host: '192.0.2.10', port: 5060 }]);
    const config = resolveSipConfig(
      {
        type: 'sip',
        listen: ['udp://192.0.2.10:5060'],
        domains: ['partner.test'],
        route: 'sip:192.0.2.20:5070',
        peers: ['192.0.2.20/32'],
        // Timer F = 64×T1 = 640 ms.
        timers: { t1: 10 },
      },
      { configDir: '.' },
    );
    const adapter = new SipAdapter('partner-sip', config, silentLogger, { transport: wire.factory });
    wire.transport.answer = answer;
    let n = 0;
    return {
      adapter,
      linkDown: () => {
        wire.transport.answer = null;
      },
      linkUp: () => {
        wire.transport.answer = answer;
      },
      received: () => wire.transport.sent.map(item),
      hold: () => {
        const held: SipRequest[] = [];
        wire.transport.answer = (req) => {
          held.push(req);
          return null;
        };
        return {
          holding: () => held.length > 0,
          release: () => {
            wire.transport.answer = answer;
            for (const req of held.splice(0)) wire.transport.receive(answer(req), FAR);
          },
        };
      },
      inject: async (m) => {
        const id = ++n;
        if (m.degradable) {
          // A SIP user cannot send what another network must degrade (a MESSAGE carries
          // text only), so the adapter's notice is driven by the event it would submit,
          // carrying formatting, handed to the pipeline as the adapter's ctx.submit does.
          if (tryParseAddress(m.from)?.network !== 'sip') throw new Error(`not a SIP user: ${m.from}`);
          const event: CanonicalEvent = {
            kind: 'message',
            id: `sip-in-${id}`,
            time: new Date().toISOString(),
            from: m.from,
            to: m.to,
            adapter: adapter.name,
            traceId: `sip-tr-${id}`,
            body: m.body,
            html: `<b>${m.body}</b>`,
          };
          await pipeline.submit(adapter, event);
          return;
        }
        const req: SipRequest = {
          kind: 'request',
          method: 'MESSAGE',
          uri: sipUri(m.to),
          headers: [
            { name: 'Via', value: `SIP/2.0/UDP 192.0.2.20:5070;branch=z9hG4bKcontract${id}` },
            { name: 'Max-Forwards', value: '70' },
            { name: 'From', value: `<${sipUri(m.from)}>;tag=in${id}` },
            { name: 'To', value: `<${sipUri(m.to)}>` },
            { name: 'Call-ID', value: `contract-${id}@192.0.2.20` },
            { name: 'CSeq', value: '1 MESSAGE' },
            { name: 'Content-Type', value: 'text/plain;charset=UTF-8' },
          ],
          body: Buffer.from(m.body, 'utf8'),
        };
        wire.transport.receive(req, FAR);
      },
    };
  },
};

const ran = await adapterContract(t, harness);
t.test('every behaviour of the contract was checked against this adapter, and held', async (t) => {
  t.same(
    ran.map((r) => r.behaviour),
    [
      'deliver',
      'refuse',
      'notice',
      'no queue',
      'stop drains',
      'stop drains',
      'capability table honest',
      'capability table honest',
    ],
    'SIP has no queue: its declared answer is checked instead',
  );
  t.same(
    ran.filter((r) => !r.ok).map((r) => r.behaviour),
    [],
    'none failed',
  );
});
