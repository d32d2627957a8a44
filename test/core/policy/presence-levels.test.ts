// Presence levels (issue 24.5): `basic` shares only online/offline; `coarse` also away and
// dnd; `full` everything. Neither basic nor coarse lets status text, activity or idle time
// (lastActive, XEP-0319) through, whatever the console or docs would otherwise suggest.
import t from 'tap';
import { compilePolicySource } from '../../../src/core/policy/load.js';
import { SourceError } from '../../../src/core/yaml-source.js';
import { ev, HEAD, policy } from '../../fixtures/policy-helpers.js';

// A browser module (plain JS, no types): imported by a computed path, as test/console does.
const wordsPath = '../../../src/http/console/policy-words.js';
const { describeRule } = (await import(wordsPath)) as { describeRule(rule: Record<string, unknown>): string };

const ZONES = `zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test] }
  consumer: { domains: ["*"] }
defaults: { decision: deny }
`;

const withLevel = (level: string) =>
  policy(`${ZONES}rules:
  - { id: pres, match: { kind: presence }, effect: allow, obligations: { presence: ${level} } }
`);

const rich = (show: string) =>
  ev({
    kind: 'presence',
    from: 'xmpp:alice@corp.test',
    to: 'matrix:u/bob:partner.test',
    show,
    status: 'At the dentist',
    activity: 'appointment',
    lastActive: '2026-11-25T09:58:00Z',
  });

/** What of a presence event crosses: the fields the recipient can see. */
const seen = (e: ReturnType<typeof rich>) => {
  if (e.kind !== 'presence') throw new Error('not presence');
  const { show, status, activity, lastActive } = e;
  return { show, status, activity, lastActive };
};

t.test('basic: online or offline only; no away/dnd, status text, activity or idle time', async (t) => {
  const p = withLevel('basic');
  for (const show of ['available', 'away', 'dnd', 'xa'] as const) {
    const d = p.evaluate(rich(show));
    t.equal(d.decision, 'allow');
    t.same(
      seen(d.event),
      { show: 'available', status: undefined, activity: undefined, lastActive: undefined },
      show,
    );
    t.notOk('lastActive' in d.event, `${show}: no idle time`);
    t.same(d.obligations, { presence: 'basic' });
    t.same(
      d.transforms.map((x) => [x.rule, x.effect]),
      [['pres', 'presence-basic']],
    );
  }
  const off = p.evaluate(rich('offline'));
  t.same(seen(off.event), { show: 'offline', status: undefined, activity: undefined, lastActive: undefined });
});

t.test('coarse: online/away/dnd/offline; no status text, activity or idle time', async (t) => {
  const p = withLevel('coarse');
  const expect = { available: 'available', away: 'away', dnd: 'dnd', xa: 'away', offline: 'offline' };
  for (const [show, shown] of Object.entries(expect)) {
    const d = p.evaluate(rich(show));
    t.same(
      seen(d.event),
      { show: shown, status: undefined, activity: undefined, lastActive: undefined },
      show,
    );
    t.same(d.obligations, { presence: 'coarse' });
    t.same(
      d.transforms.map((x) => [x.rule, x.effect]),
      [['pres', 'presence-coarse']],
    );
  }
});

t.test('full: everything crosses, and nothing is listed as a transform', async (t) => {
  const d = withLevel('full').evaluate(rich('dnd'));
  t.same(seen(d.event), {
    show: 'dnd',
    status: 'At the dentist',
    activity: 'appointment',
    lastActive: '2026-11-25T09:58:00Z',
  });
  t.same(d.obligations, { presence: 'full' });
  t.same(d.transforms, []);
});

t.test('several matching rules: the strictest level applies, in any order', async (t) => {
  for (const order of [
    ['coarse', 'basic', 'full'],
    ['full', 'coarse', 'basic'],
    ['basic', 'full', 'coarse'],
  ]) {
    const p = policy(`${ZONES}rules:
${order.map((l) => `  - { id: r-${l}, match: { kind: presence }, effect: allow, obligations: { presence: ${l} } }`).join('\n')}
`);
    const d = p.evaluate(rich('dnd'));
    t.equal(d.obligations.presence, 'basic', order.join(','));
    t.equal(seen(d.event).show, 'available', order.join(','));
    t.notOk('lastActive' in d.event);
  }
  const p = policy(`${ZONES}rules:
  - { id: a, match: { kind: presence }, effect: allow, obligations: { presence: full } }
  - { id: b, match: { kind: presence }, effect: allow, obligations: { presence: coarse } }
`);
  const d = p.evaluate(rich('xa'));
  t.same([d.obligations.presence, seen(d.event).show, 'status' in d.event], ['coarse', 'away', false]);
});

t.test('a message is never changed by a presence level', async (t) => {
  const d = withLevel('basic').evaluate(
    ev({ kind: 'message', from: 'xmpp:alice@corp.test', to: 'matrix:u/bob:partner.test', body: 'dnd' }),
  );
  t.equal(d.event.kind === 'message' && d.event.body, 'dnd');
  t.same(d.transforms, []);
});

t.test('an unknown level is refused with its line and the levels there are', async (t) => {
  const text = `${HEAD}${ZONES}rules:\n  - { id: p, match: {}, effect: allow, obligations: { presence: minimal } }\n`;
  const err = (() => {
    try {
      compilePolicySource(text, 'levels.yaml');
    } catch (e) {
      return e;
    }
    return null;
  })();
  t.type(err, SourceError);
  if (!(err instanceof SourceError)) return;
  t.match(err.problems[0], { file: 'levels.yaml', line: 10, message: /expected one of basic, coarse, full/ });
});

t.test('the console describes each level as the engine applies it', async (t) => {
  const words = (level: string) =>
    describeRule({ id: 'p', match: { kind: 'presence' }, effect: 'allow', obligations: { presence: level } });
  t.match(
    words('basic'),
    /only whether the user is online or offline \(no away or busy, status text or idle time\)/,
  );
  t.notMatch(
    words('basic'),
    /only online\/offline presence \(no status text\)\./,
    'the old, untrue words are gone',
  );
  t.match(
    words('coarse'),
    /online, away, busy \(do not disturb\) or offline \(no status text or idle time\)/,
  );
  t.match(words('full'), /in full \(status text and idle time included\)/);
});
