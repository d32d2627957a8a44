import t from 'tap';
import { ev, msg, policy } from '../../fixtures/policy-helpers.js';

const ZONES = `zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test, "*.partner.test"] }
  special: { domains: [vip.partner.test] }
  consumer: { domains: ["*"] }
`;

t.test('deny overrides allow regardless of order; rule attribution', async (t) => {
  const p = policy(`${ZONES}defaults: { decision: deny }
rules:
  - { id: a1, match: { kind: message }, effect: allow }
  - { id: d1, match: { to: { zone: consumer } }, effect: deny, reason: no }
  - { id: a2, match: { party: { zone: enterprise } }, effect: allow }
  - { id: d2, match: { kind: message }, effect: deny }
`);
  const d = p.evaluate(msg('xmpp:a@corp.test', 'xmpp:b@hs.test'));
  t.equal(d.decision, 'deny');
  t.equal(d.rule, 'd1', 'first matching deny in file order');
  t.equal(d.reason, 'no');
  const d2 = p.evaluate(ev({ kind: 'presence', from: 'xmpp:a@corp.test', to: 'xmpp:b@partner.test' }));
  t.equal(d2.decision, 'allow');
  t.equal(d2.rule, 'a2', 'first matching allow');
  const d3 = p.evaluate(ev({ kind: 'presence', from: 'xmpp:a@hs.test', to: 'xmpp:b@partner.test' }));
  t.same([d3.decision, d3.rule], ['deny', null], 'default decision names no rule');
});

t.test("an allow decision's reason is the rule's reason, else its description", async (t) => {
  const p = policy(`${ZONES}defaults: { decision: deny }
rules:
  - { id: a1, description: Partners may talk., match: { to: { zone: partner } }, effect: allow }
  - { id: a2, description: Ignored., reason: Enterprise users talk., match: { to: { zone: enterprise } }, effect: allow }
  - { id: a3, match: { to: { zone: consumer } }, effect: allow }
`);
  t.equal(p.evaluate(msg('xmpp:a@corp.test', 'xmpp:b@partner.test')).reason, 'Partners may talk.');
  t.equal(p.evaluate(msg('xmpp:a@partner.test', 'xmpp:b@corp.test')).reason, 'Enterprise users talk.');
  t.equal(p.evaluate(msg('xmpp:a@corp.test', 'xmpp:b@hs.test')).reason, null, 'neither: null');
});

t.test('a disclaimer text two rules share is one transform, by the first rule', async (t) => {
  const p = policy(`${ZONES}defaults: { decision: deny }
rules:
  - { id: a1, match: { to: { zone: partner } }, effect: allow, obligations: { disclaimer: Archived. } }
  - { id: a2, match: { kind: message }, effect: allow, obligations: { disclaimer: Archived. } }
`);
  const d = p.evaluate(msg('xmpp:a@corp.test', 'xmpp:b@partner.test'));
  t.same(d.transforms, [{ rule: 'a1', effect: 'disclaimer', reason: null }]);
  t.equal(d.obligations.disclaimer, 'Archived.');
  const pres = p.evaluate(ev({ kind: 'presence', from: 'xmpp:a@corp.test', to: 'xmpp:b@partner.test' }));
  t.same(pres.transforms, [], 'presence carries no disclaimer');
});

