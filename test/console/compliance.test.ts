// The console as a compliance officer reads it (issue 24), in a real headless Chromium
// against a running Parley with real traffic through the pipeline: the Reason and Outcome
// columns, the rules that allowed and transformed a message (record and what-if), the count
// label, one time convention with a UTC/local toggle, the two orders, no stale status line,
// "Signed in as" once, addresses never broken mid-word, and search by the address a person
// knows. Screenshots go to artifacts/console/.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import t from 'tap';
import { parseConfig } from '../../src/config.js';
import type { AuditRecord } from '../../src/core/audit/record.js';
import type { CanonicalEvent } from '../../src/core/model.js';
import { startGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { MemoryAdapter, message } from '../fixtures/memory-adapter.js';
import { launchChromium } from '../harness/chromium.js';

const AUDITOR = 'compliance-auditor-token-3c9e51aa';
const ADMIN = 'compliance-admin-token-77d0b2f4';
const SHOTS = resolve('artifacts', 'console');
const LONG = 'xmpp:alexandra.konstantinopoulou-vanderbilt@corp.test';

/** The default policy, Carol's server as a partner, a card-number redaction, 2/min to consumers. */
function policyText(): string {
  const base = readFileSync('policies/default.yaml', 'utf8')
    .replace(
      'partner: { domains: [partner.test, "*.partner.test"] }',
      'partner: { domains: [partner.test, hs.test] }',
    )
    .replace('rateLimit: 30/min', 'rateLimit: 2/min');
  if (!base.includes('hs.test') || !base.includes('2/min')) throw new Error('policies/default.yaml changed');
  return `${base}
  - id: no-card-numbers
    description: Card numbers never leave the company.
    match: { kind: message, content: { pattern: "\\\\b(?:\\\\d[ -]?){12,15}\\\\d\\\\b" } }
    effect: redact
    replacement: "[card number removed]"
`;
}

async function startParley() {
  const dir = mkdtempSync(join(tmpdir(), 'parley-compliance-'));
  writeFileSync(join(dir, 'policy.yaml'), policyText());
  const text = `store: { memory: true }\nhttp:\n  listen: "127.0.0.1:0"\n  tokens: { admin: "\${A}", auditor: "\${B}" }\npolicy: { file: policy.yaml, watch: false }\naudit: { content: full, retentionDays: 365 }\n`;
  writeFileSync(join(dir, 'parley.yaml'), text);
  const loaded = parseConfig(text, join(dir, 'parley.yaml'), { A: ADMIN, B: AUDITOR });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const partner = new MemoryAdapter('partner', 'matrix', ['partner.test', 'hs.test']);
  const consumer = new MemoryAdapter('consumer', 'xmpp', ['chat.example']);
  const gw = await startGateway(loaded, {
    logger: createLogger({ level: 'silent' }),
    extraAdapters: [corp, partner, consumer],
  });
  return { gw, corp, partner, consumer };
}

const rows = (page: Page) => page.getByTestId('audit-row');
const rowSeqs = (page: Page): Promise<number[]> =>
  rows(page).evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
const inPage = <T>(page: Page, expression: string): Promise<T> => page.evaluate<T>(expression);

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every timestamp element's ISO instant and shown text. */
const timestamps = (page: Page) =>
  page
    .locator('time[data-iso]')
    .evaluateAll((els) =>
      els.map((e) => ({ iso: e.getAttribute('data-iso') ?? '', text: e.textContent ?? '' })),
    );

const utcText = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
const kolkataText = (iso: string) => {
  const d = new Date(Date.parse(iso) + 330 * 60_000).toISOString();
  return `${d.slice(0, 10)} ${d.slice(11, 19)} UTC+05:30`;
};

/** The label under the table, and the rows shown, agree. */
async function countMatches(page: Page): Promise<boolean> {
  const label = (await page.getByTestId('page-info').textContent()) ?? '';
  const n = await rows(page).count();
  return n === 0 ? /No records/.test(label) : label.startsWith(`${n} record${n === 1 ? '' : 's'} shown`);
}

t.test('the console as a compliance officer reads it', async (t) => {
  mkdirSync(SHOTS, { recursive: true });
  const { gw, corp, partner } = await startParley();
  t.teardown(() => gw.stop());
  partner.answer = (d) =>
    d.event.kind === 'message' && d.event.body.includes('refuse me')
      ? { ok: false, refused: true, reason: 'M_FORBIDDEN: Carol does not accept messages' }
      : { ok: true };

  const T0 = Date.parse('2026-12-07T09:00:00.000Z');
  const at = (s: number) => new Date(T0 + s * 1000).toISOString();
  // Submitted in this order; the event times say otherwise for the second one.
  await corp.submit(
    message('xmpp:alice@corp.test', 'matrix:u/carol:hs.test', 'My card is 4111 1111 1111 1111, Carol.', {
      time: at(10),
    }),
  );
  await partner.submit(
    message('matrix:u/carol:hs.test', 'xmpp:alice@corp.test', 'Thanks, got it.', {
      time: at(5),
      adapter: 'partner',
    }),
  );
  await corp.submit(
    message('xmpp:alice@corp.test', 'matrix:u/caroline:hs.test', 'Hi Caroline', { time: at(20) }),
  );
  await corp.submit(
    message('xmpp:alice@corp.test', 'matrix:u/carol:other.example', 'Hi other carol', { time: at(21) }),
  );
  await corp.submit(
    message('xmpp:alice@corp.test', 'matrix:u/carol:hs.test', 'Please refuse me', { time: at(30) }),
  );
  for (let i = 0; i < 3; i++)
    await corp.submit(
      message('xmpp:alice@corp.test', 'xmpp:zed@chat.example', `ping ${i}`, { time: at(40 + i) }),
    );
  await corp.submit({
    kind: 'call',
    id: 'call-1',
    time: at(50),
    from: 'xmpp:bob@corp.test',
    to: 'sip:carol@hs.test',
    adapter: 'corp',
    traceId: 'tc1',
    action: 'invite',
    callId: 'k1',
  } as CanonicalEvent);
  await corp.submit(message(LONG, 'matrix:u/carol:hs.test', 'A long name', { time: at(60) }));
  await gw.audit.flush();
  await new Promise((r) => setTimeout(r, 100));
  await gw.audit.flush();

  const all = await gw.store.audit.range(1, 1000);
  const decisions = all.filter((r) => r.category === 'decision');
  const byBody = (text: string) =>
    decisions.find((r) => r.content.mode === 'full' && r.content.body.includes(text)) as AuditRecord;
  const card = byBody('card');
  const refused = byBody('refuse me');
  const limited = byBody('ping 2');
  const unroutable = byBody('other carol');
  t.match(card, { decision: 'redact', rule: 'partners-talk' }, 'the card number was redacted');
  const isCarol = (a: string) =>
    /^(matrix:u\/carol:hs\.test|sip:carol@hs\.test|xmpp:carol@hs\.test)$/.test(a);
  const carols = decisions.filter((r) => isCarol(r.from) || isCarol(r.to)).map((r) => r.seq);
  t.equal(carols.length, 5, "Carol's five decisions: card, thanks, refused, call, long name");

  const browser: Browser = await launchChromium();
  t.teardown(() => browser.close());
  // A zone half an hour off whole hours, so that local and UTC never look alike.
  const context = await browser.newContext({
    timezoneId: 'Asia/Kolkata',
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  const rejected: string[] = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // The browser logs every 4xx; the one expected is the over-long domain filter below.
    if (/Failed to load resource: .* 400/.test(m.text())) rejected.push(m.text());
    else problems.push(`console: ${m.text()}`);
  });

  await page.goto(`${gw.url}/console`);
  await page.getByTestId('token-input').fill(AUDITOR);
  await page.getByTestId('sign-in').click();
  await rows(page).first().waitFor();

  // --- "Signed in as" once ------------------------------------------------------------------
  const signedIn = await inPage<number>(page, `document.body.innerText.split('Signed in as').length - 1`);
  t.equal(signedIn, 1, '"Signed in as" appears once');

  // --- the count label matches the rows shown; outcomes folded into their decisions --------
  await until('the count label', () => countMatches(page));
  t.ok(await countMatches(page), 'count label == rows');
  const shown = await rowSeqs(page);
  const outcomeRecords = all.filter((r) => r.category === 'outcome');
  t.ok(outcomeRecords.length > 0, 'the trail has later outcome records');
  t.same(
    shown.filter((s) => outcomeRecords.some((o) => o.seq === s)),
    [],
    'outcome records of decisions on the page are not rows of their own',
  );
  t.same(
    all.filter((r) => r.category !== 'outcome' && !shown.includes(r.seq)).map((r) => r.seq),
    [],
    'every other record is a row',
  );

  // --- Reason and Outcome columns ------------------------------------------------------------
  const row = (seq: number) => page.locator(`[data-testid="audit-row"][data-seq="${seq}"]`);
  const reasonOf = async (seq: number) => (await row(seq).getByTestId('row-reason').textContent()) ?? '';
  t.equal(
    await row(refused.seq).getAttribute('data-outcome'),
    'refused',
    'refused: outcome from its later record',
  );
  t.match(
    await reasonOf(refused.seq),
    'refused by the target network: M_FORBIDDEN: Carol does not accept messages',
  );
  t.equal(await row(limited.seq).getAttribute('data-outcome'), 'rate-limited');
  t.match(await reasonOf(limited.seq), /rate-limited: .*consumer-im.*2 per 60 s/);
  t.equal(await row(unroutable.seq).getAttribute('data-outcome'), 'unroutable');
  t.match(await reasonOf(unroutable.seq), 'No network here serves the domain other.example');
  t.equal(await row(card.seq).getAttribute('data-outcome'), 'delivered');
  t.match(
    await reasonOf(card.seq),
    'Partners may exchange every kind of event',
    'delivered: the decision reason',
  );
  t.match(
    await page.locator('table.records thead').first().textContent(),
    /Decision\s*Outcome\s*Rule\s*Reason/,
    'the Outcome and Reason columns',
  );
  await page.screenshot({ path: join(SHOTS, 'compliance-01-reasons.png'), fullPage: true });

  // --- the open record: the rule that allowed it and every transform --------------------------
  await row(card.seq).getByTestId('open-record').click();
  const detail = page.getByTestId('record-detail');
  await detail.filter({ hasText: `Record ${card.seq}` }).waitFor();
  const detailText = (await detail.textContent()) ?? '';
  t.match(detailText, /Allowed by rule\s*partners-talk/, 'the rule that allowed it');
  t.match(
    await page.getByTestId('record-transforms').textContent(),
    'Redacted by rule no-card-numbers: Card numbers never leave the company.',
    'the rule that redacted it, with its reason',
  );
  t.match(detailText, 'My card is [card number removed], Carol.');
  t.match(await detail.getByTestId('record-outcome').textContent(), 'delivered');
  t.ok(
    (await detail.getByTestId('native-address').allTextContents()).some((x) =>
      x.includes('@carol:hs.test on Matrix'),
    ),
    'the native form beside the canonical one',
  );

  // --- addresses never broken mid-word -------------------------------------------------------
  await page.setViewportSize({ width: 900, height: 900 });
  const long = decisions.find((r) => r.from === LONG) as AuditRecord;
  await row(long.seq).getByTestId('open-record').click();
  await detail.filter({ hasText: `Record ${long.seq}` }).waitFor();
  const addr = detail.getByTestId('address').filter({ hasText: 'konstantinopoulou' }).first();
  // Run in the page; the test is typechecked without the DOM library, hence the casts.
  const css = await addr.evaluate((e) => {
    const g = globalThis as unknown as {
      getComputedStyle(e: unknown): { overflowWrap: string; wordBreak: string };
    };
    const style = g.getComputedStyle(e);
    return { wrap: style.overflowWrap, brk: style.wordBreak };
  });
  t.same(css, { wrap: 'normal', brk: 'normal' }, 'no mid-word breaking allowed on the address');
  // Where the browser actually wrapped it: the character before each line break.
  const breaks = await addr.evaluate((e) => {
    interface TextNode {
      textContent: string | null;
    }
    const doc = (
      globalThis as unknown as {
        document: {
          createTreeWalker(root: unknown, what: number): { nextNode(): TextNode | null };
          createRange(): {
            setStart(n: TextNode, i: number): void;
            setEnd(n: TextNode, i: number): void;
            getBoundingClientRect(): { top: number };
          };
        };
      }
    ).document;
    const text = e.textContent ?? '';
    const walker = doc.createTreeWalker(e, 4 /* NodeFilter.SHOW_TEXT */);
    const tops: number[] = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      for (let i = 0; i < (n.textContent ?? '').length; i++) {
        const r = doc.createRange();
        r.setStart(n, i);
        r.setEnd(n, i + 1);
        tops.push(Math.round(r.getBoundingClientRect().top));
      }
    }
    const before: string[] = [];
    for (let i = 1; i < tops.length; i++) if (tops[i]! > tops[i - 1]! + 2) before.push(text[i - 1]!);
    return { before, width: e.getBoundingClientRect().width };
  });
  t.ok(breaks.before.length > 0, `the long address wraps in the open record (${breaks.width}px wide)`);
  for (const c of breaks.before) t.ok('@:/%.;=?&#-'.includes(c), `wraps after a separator (“${c}”)`);
  await page.screenshot({ path: join(SHOTS, 'compliance-02-long-address.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  // --- one time convention: UTC by default, local with the zone shown, every view -----------
  const allUtc = async () => {
    const ts = await timestamps(page);
    return ts.length > 0 && ts.every((x) => x.text === utcText(x.iso));
  };
  const allLocal = async () => {
    const ts = await timestamps(page);
    return ts.length > 0 && ts.every((x) => x.text === kolkataText(x.iso));
  };
  t.ok(await allUtc(), 'every timestamp of the traffic view and the record is UTC');
  t.notMatch(
    await inPage<string>(page, 'document.body.innerText'),
    /\d{1,2}\/\d{1,2}\/\d{4}|\d:\d\d(:\d\d)? ?[AP]M\b/,
    'no browser-locale dates',
  );
  await page.getByTestId('tz-select').selectOption('local');
  await until('local times', allLocal);
  // Chromium names the zone by its older IANA alias.
  t.match(
    await page.locator('#tz-local').textContent(),
    /UTC\+05:30, Asia\/(Kolkata|Calcutta)/,
    'the zone is named',
  );
  t.match(
    await page.locator('label[for="f-from"]').textContent(),
    /\(UTC\+05:30, Asia\/(Kolkata|Calcutta)\)/,
  );
  t.pass('the toggle changes every timestamp to local time');
  await page.screenshot({ path: join(SHOTS, 'compliance-03-local-time.png'), fullPage: true });
  await page.getByTestId('nav-policy').click();
  await page.getByTestId('policy-version').waitFor();
  await until(
    'the policy history',
    async () => !/Loading/.test((await page.locator('#policy-history').textContent()) ?? ''),
  );
  t.ok(await allLocal(), 'the policy view (loaded, history) in local time');
  await page.getByTestId('nav-charts').click();
  await page.getByTestId('chart-decision').locator('svg rect.bar').first().waitFor();
  t.ok(
    (await page.getByTestId('chart-decision').locator('svg text.axis').allTextContents()).some((x) =>
      x.endsWith(' UTC+05:30'),
    ),
    'chart intervals in local time',
  );
  await page.getByTestId('tz-select').selectOption('utc');
  await until('UTC chart labels', async () =>
    (await page.getByTestId('chart-decision').locator('svg text.axis').allTextContents()).some((x) =>
      x.endsWith(' UTC'),
    ),
  );
  t.notMatch(
    (await page.getByTestId('chart-decision').textContent()) ?? '',
    /UTC\+05:30/,
    'the charts follow the toggle',
  );
  await page.getByTestId('nav-policy').click();
  t.ok(await allUtc(), 'back to UTC everywhere');

  // --- the what-if names the rule that redacted ---------------------------------------------
  await page.getByTestId('whatif-event').fill(
    JSON.stringify({
      kind: 'message',
      from: 'xmpp:alice@corp.test',
      to: 'matrix:u/carol:hs.test',
      body: 'card 4111 1111 1111 1111',
    }),
  );
  await page.getByTestId('whatif-submit').click();
  const whatif = page.getByTestId('whatif-result');
  await whatif.getByTestId('whatif-transform').first().waitFor();
  t.match(
    await whatif.getByTestId('whatif-decision').textContent(),
    'Allowed by rule partners-talk: Partners may exchange every kind of event',
  );
  t.same(
    await whatif.getByTestId('whatif-transform').allTextContents(),
    ['Redacted by rule no-card-numbers: Card numbers never leave the company.'],
    'the redacting rule, with its reason',
  );
  t.notMatch(
    [
      await whatif.getByTestId('whatif-decision').textContent(),
      ...(await whatif.getByTestId('whatif-transform').allTextContents()),
    ].join('\n'),
    /consumer-im/,
    'no third rule named as deciding or redacting',
  );
  await page.screenshot({ path: join(SHOTS, 'compliance-04-whatif.png'), fullPage: true });

  // --- no stale status line across tabs -------------------------------------------------------
  await page.getByTestId('nav-traffic').click();
  await page.getByTestId('search-input').fill('card');
  await page.getByTestId('filter-apply').click();
  const status = page.locator('#status');
  await status.filter({ hasText: 'this search is recorded' }).waitFor();
  await page.getByTestId('nav-integrity').click();
  t.equal(await status.textContent(), '', 'the search status does not follow to Integrity');
  await page.getByTestId('nav-traffic').click();
  t.equal(await status.textContent(), '', 'nor comes back');
  await page.locator('#f-domain').fill('x'.repeat(300));
  await page.getByTestId('filter-apply').click();
  await until('an error line', async () => (await status.getAttribute('class'))?.includes('error') === true);
  await page.getByTestId('nav-holds').click();
  t.equal(await status.textContent(), '', 'no error line from another tab');
  await page.getByTestId('nav-traffic').click();
  await page.getByTestId('search-input').fill('');
  await page.locator('#f-domain').fill('');

  // --- order: by record or by the event's own time -------------------------------------------
  await page.getByTestId('filter-decision').selectOption('');
  await page.locator('#f-category').selectOption('decision');
  await page.getByTestId('filter-apply').click();
  await until('decision rows', async () => (await rows(page).count()) === decisions.length);
  t.same(await rowSeqs(page), decisions.map((r) => r.seq).reverse(), 'record order: newest seq first');
  await page.getByTestId('sort-select').selectOption('event');
  const byEvent = [...decisions]
    .sort((a, b) => Date.parse(b.eventTime ?? b.time) - Date.parse(a.eventTime ?? a.time) || b.seq - a.seq)
    .map((r) => r.seq);
  await until('event-time order', async () => (await rowSeqs(page)).join() === byEvent.join());
  t.not(
    byEvent.join(),
    decisions
      .map((r) => r.seq)
      .reverse()
      .join(),
    'the two orders differ here',
  );
  t.equal(
    await page.locator('table.records thead th').nth(1).textContent(),
    'Event time',
    'the time column shows the event time',
  );
  t.ok(await countMatches(page), 'count label == rows after a filter');
  await page.screenshot({ path: join(SHOTS, 'compliance-05-event-order.png'), fullPage: true });
  await page.getByTestId('sort-select').selectOption('seq');

  // --- search by the address a person knows ---------------------------------------------------
  for (const form of [
    '@carol:hs.test',
    'carol@hs.test',
    'sip:carol@hs.test',
    'xmpp:carol@hs.test',
    'matrix:u/carol:hs.test',
  ]) {
    await page.locator('#f-user').fill(form);
    await page.getByTestId('filter-apply').click();
    await until(
      `Carol's rows for ${form}`,
      async () => (await rowSeqs(page)).sort((a, b) => a - b).join() === carols.join(),
    );
    t.ok(
      await countMatches(page),
      `${form}: Carol's ${carols.length} decisions, nobody else's; count label == rows`,
    );
  }
  const natives = await page.getByTestId('native-address').allTextContents();
  t.ok(
    natives.some((x) => x.includes('@carol:hs.test on Matrix')),
    'rows show the Matrix form',
  );
  t.ok(
    natives.some((x) => x.includes('carol@hs.test on SIP')),
    'and the SIP form',
  );
  await page.screenshot({ path: join(SHOTS, 'compliance-06-search-carol.png'), fullPage: true });

  const origin = new URL(gw.url!).origin;
  t.same(
    requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:')),
    [],
    'no request left the gateway',
  );
  t.same(problems, [], 'no script errors in the page');
  t.equal(rejected.length, 1, 'one 400: the over-long domain');
});
