// The Matrix adapter against a real Synapse: real matrix-js-sdk users on one side, the
// Parley pipeline (memory store, audit, real policy) and an in-process remote network on
// the other. Synapse starts once for this file.
import t from 'tap';
import { verifyLog } from '../../src/core/audit/verify.js';
import type { CanonicalEvent } from '../../src/core/model.js';
import { ghostOf, makeWorld, type World } from '../fixtures/matrix-setup.js';
import { type Seen, TestUser, until } from '../fixtures/matrix-users.js';
import { message } from '../fixtures/memory-adapter.js';

t.setTimeout(240_000);

let w: World;
let alice: TestUser;
const bob = ghostOf('bob', 'corp.test');
let dm = '';

t.before(async () => {
  w = await makeWorld();
  alice = await TestUser.create(w.synapse, 'alice');
});
t.teardown(async () => {
  await alice?.stop();
  await w?.close();
});

const delivered = (pred: (e: CanonicalEvent) => boolean, what: string) =>
  until(() => w.corp.delivered.find((d) => pred(d.event))?.event, what);
const fromGhost =
  (ghost: string, room: string, pred: (s: Seen) => boolean = () => true) =>
  (s: Seen) =>
    s.section === 'timeline' && s.sender === ghost && s.roomId === room && pred(s);

t.test('a Matrix user invites a ghost; the ghost joins and the room maps to the pair', async (t) => {
  const res = await alice.client.createRoom({ invite: [bob], is_direct: true });
  dm = res.room_id;
  await alice.waitFor(
    (s) =>
      s.roomId === dm && s.type === 'm.room.member' && s.state_key === bob && s.content.membership === 'join',
    'the ghost joining',
  );
  const profile = await alice.client.getProfileInfo(bob);
  t.equal(profile.displayname, 'bob@corp.test', 'the ghost has a display name');
});

t.test('m.text with formatted body reaches the remote network as a message with html', async (t) => {
  const id = await alice.send(dm, {
    msgtype: 'm.text',
    body: 'hello *bob*',
    format: 'org.matrix.custom.html',
    formatted_body: 'hello <b>bob</b>',
  });
  const e = await delivered((e) => e.id === id, 'the message at the remote network');
  t.match(e, {
    kind: 'message',
    from: 'matrix:u/alice:hs.test',
    to: 'xmpp:bob@corp.test',
    body: 'hello *bob*',
    html: 'hello <b>bob</b>',
    adapter: 'hs',
  });
});

t.test('notice, emote, an edit, a reply and an attachment from Matrix', async (t) => {
  const original = await alice.send(dm, { msgtype: 'm.text', body: 'typo here' });
  await delivered((e) => e.id === original, 'original');
  const notice = await alice.send(dm, { msgtype: 'm.notice', body: 'automated' });
  const emote = await alice.send(dm, { msgtype: 'm.emote', body: 'waves' });
  const edit = await alice.send(dm, {
    msgtype: 'm.text',
    body: '* fixed here',
    'm.new_content': { msgtype: 'm.text', body: 'fixed here' },
    'm.relates_to': { rel_type: 'm.replace', event_id: original },
  });
  const reply = await alice.send(dm, {
    msgtype: 'm.text',
    body: '> <@alice:hs.test> typo here\n\nanswering myself',
    'm.relates_to': { 'm.in_reply_to': { event_id: original } },
  });
  const image = await alice.send(dm, {
    msgtype: 'm.image',
    body: 'cat.png',
    url: 'mxc://hs.test/abcdef',
    info: { mimetype: 'image/png', size: 1234 },
  });
  t.match(await delivered((e) => e.id === notice, 'notice'), { style: 'notice', body: 'automated' });
  t.match(await delivered((e) => e.id === emote, 'emote'), { style: 'emote', body: 'waves' });
  t.match(await delivered((e) => e.id === edit, 'edit'), { replaces: original, body: 'fixed here' });
  t.match(await delivered((e) => e.id === reply, 'reply'), { replyTo: original, body: 'answering myself' });
  t.match(await delivered((e) => e.id === image, 'image'), {
    attachments: [{ mime: 'image/png', size: 1234, name: 'cat.png', url: 'mxc://hs.test/abcdef' }],
  });
});

