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
const mark = (c) => {
  if (!c) return '—';
  const ms = typeof c.latencyMs === 'number' ? ` ${c.latencyMs} ms` : '';
  if (c.ok && !c.degraded) return `✅${ms}`;
  notes.push(`${NAMES[c.from]} → ${NAMES[c.to]}, ${c.kind}: ${c.note || '(no note)'}`);
  return `${c.ok ? `🟡 degraded${ms}` : '❌'} [${notes.length}]`;
};

const head = ['', ...DIRECTIONS.map(([a, b]) => `${NAMES[a]} → ${NAMES[b]}`)];
const rows = KINDS.map((k) => [k, ...DIRECTIONS.map(([a, b]) => mark(find(a, b, k)))]);
const line = (cols) => `| ${cols.join(' | ')} |`;
const ok = cells.filter((c) => c.ok).length;
const out = [
  line(head),
  line(head.map(() => '---')),
  ...rows.map(line),
  '',
  `${ok} of ${cells.length} cells ok. ✅ translated and received; 🟡 the target cannot carry it as is and it was degraded visibly; ❌ not carried, or the sender was not told (see the note). Latency: from the sending client's action until the receiving client saw it (SIP senders include starting SIPp).`,
  '',
  ...notes.map((n, i) => `${i + 1}. ${n}`),
  '',
];
process.stdout.write(out.join('\n'));
