// Every network to every network, end to end (issue 6): one Parley gateway (startGateway,
// a real config, Redis as its store, the audit trail in a PostgreSQL archive) between a
// real Prosody (alice@corp.test), a real Synapse (carol@hs.test) and Kamailio + SIPp
// (bob@partner.test). For each ordered pair of networks and each kind, a real client sends
// and the real client on the other side is checked; where the target cannot carry the kind
// (the adapters' declared capabilities) the cell records what happened instead. Writes
// reports/federation.json (one entry per cell; scripts/federation-table.mjs renders it)
// and verifies the audit chain at the end.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { AuditRecord } from '../../src/core/audit/record.js';
import { verifyLog } from '../../src/core/audit/verify.js';
import type { Network } from '../../src/core/model.js';
import {
  DENY_REASON,
  type Federation,
  GHOSTS,
  type MatrixUser,
  sipKeys,
  startFederation,
  until,
  type XmppUser,
  xmlParse,
  xmppWait,
} from '../fixtures/federation-setup.js';
import { freeUdpPort, startSipp } from '../harness/sip.js';

t.setTimeout(240_000);

type CellKind = 'message' | 'edit' | 'chatstate' | 'receipt' | 'presence' | 'call' | 'denied';
interface Cell {
  from: Network;
  to: Network;
  kind: CellKind;
  ok: boolean;
  degraded: boolean;
  /** false: the source network cannot express the kind at all (nothing to send); never ok. */
  applicable: boolean;
  latencyMs: number | null;
  note: string;
  /** What the audit trail says happened to the cell's events: `decision -> outcome` each. */
  recorded?: string;
}
type Outcome = Omit<Cell, 'from' | 'to' | 'kind' | 'applicable' | 'recorded'>;

const REPORT = resolve(dirname(fileURLToPath(import.meta.url)), '../../reports/federation.json');
const JINGLE = 'urn:xmpp:jingle:1';
const CHATSTATES = 'http://jabber.org/protocol/chatstates';
const MARKERS = 'urn:xmpp:chat-markers:0';
const RECEIPTS = 'urn:xmpp:receipts';
/** What a sender is told when an edit reaches SIP as a new message (the pipeline's notice). */
const EDIT_NOTICE =
  'Your correction was delivered to bob@partner.test as a new message: SIP cannot edit messages.';
const G = GHOSTS;

let f: Federation;
let alice: XmppUser;
let carol: MatrixUser;
const cells: Cell[] = [];
const started = Date.now();

t.before(async () => {
  f = await startFederation();
  alice = f.alice;
  carol = f.carol;
});
t.teardown(async () => {
  mkdirSync(dirname(REPORT), { recursive: true });
  writeFileSync(REPORT, `${JSON.stringify(cells, null, 2)}\n`);
  await f?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Milliseconds since it was made. */
const stopwatch = () => {
  const t0 = performance.now();
  return () => Math.round(performance.now() - t0);
};

/** What a cell's events must be recorded as: every one of them, decision and final outcome. */
interface Recorded {
  decision: AuditRecord['decision'];
  rule?: string;
  outcome: NonNullable<AuditRecord['outcome']>;
  /** Where the cell's records start when its events were sent before it (default: its start). */
  since?: () => number;
  /** How many events end in each outcome, when not all end in `outcome`. */
  outcomes?: Record<string, number>;
}
const DELIVERED: Recorded = { decision: 'allow', outcome: 'delivered' };
const DENIED: Recorded = { decision: 'deny', rule: 'no-top-secrets', outcome: 'denied' };

/** The last record's seq now (pending records written first): a cell's events come after it. */
async function auditMark(): Promise<number> {
  await f.gw.audit.flush();
  return (await f.gw.store.audit.head())?.seq ?? 0;
}

interface EventFate {
  eventId: string;
  decision: string;
  rule: string | null;
  outcome: string;
  outcomeReason: string | null;
}

/**
 * What the trail says happened to each event from `from` to `to` of `kind` recorded after
 * `since`: its decision and final outcome — the outcome record's, or the decision record's
 * own when the outcome was known at decision time. Waits until no event is still pending
 * (outcome records are written after the delivery, without holding it up).
 */
async function recordedFates(since: number, from: Network, to: Network, kind: string): Promise<EventFate[]> {
  let last: EventFate[] = [];
  try {
    return await until(
      async () => {
        await f.gw.audit.flush();
        const records = await f.gw.store.audit.range(since + 1, 100_000);
        last = records
          .filter(
            (r) =>
              r.category === 'decision' && r.fromNetwork === from && r.toNetwork === to && r.kind === kind,
          )
          .map((d) => {
            const o =
              d.outcome === 'pending'
                ? records.find(
                    (r) => r.category === 'outcome' && r.eventId === d.eventId && r.traceId === d.traceId,
                  )
                : d;
            return {
              eventId: d.eventId,
              decision: d.decision,
              rule: d.rule,
              outcome: o?.outcome ?? 'pending',
              outcomeReason: o?.outcomeReason ?? null,
            };
          });
        return last.length > 0 && last.every((e) => e.outcome !== 'pending') ? last : null;
      },
      `the audit records of ${from} -> ${to} ${kind}`,
      10_000,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; recorded: ${JSON.stringify(last)}`);
  }
}

const describeFates = (fates: EventFate[]): string => {
  const counts = new Map<string, number>();
  for (const e of fates) {
    const k = `${e.decision}${e.rule ? ` (${e.rule})` : ''} -> ${e.outcome}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k} x${n}`).join('; ');
};

/**
 * One cell of the matrix: its body checks what the receiving client got and says how it
 * went; then the audit trail must say the same (every event of the cell recorded as
 * `expect`: delivered, or denied by the policy).
 */
function cell(
  from: Network,
  to: Network,
  kind: CellKind,
  body: (t: Test) => Promise<Outcome>,
  expect: Recorded = kind === 'denied' ? DENIED : DELIVERED,
): void {
  t.test(`${from} -> ${to}: ${kind}`, async (t) => {
    try {
      const since = await auditMark();
      const seen = await body(t);
      const eventKind = kind === 'edit' || kind === 'denied' ? 'message' : kind;
      const fates = await recordedFates(expect.since?.() ?? since, from, to, eventKind);
      const want = (e: EventFate) =>
        (e.decision === expect.decision || (expect.decision === 'allow' && e.decision === 'redact')) &&
        (expect.rule === undefined || e.rule === expect.rule) &&
        (expect.outcomes ? e.outcome in expect.outcomes : e.outcome === expect.outcome);
      const wrong = fates.filter((e) => !want(e));
      t.same(wrong, [], `every ${eventKind} event recorded as ${expect.decision} -> ${expect.outcome}`);
      if (expect.outcomes) {
        const counts: Record<string, number> = {};
        for (const e of fates) counts[e.outcome] = (counts[e.outcome] ?? 0) + 1;
        t.same(counts, expect.outcomes, `${eventKind} events by outcome`);
        const same =
          Object.keys(counts).length === Object.keys(expect.outcomes).length &&
          Object.entries(expect.outcomes).every(([k, n]) => counts[k] === n);
        if (!same) wrong.push(...fates);
      }
      const recorded = describeFates(fates);
      cells.push({ from, to, kind, applicable: true, ...seen, ok: seen.ok && wrong.length === 0, recorded });
    } catch (err) {
      const note = `failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
      cells.push({ from, to, kind, ok: false, degraded: false, applicable: true, latencyMs: null, note });
      throw err;
    }
  });
}

/**
 * A cell the source network cannot express at all: there is nothing to send, so nothing
 * to check. Recorded as not applicable (never ok); `note` starts with the short reason.
 */
function notApplicable(from: Network, to: Network, kind: CellKind, note: string): void {
  t.test(`${from} -> ${to}: ${kind} (not applicable)`, async (t) => {
    t.pass(note);
    cells.push({ from, to, kind, ok: false, degraded: false, applicable: false, latencyMs: null, note });
  });
}

// ---- helpers on each network ----