let outId = '';
let outEventId = '';
t.test('a remote message reaches the Matrix user in the mapped room, with html', async (t) => {
  const m = message('xmpp:bob@corp.test', 'matrix:u/alice:hs.test', 'hi alice', {
    html: 'hi <i>alice</i>',
  } as never);
  outId = m.id;
  const out = await w.corp.submit(m);
  t.match(out, { status: 'delivered', rule: 'partners' });
  const seen = await alice.waitFor(
    fromGhost(bob, dm, (s) => s.content.body === 'hi alice'),
    'the message',
  );
  t.match(seen.content, {
    msgtype: 'm.text',
    format: 'org.matrix.custom.html',
    formatted_body: 'hi <i>alice</i>',
  });
  outEventId = seen.event_id as string;
});

t.test('remote edits, replies, notices, emotes and attachments become Matrix events', async (t) => {
  await w.corp.submit(
    message('xmpp:bob@corp.test', 'matrix:u/alice:hs.test', 'hi Alice', { replaces: outId } as never),
  );
  const edit = await alice.waitFor(
    fromGhost(bob, dm, (s) => s.content.body === '* hi Alice'),
    'the edit',
  );
  t.same(edit.content['m.relates_to'], { rel_type: 'm.replace', event_id: outEventId });
  t.match(edit.content['m.new_content'], { body: 'hi Alice' });

  const aliceMsg = alice.seen.find((s) => s.sender === alice.userId && s.content.body === 'hello *bob*');
  await w.corp.submit(
    message('xmpp:bob@corp.test', 'matrix:u/alice:hs.test', 'answer', {
      replyTo: aliceMsg?.event_id,
    } as never),
  );
  const reply = await alice.waitFor(
    fromGhost(bob, dm, (s) => s.content.body === 'answer'),
    'the reply',
  );
  t.same(reply.content['m.relates_to'], { 'm.in_reply_to': { event_id: aliceMsg?.event_id } });

  await w.corp.submit(
    message('xmpp:bob@corp.test', 'matrix:u/alice:hs.test', 'beep', { style: 'notice' } as never),
  );
  await w.corp.submit(
    message('xmpp:bob@corp.test', 'matrix:u/alice:hs.test', 'shrugs', { style: 'emote' } as never),
  );
  t.equal(
    (
      await alice.waitFor(
        fromGhost(bob, dm, (s) => s.content.body === 'beep'),
        'notice',
      )
    ).content.msgtype,
    'm.notice',
  );
  t.equal(
    (
      await alice.waitFor(
        fromGhost(bob, dm, (s) => s.content.body === 'shrugs'),
        'emote',
      )
    ).content.msgtype,
    'm.emote',
  );

  await w.corp.submit(
    message('xmpp:bob@corp.test', 'matrix:u/alice:hs.test', '', {
      attachments: [{ mime: 'application/pdf', name: 'report.pdf', size: 99, url: 'mxc://hs.test/pdf1' }],
    } as never),
  );
  const file = await alice.waitFor(
    fromGhost(bob, dm, (s) => s.content.body === 'report.pdf'),
    'the file',
  );
  t.match(file.content, {
    msgtype: 'm.file',
    url: 'mxc://hs.test/pdf1',
    info: { mimetype: 'application/pdf', size: 99 },
  });
});

t.test('typing both ways', async (t) => {
  await alice.client.sendTyping(dm, true, 10_000);
  await delivered(
    (e) => e.kind === 'chatstate' && e.state === 'composing',
    'composing at the remote network',
  );
  await alice.client.sendTyping(dm, false, 0);
  const paused = await delivered((e) => e.kind === 'chatstate' && e.state === 'paused', 'paused');
  t.match(paused, { from: 'matrix:u/alice:hs.test', to: 'xmpp:bob@corp.test' });

  await w.corp.submit({
    kind: 'chatstate',
    id: 'cs1',
    time: new Date().toISOString(),
    from: 'xmpp:bob@corp.test',
    to: 'matrix:u/alice:hs.test',
    adapter: 'corp',
    traceId: 'cs1',
    state: 'composing',
  });
  await alice.waitFor(
    (s) => s.roomId === dm && s.type === 'm.typing' && ((s.content.user_ids as string[]) ?? []).includes(bob),
    'the ghost typing',
  );
  t.pass('typing seen both ways');
});

