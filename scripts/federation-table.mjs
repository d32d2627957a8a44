#!/usr/bin/env node
// Renders reports/federation.json (written by test/integration/federation.test.ts) as a
// Markdown table for the README: one row per kind, one column per direction, then the notes.
// Usage: node scripts/federation-table.mjs [reports/federation.json] > table.md
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const file = resolve(process.argv[2] ?? resolve(root, 'reports/federation.json'));

const NAMES = { xmpp: 'XMPP', matrix: 'Matrix', sip: 'SIP' };
const DIRECTIONS = [
  ['xmpp', 'matrix'],
  ['matrix', 'xmpp'],
  ['xmpp', 'sip'],
  ['sip', 'xmpp'],
  ['matrix', 'sip'],
  ['sip', 'matrix'],
];
const KINDS = ['message', 'edit', 'chatstate', 'receipt', 'presence', 'call', 'denied'];

let cells;
try {
  cells = JSON.parse(readFileSync(file, 'utf8'));
} catch (err) {
  process.stderr.write(
    `cannot read ${file}: ${err.message}\n(run: npx tap test/integration/federation.test.ts)\n`,
  );
  process.exit(2);
}
if (!Array.isArray(cells)) {
  process.stderr.write(`${file}: expected an array of cells\n`);
  process.exit(2);
}

const find = (from, to, kind) => cells.find((c) => c.from === from && c.to === to && c.kind === kind);
const notes = [];
/** A cell the source network cannot express at all (e.g. SIP has no edits): no pass, no failure. */
const notApplicable = (c) => c.applicable === false;
const mark = (c) => {
  if (!c) return '—';
  const ms = typeof c.latencyMs === 'number' ? ` ${c.latencyMs} ms` : '';
  if (notApplicable(c)) {
    notes.push(`${NAMES[c.from]} → ${NAMES[c.to]}, ${c.kind}: ${c.note || '(no note)'}`);
    return `n/a — ${(c.note || 'not applicable').split(':')[0]} [${notes.length}]`;
  }
  if (c.ok && !c.degraded) return `✅${ms}`;
  notes.push(`${NAMES[c.from]} → ${NAMES[c.to]}, ${c.kind}: ${c.note || '(no note)'}`);
  return `${c.ok ? `🟡 degraded${ms}` : '❌'} [${notes.length}]`;
};

const head = ['', ...DIRECTIONS.map(([a, b]) => `${NAMES[a]} → ${NAMES[b]}`)];
const rows = KINDS.map((k) => [k, ...DIRECTIONS.map(([a, b]) => mark(find(a, b, k)))]);
const line = (cols) => `| ${cols.join(' | ')} |`;
const applicable = cells.filter((c) => !notApplicable(c));
const ok = applicable.filter((c) => c.ok).length;
const na = cells.length - applicable.length;
const out = [
  line(head),
  line(head.map(() => '---')),
  ...rows.map(line),
  '',
  `${ok} of ${applicable.length} applicable cells ok${na ? ` (${na} not applicable: the source network cannot express the kind, so there is nothing to send)` : ''}. ✅ translated and received; 🟡 the target cannot carry it as is, it was degraded and the sender was told; ❌ not carried, or the sender was not told (see the note); n/a — nothing to send. Latency: from the sending client's action until the receiving client saw it (SIP senders include starting SIPp).`,
  '',
  ...notes.map((n, i) => `${i + 1}. ${n}`),
  '',
];
process.stdout.write(out.join('\n'));