t.test('zone specificity: exact > *.suffix (subdomains only) > *', async (t) => {
  const p = policy(`${ZONES}defaults: { decision: allow }
rules: []
`);
  t.equal(p.zoneOf('xmpp:a@vip.partner.test'), 'special');
  t.equal(p.zoneOf('sip:a@eu.partner.test'), 'partner');
  t.equal(p.zoneOf('sip:a@a.b.partner.test'), 'partner');
  t.equal(p.zoneOf('matrix:u/a:partner.test'), 'partner');
  t.equal(p.zoneOf('xmpp:a@notpartner.test'), 'consumer', '*.partner.test does not match notpartner.test');
  t.equal(p.zoneOf('xmpp:a@corp.test'), 'enterprise');
  t.equal(p.zoneOf('corp.test'), 'enterprise', 'a bare domain works too');
  const noStar = policy(`zones: { enterprise: { domains: [corp.test] } }
defaults: { decision: allow }
rules: []
`);
  t.equal(noStar.zoneOf('xmpp:a@other.test'), null);
  t.same(p.classify(msg('xmpp:a@corp.test', 'xmpp:b@hs.test')), {
    fromZone: 'enterprise',
    toZone: 'consumer',
    direction: 'outbound',
  });
  t.equal(p.classify(msg('xmpp:a@hs.test', 'xmpp:b@corp.test')).direction, 'inbound');
  t.equal(p.classify(msg('xmpp:a@corp.test', 'sip:b@corp.test')).direction, 'internal');
  t.equal(p.classify(msg('xmpp:a@hs.test', 'sip:b@partner.test')).direction, 'external');
});

t.test('wildcard domains in match, network and user', async (t) => {
  const p = policy(`${ZONES}defaults: { decision: allow }
rules:
  - { id: sub, match: { from: { domain: "*.evil.test" } }, effect: deny }
  - { id: net, match: { to: { network: sip, user: bob } }, effect: deny }
  - { id: person, match: { to: { user: "carol@partner.test" } }, effect: deny }
  - { id: uri, match: { to: { user: "xmpp:dave@partner.test" } }, effect: deny }
`);
  t.equal(p.evaluate(msg('xmpp:a@x.evil.test', 'xmpp:b@corp.test')).rule, 'sub');
  t.equal(p.evaluate(msg('xmpp:a@evil.test', 'xmpp:b@corp.test')).rule, null);
  t.equal(p.evaluate(msg('xmpp:a@corp.test', 'sip:bob@x.test')).rule, 'net');
  t.equal(p.evaluate(msg('xmpp:a@corp.test', 'xmpp:bob@x.test')).rule, null);
  t.equal(p.evaluate(msg('xmpp:a@corp.test', 'matrix:u/carol:partner.test')).rule, 'person');
  t.equal(p.evaluate(msg('xmpp:a@corp.test', 'xmpp:Dave@partner.test')).rule, 'uri');
  t.equal(p.evaluate(msg('xmpp:a@corp.test', 'sip:dave@partner.test')).rule, null);
});

t.test('segments: user@domain on any network, URI on that network only', async (t) => {
  const p = policy(`${ZONES}segments:
  research: { users: ["alice@corp.test"] }
  sales: { users: ["sip:sam@corp.test"] }
defaults: { decision: allow }
rules:
  - { id: wall, match: { between: [{ segment: research }, { segment: sales }] }, effect: deny }
`);
  for (const net of ['xmpp:alice@corp.test', 'sip:alice@corp.test', 'matrix:u/alice:corp.test']) {
    t.equal(p.evaluate(msg(net, 'sip:sam@corp.test')).rule, 'wall', `${net} -> sales`);
    t.equal(p.evaluate(msg('sip:sam@corp.test', net)).rule, 'wall', `sales -> ${net}`);
  }
  t.equal(
    p.evaluate(msg('xmpp:alice@corp.test', 'xmpp:sam@corp.test')).rule,
    null,
    'sam on xmpp is not in sales',
  );
});