type Stanza = XmppUser['received'][number];
const xmppFrom = (el: Stanza, ghost: string) => el.attrs.from?.split('/')[0] === ghost;
const xmppMessage = (ghost: string, pred: (el: Stanza) => boolean) => (el: Stanza) =>
  el.name === 'message' && el.attrs.type !== 'error' && xmppFrom(el, ghost) && pred(el);
const xmppError = (id: string) => (el: Stanza) =>
  el.name === 'message' && el.attrs.type === 'error' && el.attrs.id === id;
const jingle = (el: Stanza) => el.getChild('jingle', JINGLE) as Stanza | undefined;
const isJingle = (action: string, sid?: string) => (el: Stanza) =>
  el.name === 'iq' &&
  el.attrs.type === 'set' &&
  jingle(el)?.attrs.action === action &&
  (sid === undefined || jingle(el)?.attrs.sid === sid);
const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
const xmppSend = (xml: string) => alice.send(xmlParse(xml));
const xmppNone = async (pred: (el: Stanza) => boolean, from: number, ms = 1000) => {
  await sleep(ms);
  return !alice.received.slice(from).some(pred);
};

type Seen = MatrixUser['seen'][number];
const inRoom = (room: string, sender: string, pred: (s: Seen) => boolean) => (s: Seen) =>
  s.section === 'timeline' && s.roomId === room && s.sender === sender && pred(s);
const bodyIs = (text: string) => (s: Seen) => String(s.content.body ?? '').trim() === text;
const matrixPresence = async (user: string, presence: string, status: string) =>
  until(
    async () => {
      const p = await carol.client.getPresence(user).catch(() => null);
      return p && p.presence === presence && p.status_msg === status ? p : null;
    },
    `${user} ${presence} "${status}"`,
    15_000,
  );

const auditRecords = async (): Promise<AuditRecord[]> => {
  await f.gw.audit.flush();
  return f.gw.store.audit.range(1, 100_000);
};
const kamailioGot = (text: string) => f.kamailio.log().includes(text);

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
  'a=rtpmap:0 PCMU/8000',
  '',
].join('\r\n');
const ANSWER_WEBRTC = OFFER.replace('a=setup:actpass', 'a=setup:active').replace('abcd', 'wxyz');
const ANSWER_RTP = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 40002 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
  'a=sendrecv',
  '',
].join('\r\n');
const JINGLE_CONTENT = `<content creator="initiator" name="voice" senders="both">
  <description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio">
    <payload-type id="111" name="opus" clockrate="48000" channels="2"/>
    <payload-type id="0" name="PCMU" clockrate="8000"/>
    <rtcp-mux/>
  </description>
  <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="8hhy" pwd="asd88fgpdd777uzjYhagZg">
    <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="actpass">02:1A:CC:54</fingerprint>
    <candidate component="1" foundation="1" generation="0" id="c0-0" ip="127.0.0.1" port="40010" priority="2130706431" protocol="udp" type="host"/>
  </transport>
</content>`;
/** alice's answer to a call: the offered contents with her own transport. */
const jingleAnswer = (init: Stanza) =>
  (jingle(init)?.getChildren('content') ?? [])
    .map(
      (c) =>
        `<content creator="initiator" name="${escapeXml(String(c.attrs.name))}" senders="both">
  <description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio"><payload-type id="0" name="PCMU" clockrate="8000"/></description>
  <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="al1c" pwd="alicealicealicealice12">
    <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="active">0A:0B:0C:0D</fingerprint>
    <candidate component="1" foundation="1" generation="0" id="a0" ip="127.0.0.1" port="40020" priority="2130706431" protocol="udp" type="host"/>
  </transport>
</content>`,
    )
    .join('');

/** Matrix ids seen along the way (events the receipts and edits refer to). */
const ids: Record<string, string> = {};

// ============================== message ==============================

cell('xmpp', 'matrix', 'message', async (t) => {
  const sw = stopwatch();
  await xmppSend(
    `<message to="${G.xmpp.carol}" type="chat" id="fx-x2m-1"><body>hello carol, from XMPP</body></message>`,
  );
  const seen = await carol.waitFor(
    inRoom(f.rooms.alice, G.matrix.alice, bodyIs('hello carol, from XMPP')),
    'the XMPP message',
  );
  const ms = sw();
  t.equal(seen.content.msgtype, 'm.text');
  ids.x2m = String(seen.event_id);
  return { ok: true, degraded: false, latencyMs: ms, note: `m.text from ${G.matrix.alice} in carol's DM` };
});

cell('matrix', 'xmpp', 'message', async (t) => {
  const from = alice.received.length;
  const sw = stopwatch();
  ids.m2x = await carol.send(f.rooms.alice, { msgtype: 'm.text', body: 'hello alice, from Matrix' });
  const got = await xmppWait(
    alice,
    xmppMessage(G.xmpp.carol, (el) => el.getChildText('body') === 'hello alice, from Matrix'),
    from,
  );
  const ms = sw();
  t.equal(got.attrs.type, 'chat');
  ids.m2xXmppId = String(got.attrs.id);
  return { ok: true, degraded: false, latencyMs: ms, note: `<message type="chat"> from ${G.xmpp.carol}` };
});

cell('xmpp', 'sip', 'message', async (t) => {
  const phone = await f.phone('message-uas.xml');
  const sw = stopwatch();
  await xmppSend(
    `<message to="${G.xmpp.bob}" type="chat" id="fx-x2s-1"><body>hello bob, from XMPP</body></message>`,
  );
  const r = await phone.done;
  const ms = sw();
  t.equal(r.code, 0, r.code === 0 ? 'the SIP phone took one MESSAGE' : r.messages.slice(-2000));
  t.match(r.messages, /MESSAGE sip:bob@partner\.test SIP\/2\.0[\s\S]*From: <sip:alice@corp\.test>/);
  t.match(r.messages, /Content-Type: text\/plain[\s\S]*hello bob, from XMPP/);
  return {
    ok: r.code === 0,
    degraded: false,
    latencyMs: ms,
    note: 'MESSAGE text/plain from sip:alice@corp.test',
  };
});

cell('sip', 'xmpp', 'message', async (t) => {
  const from = alice.received.length;
  const sw = stopwatch();
  const r = await f.bob('message-uac-200.xml', sipKeys('alice@corp.test', { body: 'hello alice, from SIP' }));
  t.equal(r.code, 0, r.code === 0 ? 'SIPp got 200' : r.messages.slice(-2000));
  const got = await xmppWait(
    alice,
    xmppMessage(G.xmpp.bob, (el) => el.getChildText('body')?.trim() === 'hello alice, from SIP'),
    from,
  );
  const ms = sw();
  t.equal(got.attrs.type, 'chat');
  ids.s2xXmppId = String(got.attrs.id);
  return {
    ok: true,
    degraded: false,
    latencyMs: ms,
    note: `<message type="chat"> from ${G.xmpp.bob}; SIPp got 200`,
  };
});

cell('matrix', 'sip', 'message', async (t) => {
  const phone = await f.phone('message-uas.xml');
  const sw = stopwatch();
  await carol.send(f.rooms.bob, { msgtype: 'm.text', body: 'hello bob, from Matrix' });
  const r = await phone.done;
  const ms = sw();
  t.equal(r.code, 0, r.code === 0 ? 'the SIP phone took one MESSAGE' : r.messages.slice(-2000));
  t.match(r.messages, /MESSAGE sip:bob@partner\.test SIP\/2\.0[\s\S]*From: <sip:carol@hs\.test>/);
  t.match(r.messages, /hello bob, from Matrix/);
  return {
    ok: r.code === 0,
    degraded: false,
    latencyMs: ms,
    note: 'MESSAGE text/plain from sip:carol@hs.test',
  };
});

