import fc from 'fast-check';
import t from 'tap';
import { pidfToPresence, presenceToPidf } from '../../../src/adapters/sip/presence.js';

t.test('PIDF + RPID -> presence: basic, activities, note, prefixes', async (t) => {
  const doc = (inner: string) =>
    `<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:bob@p.test">${inner}</presence>`;
  t.same(pidfToPresence(doc('<tuple id="a"><status><basic>open</basic></status></tuple>')), {
    show: 'available',
  });
  t.same(
    pidfToPresence(doc('<tuple id="a"><status><basic>closed</basic></status></tuple><note>gone</note>')),
    {
      show: 'offline',
      status: 'gone',
    },
  );
  t.same(
    pidfToPresence(
      doc(
        '<tuple id="a"><status><basic>open</basic></status></tuple><dm:person><r:activities><r:busy/></r:activities></dm:person><note xml:lang="en">Tom &amp; Jerry</note>',
      ),
    ),
    { show: 'dnd', status: 'Tom & Jerry', activity: 'busy' },
  );
  t.same(
    pidfToPresence(
      doc('<tuple id="a"><status><basic>open</basic></status></tuple><r:activities><r:away/></r:activities>'),
    ),
    { show: 'away', activity: 'away' },
  );
  t.same(
    pidfToPresence(
      doc(
        '<tuple id="a"><status><basic>open</basic></status></tuple><r:activities><r:vacation/></r:activities>',
      ),
    ),
    { show: 'xa', activity: 'vacation' },
  );
  t.equal(pidfToPresence('<html/>'), null);
  t.equal(pidfToPresence(doc('<tuple/>')), null, 'no basic status');
});

t.test('presence -> PIDF -> presence round trip, with escaping', async (t) => {
  for (const p of [
    { show: 'available' as const },
    { show: 'offline' as const, status: 'bye' },
    { show: 'away' as const, status: '<b>"brb"</b> & more' },
    { show: 'dnd' as const, activity: 'on-the-phone' },
    { show: 'xa' as const },
  ]) {
    const xml = presenceToPidf('sip:alice@corp.test', p);
    t.match(xml, /entity="sip:alice@corp\.test"/);
    const back = pidfToPresence(xml);
    t.equal(back?.show, p.show === 'xa' ? 'away' : p.show, `${p.show} survives (xa is sent as RPID away)`);
    t.equal(back?.status, p.status);
  }
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      const back = pidfToPresence(presenceToPidf('sip:a@b.test', { show: 'available', status: s }));
      return back !== null && (back.status ?? '') === s.trim();
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 500 }), (s) => {
      pidfToPresence(s); // never throws
      return true;
    }),
  );
});
