// docs/capabilities.md is generated from the adapters' declared capabilities
// (scripts/gen-capabilities.ts): the committed file must be what the generator renders now.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { CAPABILITIES_DOC, renderCapabilitiesDoc, SAMPLES, TARGETS } from '../scripts/gen-capabilities.js';

t.test('docs/capabilities.md is current', async (t) => {
  const committed = readFileSync(CAPABILITIES_DOC, 'utf8');
  t.equal(
    committed,
    renderCapabilitiesDoc(),
    'stale: run node --import tsx scripts/gen-capabilities.ts and commit docs/capabilities.md',
  );
});

t.test('the document covers every adapter and every kind', async (t) => {
  const doc = renderCapabilitiesDoc();
  for (const target of TARGETS) t.match(doc, `to ${target.title}`);
  for (const s of SAMPLES) t.match(doc, `| ${s.row}`);
  t.match(
    doc,
    /edit \(correction of an earlier message\) *\| carried *\| carried *\| degraded: edit sent as a new message marked as a correction/,
  );
  t.match(doc, /receipt \(delivered \/ displayed\) *\| carried *\| carried *\| carried *\| carried/);
});