cell('sip', 'matrix', 'message', async (t) => {
  const sw = stopwatch();
  const r = await f.bob('message-uac-200.xml', sipKeys('carol@hs.test', { body: 'hello carol, from SIP' }));
  t.equal(r.code, 0, r.code === 0 ? 'SIPp got 200' : r.messages.slice(-2000));
  const seen = await carol.waitFor(
    inRoom(f.rooms.bob, G.matrix.bob, bodyIs('hello carol, from SIP')),
    'the SIP message',
  );
  const ms = sw();
  t.equal(seen.content.msgtype, 'm.text');
  ids.s2m = String(seen.event_id);
  return {
    ok: true,
    degraded: false,
    latencyMs: ms,
    note: `m.text from ${G.matrix.bob} in carol's DM; SIPp got 200`,
  };
});

// ============================== edit ==============================

cell('xmpp', 'matrix', 'edit', async (t) => {
  const sw = stopwatch();
  await xmppSend(
    `<message to="${G.xmpp.carol}" type="chat" id="fx-x2m-2"><body>hello carol, corrected</body><replace xmlns="urn:xmpp:message-correct:0" id="fx-x2m-1"/></message>`,
  );
  const seen = await carol.waitFor(
    inRoom(
      f.rooms.alice,
      G.matrix.alice,
      (s) => s.content['m.relates_to'] !== undefined && /corrected/.test(String(s.content.body)),
    ),
    'the edit',
  );
  const ms = sw();
  t.same(seen.content['m.relates_to'], { rel_type: 'm.replace', event_id: ids.x2m });
  t.match(seen.content['m.new_content'], { body: 'hello carol, corrected' });
  return {
    ok: true,
    degraded: false,
    latencyMs: ms,
    note: 'm.replace of the original event (XEP-0308 -> m.new_content)',
  };
});

cell('matrix', 'xmpp', 'edit', async (t) => {
  const from = alice.received.length;
  const sw = stopwatch();
  await carol.send(f.rooms.alice, {
    msgtype: 'm.text',
    body: '* hello alice, corrected',
    'm.new_content': { msgtype: 'm.text', body: 'hello alice, corrected' },
    'm.relates_to': { rel_type: 'm.replace', event_id: ids.m2x },
  });
  const got = await xmppWait(
    alice,
    xmppMessage(G.xmpp.carol, (el) => el.getChildText('body') === 'hello alice, corrected'),
    from,
  );
  const ms = sw();
  t.equal(got.getChild('replace', 'urn:xmpp:message-correct:0')?.attrs.id, ids.m2xXmppId);
  return {
    ok: true,
    degraded: false,
    latencyMs: ms,
    note: 'XEP-0308 <replace> naming the original message id',
  };
});

cell('xmpp', 'sip', 'edit', async (t) => {
  const from = alice.received.length;
  const phone = await f.phone('message-uas.xml');
  const sw = stopwatch();
  await xmppSend(
    `<message to="${G.xmpp.bob}" type="chat" id="fx-x2s-2"><body>hello bob, corrected</body><replace xmlns="urn:xmpp:message-correct:0" id="fx-x2s-1"/></message>`,
  );
  const r = await phone.done;
  const ms = sw();
  t.equal(r.code, 0, r.code === 0 ? 'the SIP phone took one MESSAGE' : r.messages.slice(-2000));
  t.match(r.messages, /\[correction\] hello bob, corrected/);
  const notice = await xmppWait(
    alice,
    xmppMessage(G.xmpp.bob, (el) => /Your correction was delivered/.test(el.getChildText('body') ?? '')),
    from,
    5000,
    'the degradation notice',
  );
  t.equal(notice.getChildText('body'), `[Parley] ${EDIT_NOTICE}`);
  t.equal(notice.attrs.type, 'chat');
  // Told once per period: a second correction to SIP reaches bob without another notice.
  const again = alice.received.length;
  const phone2 = await f.phone('message-uas.xml');
  await xmppSend(
    `<message to="${G.xmpp.bob}" type="chat" id="fx-x2s-3"><body>hello bob, corrected twice</body><replace xmlns="urn:xmpp:message-correct:0" id="fx-x2s-1"/></message>`,
  );
  const r2 = await phone2.done;
  t.match(r2.messages, /\[correction\] hello bob, corrected twice/);
  const quiet = await xmppNone((el) => /Your correction/.test(el.getChildText('body') ?? ''), again, 1000);
  t.ok(quiet, 'no second notice');
  return {
    ok: r.code === 0 && quiet,
    degraded: true,
    latencyMs: ms,
    note: `SIP has no corrections: bob got a new MESSAGE "[correction] hello bob, corrected"; alice was told by a chat message from ${G.xmpp.bob}: "[Parley] ${EDIT_NOTICE}" (once: a second correction brought no second notice)`,
  };
});

cell('matrix', 'sip', 'edit', async (t) => {
  // The original goes to the SIP phone first.
  const first = await f.phone('message-uas.xml');
  const original = await carol.send(f.rooms.bob, { msgtype: 'm.text', body: 'typo for bob' });
  const r0 = await first.done;
  t.equal(r0.code, 0, 'the original reached the phone');
  const phone = await f.phone('message-uas.xml');
  const sw = stopwatch();
  await carol.send(f.rooms.bob, {
    msgtype: 'm.text',
    body: '* fixed for bob',
    'm.new_content': { msgtype: 'm.text', body: 'fixed for bob' },
    'm.relates_to': { rel_type: 'm.replace', event_id: original },
  });
  const r = await phone.done;
  const ms = sw();
  t.equal(r.code, 0, r.code === 0 ? 'the SIP phone took the edit' : r.messages.slice(-2000));
  t.match(r.messages, /\[correction\] fixed for bob/);
  const notice = await carol.waitFor(
    inRoom(
      f.rooms.bob,
      G.matrix.bob,
      (s) => s.content.msgtype === 'm.notice' && /Your correction was delivered/.test(String(s.content.body)),
    ),
    'the degradation notice',
  );
  t.equal(notice.content.body, EDIT_NOTICE);
  return {
    ok: r.code === 0,
    degraded: true,
    latencyMs: ms,
    note: `SIP has no corrections: bob got a new MESSAGE "[correction] fixed for bob"; carol was told by an m.notice from ${G.matrix.bob}: "${EDIT_NOTICE}"`,
  };
});

const SIP_NO_EDITS =
  'SIP has no edits: a SIP MESSAGE (RFC 3428) cannot correct an earlier one, so a SIP user has no edit to send';
notApplicable('sip', 'xmpp', 'edit', SIP_NO_EDITS);
notApplicable('sip', 'matrix', 'edit', SIP_NO_EDITS);

// ============================== chatstate ==============================

const typingIn = (room: string, ghost: string) => (s: Seen) =>
  s.roomId === room &&
  s.type === 'm.typing' &&
  ((s.content.user_ids as string[] | undefined) ?? []).includes(ghost);

cell('xmpp', 'matrix', 'chatstate', async () => {
  const sw = stopwatch();
  await xmppSend(
    `<message to="${G.xmpp.carol}" type="chat" id="fx-cs-x2m"><composing xmlns="${CHATSTATES}"/></message>`,
  );
  await carol.waitFor(typingIn(f.rooms.alice, G.matrix.alice), 'the ghost typing');
  return { ok: true, degraded: false, latencyMs: sw(), note: `m.typing with ${G.matrix.alice}` };
});

cell('matrix', 'xmpp', 'chatstate', async (t) => {
  const from = alice.received.length;
  const sw = stopwatch();
  await carol.client.sendTyping(f.rooms.alice, true, 10_000);
  const got = await xmppWait(
    alice,
    xmppMessage(G.xmpp.carol, (el) => el.getChild('composing', CHATSTATES) !== undefined),
    from,
  );
  const ms = sw();
  t.notOk(got.getChild('body'), 'a chat state, not a message');
  await carol.client.sendTyping(f.rooms.alice, false, 0);
  return { ok: true, degraded: false, latencyMs: ms, note: 'XEP-0085 <composing/>' };
});

