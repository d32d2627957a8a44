import fc from 'fast-check';
import t from 'tap';
import { type Address, AddressError, formatAddress, parseAddress } from '../../src/core/address.js';
import { networkNames } from '../../src/core/network.js';

// The networks are those the composition root registers (package.json's tap config imports
// src/networks.ts before every test file).
t.test('parses the URI schemes of the three networks', async (t) => {
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

// User parts each network can produce.
const userPart = fc.string({
  unit: fc.constantFrom(..."abcXYZ019-_.!~*'()&=+$,;?/% @:".split('')),
  minLength: 1,
  maxLength: 20,
});
const domain = fc
  .array(fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?$/), { minLength: 2, maxLength: 4 })
  .map((labels) => labels.join('.'));

t.test('URI format/parse round-trips', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...networkNames()), userPart, domain, (network, user, dom) => {
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
