// Ghosts: how a user of one network appears on another. XMPP and Matrix map them
// (src/adapters/<net>/ghost.ts); SIP routes by domain, so there a remote user keeps their
// own address. Every mapping is reversible, also through the URI the adapter writes.
import fc from 'fast-check';
import t from 'tap';
import * as matrix from '../../src/adapters/matrix/ghost.js';
import * as xmpp from '../../src/adapters/xmpp/ghost.js';
import { type Address, formatAddress, parseAddress, type RemoteUser } from '../../src/core/address.js';

const component = 'gw.corp.test';
const serverName = 'hs.test';

const ghostsOn: Record<string, { to(r: RemoteUser): Address; from(a: Address): RemoteUser | null }> = {
  xmpp: {
    to: (r) => xmpp.toGhost(r, 'xmpp', { component }),
    from: (a) => xmpp.fromGhost(a, { component }),
  },
  matrix: {
    to: (r) => matrix.toGhost(r, 'matrix', { serverName }),
    from: (a) => matrix.fromGhost(a, { serverName }),
  },
  sip: {
    to: (r) => ({ network: 'sip', user: r.user, domain: r.domain }),
    from: (a) => ({ user: a.user, domain: a.domain }),
  },
};

t.test('ghosts follow the documented defaults', async (t) => {
  t.equal(
    formatAddress(xmpp.toGhost({ user: 'bob', domain: 'hs.test' }, 'xmpp', { component })),
    'xmpp:bob%25hs.test@gw.corp.test',
  );
  t.same(xmpp.toGhost({ user: 'bob', domain: 'hs.test' }, 'xmpp', { component }).user, 'bob%hs.test');
  t.equal(
    matrix.toGhost({ user: 'alice', domain: 'corp.test' }, 'matrix', { serverName }).user,
    '_parley_alice=40corp.test',
  );
  t.equal(
    matrix.toGhost({ user: 'Bob_X', domain: 'corp.test' }, 'matrix', { serverName }).user,
    '_parley__bob___x=40corp.test',
  );
  t.equal(
    matrix.fromGhost({ network: 'matrix', user: 'alice', domain: 'hs.test' }, { serverName }),
    null,
    'a native Matrix user is no ghost',
  );
  t.equal(
    xmpp.fromGhost({ network: 'xmpp', user: 'alice', domain: 'corp.test' }, { component }),
    null,
    'a native XMPP user is no ghost',
  );
});

// User parts each network can produce: XMPP localparts, Matrix localparts, SIP users.
const userPart: Record<string, fc.Arbitrary<string>> = {
  xmpp: fc
    .string({
      unit: fc.constantFrom(...'abcxyzABC019._-+%=!$&\'/:<>\\" é日'.split('')),
      minLength: 1,
      maxLength: 20,
    })
    .filter((s) => !s.includes('@')),
  matrix: fc.string({ unit: fc.constantFrom(...'abcz019._=-/+'.split('')), minLength: 1, maxLength: 20 }),
  sip: fc.string({
    unit: fc.constantFrom(..."abcXYZ019-_.!~*'()&=+$,;?/% @:".split('')),
    minLength: 1,
    maxLength: 20,
  }),
};
const domain = fc
  .array(fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?$/), { minLength: 2, maxLength: 4 })
  .map((labels) => labels.join('.'));

for (const from of Object.keys(userPart)) {
  for (const to of Object.keys(ghostsOn)) {
    if (from === to) continue;
    t.test(`ghost mapping ${from} -> ${to} round-trips`, async (t) => {
      const on = ghostsOn[to]!;
      fc.assert(
        fc.property(userPart[from]!, domain, (user, dom) => {
          const ghost = on.to({ user, domain: dom });
          // Through the URI form as well: what the adapter writes is what it reads back.
          const back = on.from(parseAddress(formatAddress(ghost)));
          return back !== null && back.user === user && back.domain === dom;
        }),
        { numRuns: 500 },
      );
      t.pass('500 random users round-tripped');
    });
  }
}