cell('xmpp', 'sip', 'chatstate', async (t) => {
  const phone = await f.phone('message-uas.xml');
  const sw = stopwatch();
  await xmppSend(
    `<message to="${G.xmpp.bob}" type="chat" id="fx-cs-x2s"><composing xmlns="${CHATSTATES}"/></message>`,
  );
  const r = await phone.done;
  const ms = sw();
  t.equal(r.code, 0, r.code === 0 ? 'the phone took the isComposing MESSAGE' : r.messages.slice(-2000));
  t.match(r.messages, /Content-Type: application\/im-iscomposing\+xml[\s\S]*<state>active<\/state>/);
  return {
    ok: r.code === 0,
    degraded: false,
    latencyMs: ms,
    note: 'MESSAGE application/im-iscomposing+xml, state active (RFC 3994)',
  };
});

cell('matrix', 'sip', 'chatstate', async (t) => {
  const phone = await f.phone('message-uas.xml');
  const sw = stopwatch();
  await carol.client.sendTyping(f.rooms.bob, true, 10_000);
  const r = await phone.done;
  const ms = sw();
  t.equal(r.code, 0, r.code === 0 ? 'the phone took the isComposing MESSAGE' : r.messages.slice(-2000));
  t.match(r.messages, /From: <sip:carol@hs\.test>[\s\S]*<state>active<\/state>/);
  // Stop typing; the "paused" isComposing it causes is answered by Kamailio's relay to nobody.
  const idle = await f.phone('message-uas.xml');
  await carol.client.sendTyping(f.rooms.bob, false, 0);
  await idle.done;
  return {
    ok: r.code === 0,
    degraded: false,
    latencyMs: ms,
    note: 'MESSAGE application/im-iscomposing+xml, state active (RFC 3994)',
  };
});

cell('sip', 'xmpp', 'chatstate', async (t) => {
  const from = alice.received.length;
  const sw = stopwatch();
  const r = await f.bob('iscomposing-uac.xml', sipKeys('alice@corp.test', { state: 'active' }));
  t.equal(r.code, 0, r.code === 0 ? 'SIPp got 200' : r.messages.slice(-2000));
  await xmppWait(
    alice,
    xmppMessage(G.xmpp.bob, (el) => el.getChild('composing', CHATSTATES) !== undefined),
    from,
  );
  return {
    ok: true,
    degraded: false,
    latencyMs: sw(),
    note: 'XEP-0085 <composing/> from the isComposing MESSAGE',
  };
});

cell('sip', 'matrix', 'chatstate', async (t) => {
  const sw = stopwatch();
  const r = await f.bob('iscomposing-uac.xml', sipKeys('carol@hs.test', { state: 'active' }));
  t.equal(r.code, 0, r.code === 0 ? 'SIPp got 200' : r.messages.slice(-2000));
  await carol.waitFor(typingIn(f.rooms.bob, G.matrix.bob), 'the ghost typing');
  return { ok: true, degraded: false, latencyMs: sw(), note: `m.typing with ${G.matrix.bob}` };
});

// ============================== receipt ==============================

cell('xmpp', 'matrix', 'receipt', async () => {
  const sw = stopwatch();
  await xmppSend(
    `<message to="${G.xmpp.carol}" type="chat" id="fx-rc-x2m"><displayed xmlns="${MARKERS}" id="${escapeXml(ids.m2xXmppId ?? '')}"/></message>`,
  );
  await carol.waitFor(
    (s) =>
      s.roomId === f.rooms.alice &&
      s.type === 'm.receipt' &&
      Boolean(
        (s.content[ids.m2x ?? ''] as Record<string, Record<string, unknown>> | undefined)?.['m.read']?.[
          G.matrix.alice
        ],
      ),
    'the read receipt',
  );
  return {
    ok: true,
    degraded: false,
    latencyMs: sw(),
    note: "XEP-0333 displayed -> m.receipt m.read on carol's event",
  };
});

cell('matrix', 'xmpp', 'receipt', async () => {
  const from = alice.received.length;
  const sw = stopwatch();
  await carol.readReceipt(f.rooms.alice, ids.x2m ?? '');
  await xmppWait(
    alice,
    xmppMessage(G.xmpp.carol, (el) => el.getChild('displayed', MARKERS)?.attrs.id === 'fx-x2m-1'),
    from,
  );
  return {
    ok: true,
    degraded: false,
    latencyMs: sw(),
    note: "m.read -> XEP-0333 <displayed id> of alice's message",
  };
});

/** The trace of a SIPp UAS on bob's phone port that must receive nothing (it times out). */
async function phoneGetsNothing(send: () => Promise<void>): Promise<boolean> {
  const idle = startSipp({ scenario: 'message-uas.xml', port: f.phonePort, timeoutS: 3 });
  await sleep(300);
  await send();
  const r = await idle.done;
  return !/MESSAGE sip:bob@partner\.test/.test(r.messages);
}

// Receipts and SIP travel as IMDN (RFC 5438) where the SIP user asked for them: bob's
// client sends message/cpim with an imdn.Message-ID and imdn.Disposition-Notification;
// receipts for his plain text/plain messages are not carried (docs/decisions/0006).

cell(
  'xmpp',
  'sip',
  'receipt',
  async (t) => {
    const from = alice.received.length;
    const r0 = await f.bob(
      '../federation-sipp/message-imdn-uac.xml',
      sipKeys('alice@corp.test', { message_id: 'fx-imdn-s2x', body: 'bob asks alice for receipts' }),
    );
    t.equal(r0.code, 0, r0.code === 0 ? 'SIPp got 200 for its CPIM MESSAGE' : r0.messages.slice(-2000));
    const got = await xmppWait(
      alice,
      xmppMessage(G.xmpp.bob, (el) => el.getChildText('body')?.trim() === 'bob asks alice for receipts'),
      from,
    );
    t.equal(got.attrs.id, 'fx-imdn-s2x', "bob's imdn.Message-ID is the id alice's client acknowledges");
    t.ok(got.getChild('request', RECEIPTS), 'alice is asked for a receipt (XEP-0184)');
    t.ok(got.getChild('markable', MARKERS), 'and for a displayed marker (XEP-0333)');
    const phone = startSipp({ scenario: 'message-uas.xml', port: f.phonePort, calls: 2, timeoutS: 15 });
    await sleep(300);
    const sw = stopwatch();
    await xmppSend(
      `<message to="${G.xmpp.bob}" id="fx-rc-x2s-d"><received xmlns="${RECEIPTS}" id="fx-imdn-s2x"/></message>`,
    );
    await xmppSend(
      `<message to="${G.xmpp.bob}" type="chat" id="fx-rc-x2s"><displayed xmlns="${MARKERS}" id="fx-imdn-s2x"/></message>`,
    );
    const r = await phone.done;
    const ms = sw();
    t.equal(r.code, 0, r.code === 0 ? 'the phone took two IMDNs' : r.messages.slice(-3000));
    t.match(r.messages, /MESSAGE sip:bob@partner\.test[\s\S]*From: <sip:alice@corp\.test>/);
    t.match(r.messages, /Content-Type: message\/cpim[\s\S]*Content-Type: message\/imdn\+xml/);
    t.match(r.messages, /Content-Disposition: notification/);
    t.match(
      r.messages,
      /<message-id>fx-imdn-s2x<\/message-id>[\s\S]*<delivery-notification><status><delivered\/>/,
    );
    t.match(r.messages, /<datetime>2026-12-01T08:00:00Z<\/datetime>/, "the original's DateTime is echoed");
    t.match(
      r.messages,
      /<message-id>fx-imdn-s2x<\/message-id>[\s\S]*<display-notification><status><displayed\/>/,
    );
    // bob's earlier plain text/plain message asked for nothing: its receipt is not carried.
    const quietFrom = alice.received.length;
    const nothing = await phoneGetsNothing(() =>
      xmppSend(
        `<message to="${G.xmpp.bob}" type="chat" id="fx-rc-x2s-plain"><displayed xmlns="${MARKERS}" id="${escapeXml(ids.s2xXmppId ?? 'x')}"/></message>`,
      ),
    );
    t.ok(nothing, 'no IMDN for a message that did not ask for one');
    t.ok(await xmppNone((el) => xmppFrom(el, G.xmpp.bob), quietFrom, 300), 'alice is not told about it');
    return {
      ok: r.code === 0 && nothing,
      degraded: false,
      latencyMs: ms,
      note: 'XEP-0184 <received/> and XEP-0333 <displayed/> -> IMDN (RFC 5438) positive-delivery and display in message/cpim, for a message that asked for them; a receipt for a plain text/plain message is not sent and alice is not told (decision 0006)',
    };
  },
  // The receipt for a message that asked for none is recorded as not sent (unsupported).
  { ...DELIVERED, outcomes: { delivered: 2, unsupported: 1 } },
);

