// Content rules: the cost per message of policy evaluation with three content patterns (a deny
// word list and the financial example's IBAN and card redactions) on ordinary bodies, and the
// time to decide crafted bodies that are exponential for a backtracking engine.
// Run: node --import tsx bench/patterns.ts   (one JSON line per measurement)
import { compilePattern } from '../src/core/policy/compile.js';
import { compilePolicySource } from '../src/core/policy/load.js';
// Registers the networks this build speaks (address schemes, the policy's network names).
import '../src/networks.js';
import { msg } from '../test/fixtures/policy-helpers.js';

const POLICY = `apiVersion: parley/v1
kind: Policy
metadata: { name: bench, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test] }
defaults: { decision: deny }
rules:
  - { id: partners, match: { between: [{ zone: enterprise }, { zone: partner }] }, effect: allow }
  - id: secret
    match: { kind: message, content: { pattern: '(?i)\\b(?:top secret|confidential)\\b' } }
    effect: deny
  - id: ibans
    match: { kind: message, content: { pattern: '(?i)\\b[A-Z]{2}\\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\\b' } }
    effect: redact
    replacement: "[IBAN removed]"
  - id: cards
    match: { kind: message, content: { pattern: '\\b\\d(?:[ -]?\\d){12,15}\\b' } }
    effect: redact
    replacement: "[card number removed]"
`;
const EVIL = `apiVersion: parley/v1
kind: Policy
metadata: { name: evil, version: "1" }
zones: { enterprise: { domains: [corp.test] } }
defaults: { decision: allow }
rules:
  - { id: evil, match: { kind: message, content: { pattern: '(a+)+$' } }, effect: deny }
`;

const emit = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const p = compilePolicySource(POLICY, 'bench.yaml');
const evilPolicy = compilePolicySource(EVIL, 'evil.yaml');
const bodies = [
  'hi, are we still on for the call at 3pm tomorrow?',
  'The quarterly numbers look fine; see the deck I sent on Monday, slide 14 onwards.',
  'please wire to DE89 3704 0044 0532 0130 00 today',
  'my card is 4111 1111 1111 1111, exp 12/29',
  'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.',
].map((b) => msg('xmpp:a@corp.test', 'xmpp:b@partner.test', b));

const N = 100_000;
for (let i = 0; i < 20_000; i++) p.evaluate(bodies[i % bodies.length]!);
let t0 = performance.now();
for (let i = 0; i < N; i++) p.evaluate(bodies[i % bodies.length]!);
emit({
  what: 'ordinary bodies, 3 content rules',
  nsPerMessage: Math.round(((performance.now() - t0) * 1e6) / N),
});

// Engine against engine, interleaved batches (robust to a loaded machine): RE2 versus the
// backtracking RegExp the patterns ran on before, test + literal replace on the same bodies.
const SOURCES = [
  '(?i)\\b(?:top secret|confidential)\\b',
  '(?i)\\b[A-Z]{2}\\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\\b',
  '\\b\\d(?:[ -]?\\d){12,15}\\b',
];
const re2 = SOURCES.map((s) => compilePattern(s));
const js = SOURCES.map((s) => {
  const ci = s.startsWith('(?i)');
  return [
    new RegExp(ci ? s.slice(4) : s, ci ? 'i' : ''),
    new RegExp(ci ? s.slice(4) : s, ci ? 'gi' : 'g'),
  ] as const;
});
const texts = bodies.map((e) => (e.kind === 'message' ? e.body : ''));
const B = 10_000;
const batch = (f: (body: string, k: number) => void): number => {
  const t = performance.now();
  for (let i = 0; i < B; i++) for (let k = 0; k < SOURCES.length; k++) f(texts[i % texts.length]!, k);
  return ((performance.now() - t) * 1e6) / B;
};
const viaRe2 = (b: string, k: number) => {
  if (re2[k]!.test(b)) re2[k]!.replaceAll(b, '[x]');
};
const viaJs = (b: string, k: number) => {
  if (js[k]![0].test(b)) b.replace(js[k]![1], () => '[x]');
};
const r2: number[] = [];
const rj: number[] = [];
const ratio: number[] = [];
for (let r = 0; r < 34; r++) {
  const a = batch(viaJs);
  const b = batch(viaRe2);
  if (r < 3) continue; // warm-up
  rj.push(a);
  r2.push(b);
  ratio.push(b / a);
}
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
emit({
  what: '3 patterns per body, test + replace when matched',
  re2NsPerBody: Math.round(med(r2)),
  regexpNsPerBody: Math.round(med(rj)),
  medianRatio: Number(med(ratio).toFixed(2)),
});

for (const n of [1_000, 10_000, 60_000]) {
  const evil = msg('xmpp:a@corp.test', 'xmpp:b@partner.test', `${'a'.repeat(n)}!`);
  t0 = performance.now();
  const d = evilPolicy.evaluate(evil);
  emit({
    what: `(a+)+$ on ${n} a's and "!"`,
    ms: Number((performance.now() - t0).toFixed(2)),
    decision: d.decision,
  });
}