t.test('time windows: wrap at midnight, tz, start inclusive, end exclusive, days', async (t) => {
  const p = policy(`${ZONES}defaults: { decision: allow }
rules:
  - id: night
    match: { time: { days: [wed], hours: "22:00-06:00", tz: Europe/Berlin } }
    effect: deny
  - id: lunch
    match: { time: { hours: "12:00-13:00" } }
    effect: deny
  - id: sunday
    match: { time: { days: sun, tz: Asia/Tokyo } }
    effect: deny
`);
  const e = msg('xmpp:a@corp.test', 'xmpp:b@hs.test');
  const at = (iso: string) => p.evaluate(e, new Date(iso)).rule;
  // 2026-11-25 is a Wednesday; Berlin is UTC+1 in November.
  t.equal(at('2026-11-25T20:59:59Z'), null, '21:59:59 Berlin: before the window');
  t.equal(at('2026-11-25T21:00:00Z'), 'night', '22:00 Berlin: start inclusive');
  t.equal(at('2026-11-26T02:00:00Z'), 'night', 'Thu 03:00 belongs to Wednesday night');
  t.equal(at('2026-11-26T04:59:00Z'), 'night', '05:59 Berlin');
  t.equal(at('2026-11-26T05:00:00Z'), null, '06:00 Berlin: end exclusive');
  t.equal(at('2026-11-26T21:00:00Z'), null, 'Thursday 22:00: not a listed day');
  t.equal(at('2026-11-25T02:00:00Z'), null, 'Wed 03:00 belongs to Tuesday night');
  t.equal(at('2026-11-25T12:00:00Z'), 'lunch', 'UTC default, start inclusive');
  t.equal(at('2026-11-25T13:00:00Z'), null, 'end exclusive');
  t.equal(at('2026-11-28T15:00:00Z'), 'sunday', 'Sat 15:00Z is Sunday 00:00 in Tokyo');
  t.equal(at('2026-11-28T14:59:00Z'), null);
  t.equal(
    p.evaluate(msg('xmpp:a@corp.test', 'xmpp:b@hs.test', 'x', { time: '2026-11-25T12:30:00Z' })).rule,
    'lunch',
    'default time is the event time',
  );
});

t.test('redaction, content, attachments, presence basic, obligations merge', async (t) => {
  const p = policy(`${ZONES}defaults: { decision: deny }
rules:
  - id: partner
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
    obligations: { disclaimer: "A", rateLimit: 60/min }
  - id: cards
    description: No card numbers leave.
    match: { content: { pattern: '\\d{4}-\\d{4}' } }
    effect: redact
  - id: secret
    match: { content: { pattern: '(?i)secret' } }
    effect: redact
    reason: Secrets are masked.
    replacement: "***"
    obligations: { disclaimer: "B", rateLimit: 2/s, presence: basic }
  - { id: long, match: { content: { longerThan: 20 } }, effect: deny }
  - { id: big, match: { attachment: { mime: "image/*", largerThan: 100 } }, effect: deny }
  - { id: pres, match: { kind: presence, to: { zone: partner } }, effect: allow, obligations: { presence: basic } }
`);
  const d = p.evaluate(
    msg('xmpp:a@corp.test', 'xmpp:b@partner.test', '1234-5678 SeCrEt and more text', {
      html: '<i>1111-2222</i>',
    }),
  );
  t.equal(d.rule, 'long', 'longer than 20 characters');
  const r = p.evaluate(
    msg('xmpp:a@corp.test', 'xmpp:b@partner.test', '1234-5678 secret', { html: '<i>secret</i>' }),
  );
  t.equal(r.decision, 'allow');
  t.equal(r.rule, 'partner');
  t.equal(r.redacted, true);
  t.equal(r.event.kind === 'message' && r.event.body, '[redacted] ***');
  t.equal(r.event.kind === 'message' && r.event.html, '<i>***</i>');
  // Every rule that changed the event, each with its reason (else its description); the
  // disclaimer of each rule that adds one (the pipeline adds them to a first message only).
  t.same(r.transforms, [
    { rule: 'partner', effect: 'disclaimer', reason: null },
    { rule: 'cards', effect: 'redact', reason: 'No card numbers leave.' },
    { rule: 'secret', effect: 'disclaimer', reason: 'Secrets are masked.' },
    { rule: 'secret', effect: 'redact', reason: 'Secrets are masked.' },
  ]);
  t.same(r.obligations, { disclaimer: 'A\nB', rateLimit: '60/min', presence: 'basic' });
  t.same(r.rateLimits, [
    { rule: 'partner', limit: 60, windowMs: 60000 },
    { rule: 'secret', limit: 2, windowMs: 1000 },
  ]);
  t.equal(p.evaluate(msg('xmpp:a@corp.test', 'xmpp:b@partner.test', 'secret')).rule, 'partner');
  t.equal(p.evaluate(msg('xmpp:a@corp.test', 'xmpp:b@partner.test', '1234567890abcdefghijk')).rule, 'long');
  const ok = p.evaluate(
    msg('xmpp:a@corp.test', 'xmpp:b@partner.test', 'x', { attachments: [{ mime: 'image/png', size: 100 }] }),
  );
  t.equal(ok.decision, 'allow', 'size 100 is not larger than 100');
  const big = p.evaluate(
    msg('xmpp:a@corp.test', 'xmpp:b@partner.test', 'x', {
      attachments: [
        { mime: 'text/plain', size: 5000 },
        { mime: 'image/png', size: 101 },
      ],
    }),
  );
  t.equal(big.rule, 'big');
  const pr = p.evaluate(
    ev({
      kind: 'presence',
      from: 'xmpp:a@corp.test',
      to: 'xmpp:b@partner.test',
      show: 'away',
      status: 'x',
      activity: 'meeting',
    }),
  );
  t.equal(pr.decision, 'allow');
  t.notOk('status' in pr.event);
  t.notOk('activity' in pr.event);
  t.same(pr.transforms, [{ rule: 'pres', effect: 'presence-basic', reason: null }]);
  const call = p.evaluate(ev({ kind: 'call', from: 'xmpp:a@corp.test', to: 'xmpp:b@partner.test' }));
  t.same([call.decision, call.rule], ['allow', 'partner'], 'content/attachment clauses never match a call');
});