cell(
  'matrix',
  'sip',
  'receipt',
  async (t) => {
    const r0 = await f.bob(
      '../federation-sipp/message-imdn-uac.xml',
      sipKeys('carol@hs.test', { message_id: 'fx-imdn-s2m', body: 'bob asks carol for receipts' }),
    );
    t.equal(r0.code, 0, r0.code === 0 ? 'SIPp got 200 for its CPIM MESSAGE' : r0.messages.slice(-2000));
    const seen = await carol.waitFor(
      inRoom(f.rooms.bob, G.matrix.bob, bodyIs('bob asks carol for receipts')),
      "bob's CPIM message",
    );
    const seenBefore = carol.seen.length;
    // bob's earlier plain message asked for nothing: carol's read receipt for it is not carried.
    const nothing = await phoneGetsNothing(() => carol.readReceipt(f.rooms.bob, ids.s2m ?? ''));
    t.ok(nothing, 'no IMDN for a message that did not ask for one');
    const phone = await f.phone('message-uas.xml');
    const sw = stopwatch();
    await carol.readReceipt(f.rooms.bob, String(seen.event_id));
    const r = await phone.done;
    const ms = sw();
    t.equal(r.code, 0, r.code === 0 ? 'the phone took the IMDN' : r.messages.slice(-3000));
    t.match(r.messages, /From: <sip:carol@hs\.test>[\s\S]*Content-Type: message\/cpim/);
    t.match(
      r.messages,
      /Content-Type: message\/imdn\+xml[\s\S]*<message-id>fx-imdn-s2m<\/message-id>[\s\S]*<display-notification><status><displayed\/>/,
    );
    await sleep(300);
    const told = carol.seen
      .slice(seenBefore)
      .some((s) => s.roomId === f.rooms.bob && s.sender === G.matrix.bob && s.content.msgtype === 'm.notice');
    t.notOk(told, 'carol is not told about the receipt that was not carried');
    return {
      ok: r.code === 0 && nothing && !told,
      degraded: false,
      latencyMs: ms,
      note: 'm.read -> IMDN (RFC 5438) display in message/cpim, for a message that asked for it (Matrix has no delivery receipts); a receipt for a plain text/plain message is not sent and carol is not told (decision 0006)',
    };
  },
  // The receipt for a message that asked for none is recorded as not sent (unsupported).
  { ...DELIVERED, outcomes: { delivered: 1, unsupported: 1 } },
);

/**
 * The CPIM MESSAGE bob's phone got from Parley asks for the notifications the sender can
 * take back (`asked`); returns its imdn.Message-ID.
 */
function imdnRequested(t: Test, messages: string, text: string, asked: string): string {
  t.match(messages, /Content-Type: message\/cpim/, 'bob speaks IMDN (he asked for it): Parley sends CPIM');
  t.match(messages, new RegExp(`imdn\\.Disposition-Notification: ${asked}\\r?\\n`), `it asks for ${asked}`);
  t.match(messages, new RegExp(`Content-Type: text/plain[\\s\\S]*${text}`));
  const id = /imdn\.Message-ID: (\S+)/.exec(messages)?.[1];
  if (!id) throw new Error('no imdn.Message-ID in the MESSAGE to bob');
  return id;
}

cell('sip', 'xmpp', 'receipt', async (t) => {
  const phone = await f.phone('message-uas.xml');
  await xmppSend(
    `<message to="${G.xmpp.bob}" type="chat" id="fx-imdn-x2s"><body>alice asks bob for receipts</body><request xmlns="${RECEIPTS}"/><markable xmlns="${MARKERS}"/></message>`,
  );
  const r0 = await phone.done;
  t.equal(r0.code, 0, r0.code === 0 ? 'the phone took the MESSAGE' : r0.messages.slice(-2000));
  const mid = imdnRequested(t, r0.messages, 'alice asks bob for receipts', 'positive-delivery, display');
  t.equal(mid, 'fx-imdn-x2s', "alice's message id is its imdn.Message-ID");
  const from = alice.received.length;
  const sw = stopwatch();
  for (const [kind, status] of [
    ['delivery', 'delivered'],
    ['display', 'displayed'],
  ] as const) {
    const r = await f.bob(
      '../federation-sipp/imdn-uac.xml',
      sipKeys('alice@corp.test', { imdn_id: `fx-imdn-n-${status}`, message_id: mid, kind, status }),
    );
    t.equal(r.code, 0, r.code === 0 ? `SIPp's ${status} IMDN got 200` : r.messages.slice(-2000));
  }
  await xmppWait(
    alice,
    xmppMessage(G.xmpp.bob, (el) => el.getChild('received', RECEIPTS)?.attrs.id === 'fx-imdn-x2s'),
    from,
    10_000,
    'the XEP-0184 receipt',
  );
  await xmppWait(
    alice,
    xmppMessage(G.xmpp.bob, (el) => el.getChild('displayed', MARKERS)?.attrs.id === 'fx-imdn-x2s'),
    from,
    10_000,
    'the XEP-0333 displayed marker',
  );
  return {
    ok: true,
    degraded: false,
    latencyMs: sw(),
    note: "IMDN positive-delivery and display -> XEP-0184 <received/> and XEP-0333 <displayed/> for alice's message (sent to bob in message/cpim asking for them; latency: both IMDNs, SIPp start included)",
  };
});

cell('sip', 'matrix', 'receipt', async (t) => {
  const phone = await f.phone('message-uas.xml');
  const eventId = await carol.send(f.rooms.bob, { msgtype: 'm.text', body: 'carol asks bob for receipts' });
  const r0 = await phone.done;
  t.equal(r0.code, 0, r0.code === 0 ? 'the phone took the MESSAGE' : r0.messages.slice(-2000));
  // Matrix has read receipts only, so only display is asked for.
  const mid = imdnRequested(t, r0.messages, 'carol asks bob for receipts', 'display');
  const sw = stopwatch();
  const r = await f.bob(
    '../federation-sipp/imdn-uac.xml',
    sipKeys('carol@hs.test', {
      imdn_id: 'fx-imdn-n-m',
      message_id: mid,
      kind: 'display',
      status: 'displayed',
    }),
  );
  t.equal(r.code, 0, r.code === 0 ? "SIPp's IMDN got 200" : r.messages.slice(-2000));
  await carol.waitFor(
    (s) =>
      s.roomId === f.rooms.bob &&
      s.type === 'm.receipt' &&
      Boolean(
        (s.content[eventId] as Record<string, Record<string, unknown>> | undefined)?.['m.read']?.[
          G.matrix.bob
        ],
      ),
    'the read receipt',
  );
  return {
    ok: true,
    degraded: false,
    latencyMs: sw(),
    note: "IMDN display -> m.receipt m.read by the ghost on carol's event (a delivery IMDN has no Matrix counterpart; latency: the IMDN, SIPp start included)",
  };
});

// ============================== presence ==============================

cell('xmpp', 'matrix', 'presence', async () => {
  const sw = stopwatch();
  await xmppSend('<presence><show>away</show><status>fed x2m</status></presence>');
  await matrixPresence(G.matrix.alice, 'unavailable', 'fed x2m');
  return {
    ok: true,
    degraded: false,
    latencyMs: sw(),
    note: 'away + status -> ghost presence unavailable + status_msg',
  };
});