t.test('read receipts both ways', async (t) => {
  await alice.readReceipt(dm, outEventId);
  const r = await delivered((e) => e.kind === 'receipt', 'a receipt at the remote network');
  t.match(r, {
    receipt: 'displayed',
    messageId: outId,
    from: 'matrix:u/alice:hs.test',
    to: 'xmpp:bob@corp.test',
  });

  const aliceMsg = await alice.send(dm, { msgtype: 'm.text', body: 'read me' });
  await delivered((e) => e.id === aliceMsg, 'read me');
  await w.corp.submit({
    kind: 'receipt',
    id: 'rc1',
    time: new Date().toISOString(),
    from: 'xmpp:bob@corp.test',
    to: 'matrix:u/alice:hs.test',
    adapter: 'corp',
    traceId: 'rc1',
    receipt: 'displayed',
    messageId: aliceMsg,
  });
  await alice.waitFor(
    (s) =>
      s.roomId === dm &&
      s.type === 'm.receipt' &&
      Boolean(
        (s.content[aliceMsg] as Record<string, Record<string, unknown>> | undefined)?.['m.read']?.[bob],
      ),
    'the ghost read receipt',
  );
  t.pass('receipts seen both ways');
});

t.test('presence both ways', async (t) => {
  await w.corp.submit({
    kind: 'presence',
    id: 'p1',
    time: new Date().toISOString(),
    from: 'xmpp:bob@corp.test',
    to: 'matrix:u/alice:hs.test',
    adapter: 'corp',
    traceId: 'p1',
    show: 'available',
    status: 'at my desk',
  });
  const p = await alice.client.getPresence(bob);
  t.match(p, { presence: 'online', status_msg: 'at my desk' }, 'the ghost presence is set');

  await alice.client.setPresence({ presence: 'unavailable', status_msg: 'lunch' });
  const got = await delivered(
    (e) => e.kind === 'presence' && e.show === 'away',
    'presence at the remote network',
  );
  t.match(got, { from: 'matrix:u/alice:hs.test', to: 'xmpp:bob@corp.test', status: 'lunch' });
});

t.test('a denied message is answered by an m.notice from the ghost naming the reason', async (t) => {
  const eve = ghostOf('eve', 'rival.test');
  const res = await alice.client.createRoom({ invite: [eve], is_direct: true });
  await alice.waitFor(
    (s) =>
      s.roomId === res.room_id &&
      s.type === 'm.room.member' &&
      s.state_key === eve &&
      s.content.membership === 'join',
    'eve joining',
  );
  const id = await alice.send(res.room_id, { msgtype: 'm.text', body: 'secret plans' });
  const notice = await alice.waitFor(
    fromGhost(eve, res.room_id, (s) => s.content.msgtype === 'm.notice'),
    'notice',
  );
  t.match(notice.content.body, /Communication with competitors is prohibited/);
  t.notOk(
    w.corp.delivered.some((d) => d.event.id === id),
    'nothing delivered',
  );
});

t.test('an encrypted event gets a notice that the gateway cannot read it', async (t) => {
  await alice.send(
    dm,
    { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'opaque', session_id: 's' },
    'm.room.encrypted',
  );
  const notice = await alice.waitFor(
    fromGhost(bob, dm, (s) => s.content.msgtype === 'm.notice' && /encrypted/.test(String(s.content.body))),
    'the e2ee notice',
  );
  t.match(notice.content.body, /cannot read it/);
});

t.test('redaction applies to what the Matrix user receives', async (t) => {
  await w.corp.submit(message('xmpp:bob@corp.test', 'matrix:u/alice:hs.test', 'card 4111 1111 1111 1111.'));
  const seen = await alice.waitFor(
    fromGhost(bob, dm, (s) => String(s.content.body).startsWith('card')),
    'redacted',
  );
  t.equal(seen.content.body, 'card [card].');
});

t.test('inbound traffic from a new remote user opens a direct room (is_direct)', async (t) => {
  const carol = ghostOf('carol', 'corp.test');
  const out = await w.corp.submit(
    message('xmpp:carol@corp.test', 'matrix:u/alice:hs.test', 'hello from carol'),
  );
  t.match(out, { status: 'delivered' });
  const invite = await alice.waitFor((s) => s.section === 'invite' && s.sender === carol, 'the invite');
  t.equal(invite.content.is_direct, true);
  const msg = await alice.waitFor(
    (s) => s.section === 'timeline' && s.sender === carol && s.content.body === 'hello from carol',
    'carol message',
  );
  t.not(msg.roomId, dm, 'its own room');
  // The next message goes to the same room.
  await w.corp.submit(message('xmpp:carol@corp.test', 'matrix:u/alice:hs.test', 'again'));
  const again = await alice.waitFor((s) => s.sender === carol && s.content.body === 'again', 'again');
  t.equal(again.roomId, msg.roomId);
});