t.test('callAction and direction', async (t) => {
  const p = policy(`${ZONES}defaults: { decision: allow }
rules:
  - { id: in-invite, match: { direction: inbound, callAction: invite }, effect: deny }
  - { id: ext, match: { direction: external }, effect: deny }
`);
  t.equal(
    p.evaluate(ev({ kind: 'call', from: 'sip:x@hs.test', to: 'sip:a@corp.test', action: 'invite' })).rule,
    'in-invite',
  );
  t.equal(
    p.evaluate(ev({ kind: 'call', from: 'sip:x@hs.test', to: 'sip:a@corp.test', action: 'hangup' })).rule,
    null,
  );
  t.equal(
    p.evaluate(msg('sip:x@hs.test', 'sip:a@corp.test')).rule,
    null,
    'callAction never matches a message',
  );
  t.equal(p.evaluate(msg('sip:x@hs.test', 'sip:a@partner.test')).rule, 'ext');
});

t.test('explain lists every rule with reasons', async (t) => {
  const p = policy(`${ZONES}defaults: { decision: deny }
rules:
  - { id: a, match: { kind: message, to: { zone: partner } }, effect: allow }
  - { id: b, match: {}, effect: allow }
`);
  const x = p.explain(msg('xmpp:a@corp.test', 'xmpp:b@hs.test'));
  t.equal(x.rules.length, 2);
  t.same(x.rules[0]!.matched, false);
  t.match(x.rules[0]!.because, [
    'holds: kind message is one of [message]',
    /^fails: to xmpp:b@hs.test: zone consumer is not one of \[partner\]/,
  ]);
  t.same(x.rules[1]!.matched, true);
  t.equal(x.decision.rule, 'b');
  t.same(x.classification.direction, 'outbound');
});

t.test('invalid addresses fail closed', async (t) => {
  const p = policy(`${ZONES}defaults: { decision: allow }
rules: []
`);
  const e = { ...msg('xmpp:a@corp.test', 'xmpp:b@hs.test'), to: 'nonsense' };
  const d = p.evaluate(e);
  t.equal(d.decision, 'deny');
  t.match(d.reason, /invalid recipient address/);
});