/** bob's SIP phone subscribes (through Kamailio) to a user of another network and waits for two NOTIFYs. */
async function sipWatch(t: Test, target: string, change: () => Promise<void>, note: RegExp) {
  const watcher = startSipp({
    scenario: 'subscribe-uac.xml',
    port: f.phonePort,
    target: `127.0.0.1:${f.kamailio.port}`,
    keys: sipKeys(target),
    timeoutS: 15,
  });
  await until(
    async () => (await f.sip.presence.count(`sip:${target}`)) === 1,
    `bob subscribed to ${target}`,
    10_000,
  );
  await sleep(300); // the initial NOTIFY is answered
  const sw = stopwatch();
  await change();
  const r = await watcher.done;
  const ms = sw();
  t.equal(r.code, 0, r.code === 0 ? 'SIPp subscription flow completed' : r.messages.slice(-3000));
  t.match(r.messages, /NOTIFY sip:bob@127\.0\.0\.1:\d+ SIP\/2\.0[\s\S]*application\/pidf\+xml/);
  t.match(r.messages, note);
  return { ms, ok: r.code === 0 && note.test(r.messages) };
}

cell('xmpp', 'sip', 'presence', async (t) => {
  const { ms, ok } = await sipWatch(
    t,
    'alice@corp.test',
    () => xmppSend('<presence><show>dnd</show><status>fed x2s</status></presence>'),
    /<note>fed x2s<\/note>/,
  );
  return { ok, degraded: false, latencyMs: ms, note: 'SUBSCRIBE/NOTIFY with PIDF (basic open, note)' };
});

cell('matrix', 'xmpp', 'presence', async (t) => {
  const from = alice.received.length;
  const sw = stopwatch();
  await carol.client.setPresence({ presence: 'unavailable', status_msg: 'fed m2x' });
  const got = await xmppWait(
    alice,
    (el) => el.name === 'presence' && xmppFrom(el, G.xmpp.carol) && el.getChildText('status') === 'fed m2x',
    from,
    15_000,
  );
  const ms = sw();
  t.equal(got.getChildText('show'), 'away');
  return {
    ok: true,
    degraded: false,
    latencyMs: ms,
    note: 'unavailable + status_msg -> <show>away</show><status>',
  };
});

cell('matrix', 'sip', 'presence', async (t) => {
  const { ms, ok } = await sipWatch(
    t,
    'carol@hs.test',
    () => carol.client.setPresence({ presence: 'online', status_msg: 'fed m2s' }),
    /<basic>open<\/basic>[\s\S]*<note>fed m2s<\/note>|<note>fed m2s<\/note>[\s\S]*<basic>open<\/basic>/,
  );
  return {
    ok,
    degraded: false,
    latencyMs: ms,
    note: 'online + status_msg -> NOTIFY with PIDF (basic open, note)',
  };
});

// One PUBLISH from bob reaches both of his watchers (alice and carol sent him presence above).
let publish: Promise<{ code: number | null; messages: string }> | null = null;
let publishClock: () => number = () => 0;
/** The audit head before the PUBLISH: both cells' presence events come after it. */
let publishMark = 0;
const publishOnce = async () => {
  if (!publish) {
    publishMark = await auditMark();
    publishClock = stopwatch();
    publish = f.bob('publish-uac.xml', { from_user: 'bob', from_domain: 'partner.test', note: 'fed s2any' });
  }
  return publish as Promise<{ code: number | null; messages: string }>;
};

cell('sip', 'xmpp', 'presence', async (t) => {
  const from = alice.received.length;
  const r = await publishOnce();
  t.equal(r.code, 0, r.code === 0 ? 'PUBLISH answered 200' : r.messages.slice(-2000));
  const got = await xmppWait(
    alice,
    (el) => el.name === 'presence' && xmppFrom(el, G.xmpp.bob) && el.getChildText('status') === 'fed s2any',
    from,
    15_000,
  );
  const ms = publishClock();
  t.equal(got.getChildText('show'), 'dnd', 'on-the-phone shows as dnd');
  return {
    ok: true,
    degraded: false,
    latencyMs: ms,
    note: 'PUBLISH (PIDF, rpid on-the-phone) -> <show>dnd</show><status>',
  };
});

cell(
  'sip',
  'matrix',
  'presence',
  async (t) => {
    const r = await publishOnce();
    t.equal(r.code, 0);
    await matrixPresence(G.matrix.bob, 'unavailable', 'fed s2any');
    return {
      ok: true,
      degraded: false,
      latencyMs: publishClock(),
      note: 'PUBLISH (PIDF) -> ghost presence unavailable + status_msg (latency counted from the PUBLISH)',
    };
  },
  { ...DELIVERED, since: () => publishMark },
);

// ============================== call ==============================

const callEvent = (room: string, ghost: string, type: string, callId?: string) => (s: Seen) =>
  s.section === 'timeline' &&
  s.roomId === room &&
  s.sender === ghost &&
  s.type === type &&
  (callId === undefined || s.content.call_id === callId);
const matrixCall = { party_id: 'carol-party', version: '1' };

cell('xmpp', 'matrix', 'call', async (t) => {
  const from = alice.received.length;
  const sw = stopwatch();
  const ack = await alice.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="${G.xmpp.carol}" id="fx-j-x2m-1"><jingle xmlns="${JINGLE}" action="session-initiate" initiator="alice@corp.test/test" sid="fx-call-x2m">${JINGLE_CONTENT}</jingle></iq>`,
    ),
  );
  t.equal(ack.attrs.type, 'result');
  const invite = await carol.waitFor(
    callEvent(f.rooms.alice, G.matrix.alice, 'm.call.invite'),
    'm.call.invite',
  );
  const ms = sw();
  const callId = String(invite.content.call_id);
  t.match(String((invite.content.offer as { sdp?: string } | undefined)?.sdp), /a=rtpmap:111 opus\/48000\/2/);
  await carol.send(
    f.rooms.alice,
    { ...matrixCall, call_id: callId, answer: { type: 'answer', sdp: ANSWER_WEBRTC } },
    'm.call.answer',
  );
  const accept = await xmppWait(
    alice,
    (el) => xmppFrom(el, G.xmpp.carol) && isJingle('session-accept', 'fx-call-x2m')(el),
    from,
  );
  t.match(accept.toString(), /name="opus"/);
  await alice.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="${G.xmpp.carol}" id="fx-j-x2m-2"><jingle xmlns="${JINGLE}" action="session-terminate" sid="fx-call-x2m"><reason><success/></reason></jingle></iq>`,
    ),
  );
  await carol.waitFor(callEvent(f.rooms.alice, G.matrix.alice, 'm.call.hangup', callId), 'm.call.hangup');
  return {
    ok: true,
    degraded: false,
    latencyMs: ms,
    note: 'Jingle session-initiate/accept/terminate <-> m.call.invite/answer/hangup (latency: the invite)',
  };
});