t.test('when the Matrix user leaves, the mapping goes; the next message opens a new room', async (t) => {
  const carol = ghostOf('carol', 'corp.test');
  const old = alice.seen.find((s) => s.section === 'invite' && s.sender === carol)?.roomId as string;
  await alice.client.leave(old);
  await until(
    async () => (await w.store.hget('matrix:hs:pairs:@alice:hs.test', carol)) === null,
    'the mapping dropped',
  );
  await w.corp.submit(message('xmpp:carol@corp.test', 'matrix:u/alice:hs.test', 'are you there?'));
  const msg = await alice.waitFor(
    (s) => s.section === 'timeline' && s.sender === carol && s.content.body === 'are you there?',
    'the message in a new room',
  );
  t.not(msg.roomId, old);
});

t.test('the appservice API refuses a forged hs_token on the live listener', async (t) => {
  const url = `${w.matrix.url}/_matrix/app/v1/transactions/forged`;
  const body = JSON.stringify({ events: [] });
  const none = await fetch(url, { method: 'PUT', body, headers: { 'content-type': 'application/json' } });
  t.equal(none.status, 401);
  const wrong = await fetch(url, {
    method: 'PUT',
    body,
    headers: { 'content-type': 'application/json', authorization: 'Bearer nope' },
  });
  t.equal(wrong.status, 403);
  t.match(await wrong.json(), { errcode: 'M_FORBIDDEN' });
});

const OFFER = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:0123456789abcdefghijklmn',
  'a=fingerprint:sha-256 AA:BB:CC:DD',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendrecv',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:0 PCMU/8000',
  '',
].join('\r\n');

const callFrom = (over: Record<string, unknown>) =>
  ({
    kind: 'call',
    id: `call-${Math.random()}`,
    time: new Date().toISOString(),
    from: 'xmpp:bob@corp.test',
    to: 'matrix:u/alice:hs.test',
    adapter: 'corp',
    traceId: 'tc',
    ...over,
  }) as CanonicalEvent;

t.test('a call from Matrix: invite, candidates, answer, candidates and hangup both ways', async (t) => {
  const base = { call_id: 'c-1', party_id: 'alice-party', version: '1' };
  await alice.send(dm, { ...base, lifetime: 60000, offer: { type: 'offer', sdp: OFFER } }, 'm.call.invite');
  const invite = await delivered((e) => e.kind === 'call' && e.action === 'invite', 'the call invite');
  t.match(invite, {
    from: 'matrix:u/alice:hs.test',
    to: 'xmpp:bob@corp.test',
    callId: 'c-1',
    session: {
      media: [
        {
          media: 'audio',
          name: '0',
          codecs: [{ payloadType: 111, name: 'opus', clockRate: 48000, channels: 2 }, { name: 'PCMU' }],
          ice: { ufrag: 'abcd', pwd: '0123456789abcdefghijklmn' },
          fingerprint: { hash: 'sha-256', value: 'AA:BB:CC:DD' },
          setup: 'actpass',
          rtcpMux: true,
        },
      ],
    },
  });
  await alice.send(
    dm,
    {
      ...base,
      candidates: [
        {
          candidate: 'candidate:1 1 udp 2113937151 192.0.2.10 50000 typ host generation 0',
          sdpMid: '0',
          sdpMLineIndex: 0,
        },
      ],
    },
    'm.call.candidates',
  );
  const cand = await delivered((e) => e.kind === 'call' && e.action === 'candidate', 'the candidates');
  t.match(cand, {
    callId: 'c-1',
    session: {
      media: [
        {
          media: 'audio',
          ice: { ufrag: 'abcd', candidates: [{ ip: '192.0.2.10', port: 50000, type: 'host' }] },
        },
      ],
    },
  });

  await w.corp.submit(
    callFrom({
      action: 'answer',
      callId: 'c-1',
      session: {
        media: [
          {
            media: 'audio',
            name: '0',
            protocol: 'UDP/TLS/RTP/SAVPF',
            codecs: [{ payloadType: 111, name: 'opus', clockRate: 48000, channels: 2 }],
            ice: { ufrag: 'wxyz', pwd: 'zyxwvutsrqponmlkjihgfedc', candidates: [] },
            fingerprint: { hash: 'sha-256', value: '11:22:33' },
            setup: 'active',
          },
        ],
      },
    }),
  );
  const answer = await alice.waitFor(
    fromGhost(bob, dm, (s) => s.type === 'm.call.answer'),
    'the answer',
  );
  t.match(answer.content, { call_id: 'c-1', version: '1', answer: { type: 'answer' } });
  const sdp = String((answer.content.answer as { sdp: string }).sdp);
  t.match(sdp, /a=rtpmap:111 opus\/48000\/2/);
  t.match(sdp, /a=ice-ufrag:wxyz/);
  t.match(sdp, /a=setup:active/);

  await w.corp.submit(
    callFrom({
      action: 'candidate',
      callId: 'c-1',
      session: {
        media: [
          {
            media: 'audio',
            name: '0',
            codecs: [],
            ice: {
              ufrag: 'wxyz',
              pwd: 'zyxwvutsrqponmlkjihgfedc',
              candidates: [
                {
                  foundation: '7',
                  component: 1,
                  protocol: 'udp',
                  priority: 100,
                  ip: '198.51.100.7',
                  port: 40000,
                  type: 'srflx',
                  relAddr: '10.0.0.7',
                  relPort: 5000,
                },
              ],
            },
          },
        ],
      },
    }),
  );
  const cands = await alice.waitFor(
    fromGhost(bob, dm, (s) => s.type === 'm.call.candidates'),
    'the candidates',
  );
  t.same(cands.content.candidates, [
    {
      candidate: 'candidate:7 1 udp 100 198.51.100.7 40000 typ srflx raddr 10.0.0.7 rport 5000',
      sdpMid: '0',
      sdpMLineIndex: 0,
    },
  ]);

  t.match(
    await w.corp.submit(callFrom({ action: 'ringing', callId: 'c-1' })),
    { status: 'delivered' },
    'ringing is accepted',
  );
  await w.corp.submit(callFrom({ action: 'hangup', callId: 'c-1', reason: 'normal' }));
  const hangup = await alice.waitFor(
    fromGhost(bob, dm, (s) => s.type === 'm.call.hangup'),
    'the hangup',
  );
  t.match(hangup.content, { call_id: 'c-1', reason: 'user_hangup' });
});

