import fc from 'fast-check';
import t from 'tap';
import {
  type Address,
  AddressError,
  formatAddress,
  fromGhost,
  parseAddress,
  toGhost,
} from '../../src/core/address.js';
import { NETWORKS } from '../../src/core/model.js';

t.test('parses the three URI schemes of DESIGN', async (t) => {
  t.same(parseAddress('xmpp:alice@corp.example'), { network: 'xmpp', user: 'alice', domain: 'corp.example' });
  t.same(parseAddress('xmpp:alice@Corp.Example/phone'), {
    network: 'xmpp',
    user: 'alice',
    domain: 'corp.example',
    resource: 'phone',
  });
  t.same(parseAddress('sip:carol@partner.example;transport=tcp'), {
    network: 'sip',
    user: 'carol',
    domain: 'partner.example',
  });
  t.same(parseAddress('sips:carol:secret@partner.example:5061'), {
    network: 'sip',
    user: 'carol',
    domain: 'partner.example:5061',
  });
  t.same(parseAddress('matrix:u/bob:matrix.example'), {
    network: 'matrix',
    user: 'bob',
    domain: 'matrix.example',
  });
  t.same(parseAddress('matrix:u/bob:hs.test:8448?action=chat'), {
    network: 'matrix',
    user: 'bob',
    domain: 'hs.test:8448',
  });
});

t.test('rejects malformed addresses with a reason', async (t) => {
  for (const bad of [
    '',
    'alice@corp',
    'mailto:a@b',
    'xmpp:corp.example',
    'matrix:r/room:hs',
    'matrix:u/bob',
    'sip:a@bad domain',
    'xmpp:a%zz@b',
  ]) {
    t.throws(() => parseAddress(bad), AddressError, bad);
  }
});

t.test('ghosts follow DESIGN defaults', async (t) => {
  const opts = { component: 'gw.corp.test', serverName: 'hs.test' };
  t.equal(
    formatAddress(toGhost({ user: 'bob', domain: 'hs.test' }, 'xmpp', opts)),
    'xmpp:bob%25hs.test@gw.corp.test',
  );
  t.same(toGhost({ user: 'bob', domain: 'hs.test' }, 'xmpp', opts).user, 'bob%hs.test');
  t.equal(toGhost({ user: 'alice', domain: 'corp.test' }, 'matrix', opts).user, '_parley_alice=40corp.test');
  t.equal(
    toGhost({ user: 'Bob_X', domain: 'corp.test' }, 'matrix', opts).user,
    '_parley__bob___x=40corp.test',
  );
  t.same(toGhost({ user: 'carol', domain: 'partner.test' }, 'sip', opts), {
    network: 'sip',
    user: 'carol',
    domain: 'partner.test',
  });
  t.equal(
    fromGhost({ network: 'matrix', user: 'alice', domain: 'hs.test' }, opts),
    null,
    'a native Matrix user is no ghost',
  );
  t.equal(
    fromGhost({ network: 'xmpp', user: 'alice', domain: 'corp.test' }, opts),
    null,
    'a native XMPP user is no ghost',
  );
});

// User parts each network can produce: XMPP localparts, Matrix localparts, SIP users.
const userPart: Record<(typeof NETWORKS)[number], fc.Arbitrary<string>> = {
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

for (const from of NETWORKS) {
  for (const to of NETWORKS) {
    if (from === to) continue;
    t.test(`ghost mapping ${from} -> ${to} round-trips`, async (t) => {
      const opts = { component: 'gw.corp.test', serverName: 'hs.test' };
      fc.assert(
        fc.property(userPart[from], domain, (user, dom) => {
          const ghost = toGhost({ user, domain: dom }, to, opts);
          // Through the URI form as well: what the adapter writes is what it reads back.
          const reparsed: Address = parseAddress(formatAddress(ghost));
          const back = fromGhost(reparsed, opts);
          return back !== null && back.user === user && back.domain === dom;
        }),
        { numRuns: 500 },
      );
      t.pass('500 random users round-tripped');
    });
  }
}

t.test('URI format/parse round-trips', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...NETWORKS), userPart.sip, domain, (network, user, dom) => {
      const a: Address = { network, user, domain: dom };
      const b = parseAddress(formatAddress(a));
      return b.network === network && b.user === user && b.domain === dom;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

t.test('a parsed address is the caller’s own copy', async (t) => {
  const a = parseAddress('xmpp:alice@corp.test/pc');
  a.user = 'mallory';
  delete a.resource;
  t.same(parseAddress('xmpp:alice@corp.test/pc'), {
    network: 'xmpp',
    user: 'alice',
    domain: 'corp.test',
    resource: 'pc',
  });
  t.throws(() => parseAddress('xmpp:corp.test'), /needs a user/, 'failures are not remembered as anything');
  t.throws(() => parseAddress('xmpp:corp.test'), /needs a user/);
});