cell('matrix', 'xmpp', 'call', async (t) => {
  const from = alice.received.length;
  const sw = stopwatch();
  await carol.send(
    f.rooms.alice,
    { ...matrixCall, call_id: 'fx-call-m2x', lifetime: 60_000, offer: { type: 'offer', sdp: OFFER } },
    'm.call.invite',
  );
  const init = await xmppWait(
    alice,
    (el) => xmppFrom(el, G.xmpp.carol) && isJingle('session-initiate')(el),
    from,
  );
  const ms = sw();
  const sid = String(jingle(init)?.attrs.sid);
  const ghostFull = String(init.attrs.from);
  t.match(init.toString(), /name="opus"/);
  await alice.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="${ghostFull}" id="fx-j-m2x-1"><jingle xmlns="${JINGLE}" action="session-accept" responder="alice@corp.test/test" sid="${escapeXml(sid)}">${jingleAnswer(init)}</jingle></iq>`,
    ),
  );
  const answer = await carol.waitFor(
    callEvent(f.rooms.alice, G.matrix.alice, 'm.call.answer', 'fx-call-m2x'),
    'm.call.answer',
  );
  t.match(String((answer.content.answer as { sdp?: string } | undefined)?.sdp), /a=rtpmap:0 PCMU\/8000/);
  await carol.send(
    f.rooms.alice,
    { ...matrixCall, call_id: 'fx-call-m2x', reason: 'user_hangup' },
    'm.call.hangup',
  );
  await xmppWait(alice, (el) => xmppFrom(el, G.xmpp.carol) && isJingle('session-terminate', sid)(el), from);
  return {
    ok: true,
    degraded: false,
    latencyMs: ms,
    note: 'm.call.invite/answer/hangup <-> Jingle session-initiate/accept/terminate (latency: the invite)',
  };
});

cell('xmpp', 'sip', 'call', async (t) => {
  const from = alice.received.length;
  const phone = await f.phone('invite-uas.xml');
  const sw = stopwatch();
  await alice.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="${G.xmpp.bob}" id="fx-j-x2s-1"><jingle xmlns="${JINGLE}" action="session-initiate" initiator="alice@corp.test/test" sid="fx-call-x2s">${JINGLE_CONTENT}</jingle></iq>`,
    ),
  );
  const accept = await xmppWait(
    alice,
    (el) => xmppFrom(el, G.xmpp.bob) && isJingle('session-accept', 'fx-call-x2s')(el),
    from,
  );
  const ms = sw();
  t.match(accept.toString(), /name="PCMA"/, "the SIP phone's answer (PCMA) reached alice");
  await xmppWait(
    alice,
    (el) => xmppFrom(el, G.xmpp.bob) && isJingle('session-info', 'fx-call-x2s')(el),
    from,
    2000,
    'the 180 as a Jingle session-info (ringing)',
  );
  await alice.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="${G.xmpp.bob}" id="fx-j-x2s-2"><jingle xmlns="${JINGLE}" action="session-terminate" sid="fx-call-x2s"><reason><success/></reason></jingle></iq>`,
    ),
  );
  const r = await phone.done;
  t.equal(r.code, 0, r.code === 0 ? 'the SIP phone: INVITE, ACK, BYE' : r.messages.slice(-3000));
  t.match(r.messages, /INVITE sip:bob@partner\.test SIP\/2\.0[\s\S]*m=audio/);
  t.match(r.messages, /BYE sip:callee@127\.0\.0\.1/);
  return {
    ok: r.code === 0,
    degraded: false,
    latencyMs: ms,
    note: 'Jingle initiate/terminate <-> INVITE/180/200/ACK/BYE with SDP (latency: invite to answer)',
  };
});

cell('sip', 'xmpp', 'call', async (t) => {
  const from = alice.received.length;
  const sw = stopwatch();
  const caller = startSipp({
    scenario: '../federation-sipp/invite-uac.xml',
    port: await freeUdpPort(),
    target: `127.0.0.1:${f.kamailio.port}`,
    keys: sipKeys('alice@corp.test'),
    timeoutS: 15,
  });
  const init = await xmppWait(
    alice,
    (el) => xmppFrom(el, G.xmpp.bob) && isJingle('session-initiate')(el),
    from,
  );
  const ms = sw();
  const sid = escapeXml(String(jingle(init)?.attrs.sid));
  const ghostFull = String(init.attrs.from);
  t.match(init.toString(), /name="PCMU"/);
  await alice.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="${ghostFull}" id="fx-j-s2x-1"><jingle xmlns="${JINGLE}" action="session-info" sid="${sid}"><ringing xmlns="urn:xmpp:jingle:apps:rtp:info:1"/></jingle></iq>`,
    ),
  );
  await alice.client.iqCaller.request(
    xmlParse(
      `<iq type="set" to="${ghostFull}" id="fx-j-s2x-2"><jingle xmlns="${JINGLE}" action="session-accept" responder="alice@corp.test/test" sid="${sid}">${jingleAnswer(init)}</jingle></iq>`,
    ),
  );
  await xmppWait(alice, (el) => xmppFrom(el, G.xmpp.bob) && isJingle('session-terminate')(el), from);
  const r = await caller.done;
  t.equal(r.code, 0, r.code === 0 ? 'SIPp: 180, 200, ACK, BYE answered' : r.messages.slice(-3000));
  t.match(r.messages, /SIP\/2\.0 180 Ringing/);
  t.match(r.messages, /SIP\/2\.0 200 OK[\s\S]*m=audio \d+ [A-Z/]+ 0\b/, "alice's PCMU answer");
  return {
    ok: r.code === 0,
    degraded: false,
    latencyMs: ms,
    note: 'INVITE/180/200/ACK/BYE <-> Jingle initiate/ringing/accept/terminate (latency: the invite)',
  };
});

cell('matrix', 'sip', 'call', async (t) => {
  const phone = await f.phone('invite-uas.xml');
  const sw = stopwatch();
  await carol.send(
    f.rooms.bob,
    { ...matrixCall, call_id: 'fx-call-m2s', lifetime: 60_000, offer: { type: 'offer', sdp: OFFER } },
    'm.call.invite',
  );
  const answer = await carol.waitFor(
    callEvent(f.rooms.bob, G.matrix.bob, 'm.call.answer', 'fx-call-m2s'),
    'm.call.answer',
  );
  const ms = sw();
  t.match(String((answer.content.answer as { sdp?: string } | undefined)?.sdp), /PCMA/);
  await carol.send(
    f.rooms.bob,
    { ...matrixCall, call_id: 'fx-call-m2s', reason: 'user_hangup' },
    'm.call.hangup',
  );
  const r = await phone.done;
  t.equal(r.code, 0, r.code === 0 ? 'the SIP phone: INVITE, ACK, BYE' : r.messages.slice(-3000));
  t.match(r.messages, /INVITE sip:bob@partner\.test SIP\/2\.0[\s\S]*From: <sip:carol@hs\.test>/);
  return {
    ok: r.code === 0,
    degraded: false,
    latencyMs: ms,
    note: 'm.call.invite/answer/hangup <-> INVITE/200/ACK/BYE with SDP (latency: invite to answer)',
  };
});

cell('sip', 'matrix', 'call', async (t) => {
  const sw = stopwatch();
  const caller = startSipp({
    scenario: '../federation-sipp/invite-uac.xml',
    port: await freeUdpPort(),
    target: `127.0.0.1:${f.kamailio.port}`,
    keys: sipKeys('carol@hs.test'),
    timeoutS: 15,
  });
  const invite = await carol.waitFor(callEvent(f.rooms.bob, G.matrix.bob, 'm.call.invite'), 'm.call.invite');
  const ms = sw();
  const callId = String(invite.content.call_id);
  t.match(String((invite.content.offer as { sdp?: string } | undefined)?.sdp), /PCMU/);
  await carol.send(
    f.rooms.bob,
    { ...matrixCall, call_id: callId, answer: { type: 'answer', sdp: ANSWER_RTP } },
    'm.call.answer',
  );
  await carol.waitFor(callEvent(f.rooms.bob, G.matrix.bob, 'm.call.hangup', callId), 'm.call.hangup');
  const r = await caller.done;
  t.equal(r.code, 0, r.code === 0 ? 'SIPp: 200, ACK, BYE answered' : r.messages.slice(-3000));
  t.match(r.messages, /SIP\/2\.0 200 OK[\s\S]*m=audio 40002 /);
  return {
    ok: r.code === 0,
    degraded: false,
    latencyMs: ms,
    note: 'INVITE/200/ACK/BYE <-> m.call.invite/answer/hangup; Matrix has no ringing, so no 180 (latency: the invite)',
  };
});

// ============================== denied ==============================