t.test('a call to Matrix: invite, and the Matrix user rejects it', async (t) => {
  await w.corp.submit(
    callFrom({
      action: 'invite',
      callId: 'c-2',
      session: {
        media: [
          {
            media: 'audio',
            protocol: 'RTP/AVP',
            address: '192.0.2.20',
            port: 4000,
            codecs: [{ payloadType: 0, name: 'PCMU', clockRate: 8000 }],
          },
        ],
      },
    }),
  );
  const invite = await alice.waitFor(
    fromGhost(bob, dm, (s) => s.type === 'm.call.invite'),
    'the invite',
  );
  t.match(invite.content, { call_id: 'c-2', version: '1', lifetime: 60000, offer: { type: 'offer' } });
  t.match(String((invite.content.offer as { sdp: string }).sdp), /m=audio 4000 RTP\/AVP 0/);
  await alice.send(dm, { call_id: 'c-2', party_id: 'alice-party', version: '1' }, 'm.call.reject');
  const hangup = await delivered(
    (e) => e.kind === 'call' && e.callId === 'c-2' && e.action === 'hangup',
    'reject',
  );
  t.match(hangup, { reason: 'declined', from: 'matrix:u/alice:hs.test' });
});

t.test('a denied call is rejected by the ghost with a notice', async (t) => {
  const eve = ghostOf('eve', 'rival.test');
  const room = alice.seen.find((s) => s.type === 'm.room.member' && s.state_key === eve)?.roomId as string;
  await alice.send(
    room,
    { call_id: 'c-3', party_id: 'p', version: '1', lifetime: 60000, offer: { type: 'offer', sdp: OFFER } },
    'm.call.invite',
  );
  const reject = await alice.waitFor(
    fromGhost(eve, room, (s) => s.type === 'm.call.reject'),
    'the reject',
  );
  t.equal(reject.content.call_id, 'c-3');
  t.notOk(w.corp.delivered.some((d) => d.event.kind === 'call' && d.event.callId === 'c-3'));
});

t.test('every decision is in an intact audit chain', async (t) => {
  await w.audit.flush();
  const result = await verifyLog(w.store.audit);
  t.equal(result.ok, true, JSON.stringify(result));
  const records = await w.store.audit.range(1, 1000);
  t.ok(
    records.some((r) => r.decision === 'deny' && r.rule === 'rival'),
    'the denial is audited',
  );
  t.ok(records.some((r) => r.fromNetwork === 'matrix' && r.toNetwork === 'xmpp' && r.kind === 'message'));
  t.ok(records.some((r) => r.fromNetwork === 'xmpp' && r.toNetwork === 'matrix' && r.kind === 'presence'));
  t.ok(
    records.some((r) => r.kind === 'call' && r.decision === 'deny'),
    'the denied call is audited',
  );
});
