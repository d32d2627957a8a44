// Fuzz (CI size; `npm run fuzz` runs the same properties longer): see targets.ts.
import t from 'tap';
import { readPresence } from '../../src/adapters/xmpp/stanza.js';
import { xmlParse } from '../fixtures/xml-helpers.js';
import { ciTests } from './run.js';

ciTests(t, ['xmpp-stanza']);

// Found by xmpp-stanza: a <show> naming an Object.prototype member became that function.
t.test('a <show> that names a property of every object is not a show', async (t) => {
  for (const word of ['valueOf', 'constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const p = readPresence(
      xmlParse(`<presence from="alice@corp.test/phone"><show>${word}</show></presence>`),
    );
    t.equal(p.show, 'available', word);
  }
});