cell('xmpp', 'matrix', 'denied', async (t) => {
  const from = alice.received.length;
  const sw = stopwatch();
  await xmppSend(
    `<message to="${G.xmpp.carol}" type="chat" id="fx-deny-x2m"><body>the top secret plan</body></message>`,
  );
  const err = await xmppWait(alice, xmppError('fx-deny-x2m'), from);
  const ms = sw();
  t.ok(err.getChild('error')?.getChild('policy-violation', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
  t.equal(err.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas'), DENY_REASON);
  await sleep(500);
  t.notOk(
    carol.seen.some((s) => /top secret/.test(String(s.content.body ?? ''))),
    'carol got nothing',
  );
  return {
    ok: true,
    degraded: false,
    latencyMs: ms,
    note: `alice got <policy-violation/> "${DENY_REASON}"; carol nothing`,
  };
});

cell('matrix', 'xmpp', 'denied', async (t) => {
  const from = alice.received.length;
  const sw = stopwatch();
  await carol.send(f.rooms.alice, { msgtype: 'm.text', body: 'top secret for alice' });
  const notice = await carol.waitFor(
    inRoom(
      f.rooms.alice,
      G.matrix.alice,
      (s) => s.content.msgtype === 'm.notice' && String(s.content.body).includes(DENY_REASON),
    ),
    'the refusal notice',
  );
  const ms = sw();
  t.match(notice.content.body, /^Not delivered: /);
  t.ok(await xmppNone((el) => /top secret/.test(el.toString()), from, 500), 'alice got nothing');
  return {
    ok: true,
    degraded: false,
    latencyMs: ms,
    note: `carol got an m.notice "Not delivered: ${DENY_REASON}"; alice nothing`,
  };
});

cell('xmpp', 'sip', 'denied', async (t) => {
  const from = alice.received.length;
  const sw = stopwatch();
  await xmppSend(
    `<message to="${G.xmpp.bob}" type="chat" id="fx-deny-x2s"><body>top secret for bob</body></message>`,
  );
  const err = await xmppWait(alice, xmppError('fx-deny-x2s'), from);
  const ms = sw();
  t.ok(err.getChild('error')?.getChild('policy-violation', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
  await sleep(500);
  t.notOk(kamailioGot('top secret for bob'), 'nothing reached the SIP side');
  return {
    ok: true,
    degraded: false,
    latencyMs: ms,
    note: `alice got <policy-violation/> "${DENY_REASON}"; nothing reached Kamailio`,
  };
});

cell('sip', 'xmpp', 'denied', async (t) => {
  const from = alice.received.length;
  const sw = stopwatch();
  const r = await f.bob('message-uac-403.xml', sipKeys('alice@corp.test', { body: 'top secret from bob' }));
  const ms = sw();
  t.equal(r.code, 0, r.code === 0 ? 'SIPp got its 403' : r.messages.slice(-2000));
  t.match(r.messages, new RegExp(`SIP/2\\.0 403 ${DENY_REASON}`));
  t.ok(await xmppNone((el) => /top secret/.test(el.toString()), from, 500), 'alice got nothing');
  return {
    ok: r.code === 0,
    degraded: false,
    latencyMs: ms,
    note: `bob got 403 "${DENY_REASON}" (via Kamailio); alice nothing`,
  };
});

cell('matrix', 'sip', 'denied', async (t) => {
  const sw = stopwatch();
  await carol.send(f.rooms.bob, { msgtype: 'm.text', body: 'top secret for bob, from Matrix' });
  const notice = await carol.waitFor(
    inRoom(
      f.rooms.bob,
      G.matrix.bob,
      (s) => s.content.msgtype === 'm.notice' && String(s.content.body).includes(DENY_REASON),
    ),
    'the refusal notice',
  );
  const ms = sw();
  t.match(notice.content.body, /^Not delivered: /);
  await sleep(500);
  t.notOk(kamailioGot('top secret for bob, from Matrix'), 'nothing reached the SIP side');
  return {
    ok: true,
    degraded: false,
    latencyMs: ms,
    note: `carol got an m.notice "Not delivered: ${DENY_REASON}"; nothing reached Kamailio`,
  };
});

cell('sip', 'matrix', 'denied', async (t) => {
  const seenBefore = carol.seen.length;
  const sw = stopwatch();
  const r = await f.bob(
    'message-uac-403.xml',
    sipKeys('carol@hs.test', { body: 'top secret from bob to carol' }),
  );
  const ms = sw();
  t.equal(r.code, 0, r.code === 0 ? 'SIPp got its 403' : r.messages.slice(-2000));
  t.match(r.messages, new RegExp(`SIP/2\\.0 403 ${DENY_REASON}`));
  await sleep(500);
  t.notOk(
    carol.seen.slice(seenBefore).some((s) => /top secret/.test(String(s.content.body ?? ''))),
    'carol got nothing',
  );
  return {
    ok: r.code === 0,
    degraded: false,
    latencyMs: ms,
    note: `bob got 403 "${DENY_REASON}" (via Kamailio); carol nothing`,
  };
});

// ============================== refused by the network ==============================

t.test('a SIP call to an enterprise user with no online resource: 480, recorded as refused', async (t) => {
  // dave@corp.test has no XMPP resource the gateway knows of: the XMPP side cannot ring
  // anyone, so the call is refused after the policy allowed it (issue 24.3).
  const since = await auditMark();
  const r = await f.bob('../federation-sipp/invite-uac-480.xml', sipKeys('dave@corp.test'));
  t.equal(r.code, 0, r.code === 0 ? 'SIPp got its 480' : r.messages.slice(-2000));
  t.match(r.messages, /SIP\/2\.0 480 .*no online XMPP resource/);
  const [fate, ...more] = await recordedFates(since, 'sip', 'xmpp', 'call');
  t.equal(more.length, 0, 'one call event');
  t.match(fate, {
    decision: 'allow',
    rule: 'enterprise-partner',
    outcome: 'refused',
    outcomeReason: /dave@corp\.test has no online XMPP resource/,
  });
  const records = (await f.gw.store.audit.range(since + 1, 1000)).filter((x) => x.eventId === fate?.eventId);
  t.same(
    records.map((x) => [x.category, x.outcome]),
    [
      ['decision', 'pending'],
      ['outcome', 'refused'],
    ],
    'the decision record, durable before the delivery, then the outcome',
  );
  t.match(records[0], {
    kind: 'call',
    from: 'sip:bob@partner.test',
    to: 'xmpp:dave@corp.test',
    eventTime: /^20/,
  });
});

// ============================== audit ==============================

t.test('the audit trail of the whole run verifies', async (t) => {
  t.equal(f.gw.store.audit.kind, 'postgres', 'the trail is in the PostgreSQL archive (store.archive)');
  const records = await auditRecords();
  const result = await verifyLog(f.gw.store.audit);
  t.equal(result.ok, true, JSON.stringify(result));
  for (const [from, to] of [
    ['xmpp', 'matrix'],
    ['matrix', 'xmpp'],
    ['xmpp', 'sip'],
    ['sip', 'xmpp'],
    ['matrix', 'sip'],
    ['sip', 'matrix'],
  ]) {
    t.ok(
      records.some(
        (r) => r.fromNetwork === from && r.toNetwork === to && r.decision === 'allow' && r.kind === 'message',
      ),
      `${from} -> ${to}: an allowed message is audited`,
    );
    t.ok(
      records.some(
        (r) =>
          r.fromNetwork === from &&
          r.toNetwork === to &&
          r.decision === 'deny' &&
          r.rule === 'no-top-secrets',
      ),
      `${from} -> ${to}: the denial is audited with its rule`,
    );
  }
  const decided = records.filter((r) => r.category === 'decision');
  t.ok(decided.length > 0);
  t.ok(
    decided.every((r) => r.outcome !== undefined && typeof r.eventTime === 'string'),
    'every decision record has an outcome and the event time',
  );
  const outcomes = new Set(
    records.filter((r) => r.category === 'outcome').map((r) => `${r.eventId} ${r.traceId}`),
  );
  const open = decided.filter((r) => r.outcome === 'pending' && !outcomes.has(`${r.eventId} ${r.traceId}`));
  t.same(open, [], 'every event handed to a network has an outcome record');
  t.equal(cells.length, 42, 'every cell of the matrix has an entry');
  const applicable = cells.filter((c) => c.applicable);
  t.comment(
    `federation matrix: ${applicable.filter((c) => c.ok).length}/${applicable.length} applicable cells ok (${42 - applicable.length} not applicable) in ${Math.round((Date.now() - started) / 1000)} s`,
  );
});
