// The compliance console in a real headless Chromium (Debian's, driven by playwright-core)
// against a running Parley: real events through the real pipeline from two in-process
// adapters, so the audit trail holds real records. Screenshots go to artifacts/console/.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import t from 'tap';
import { parseConfig } from '../../src/config.js';
import type { AuditRecord } from '../../src/core/audit/record.js';
import { verifyLog, verifyRecords } from '../../src/core/audit/verify.js';
import type { CanonicalEvent } from '../../src/core/model.js';
import { type Gateway, startGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { MemoryAdapter, message } from '../fixtures/memory-adapter.js';
import { tamperRecord } from '../fixtures/tamper.js';
import { launchChromium } from '../harness/chromium.js';

const ADMIN = 'console-admin-token-5b1e0c9d';
const AUDITOR = 'console-auditor-token-8a2f47e3';
const SHOTS = resolve('artifacts', 'console');

let n = 0;
const now = () => new Date().toISOString();
const call = (from: string, to: string): CanonicalEvent => {
  n += 1;
  return {
    kind: 'call',
    id: `c${n}`,
    time: now(),
    from,
    to,
    adapter: 'corp',
    traceId: `tc${n}`,
    action: 'invite',
    callId: `k${n}`,
  } as CanonicalEvent;
};

async function startParley(): Promise<{ gw: Gateway; corp: MemoryAdapter; partner: MemoryAdapter }> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-console-'));
  copyFileSync('policies/default.yaml', join(dir, 'policy.yaml'));
  const text = `store: { memory: true }\nhttp:\n  listen: "127.0.0.1:0"\n  tokens: { admin: "\${A}", auditor: "\${B}" }\npolicy: { file: policy.yaml, watch: false }\naudit: { content: full, retentionDays: 365 }\n`;
  writeFileSync(join(dir, 'parley.yaml'), text);
  const loaded = parseConfig(text, join(dir, 'parley.yaml'), { A: ADMIN, B: AUDITOR });
  const corp = new MemoryAdapter('corp', 'xmpp', ['corp.test']);
  const partner = new MemoryAdapter('partner', 'matrix', ['partner.test']);
  const gw = await startGateway(loaded, {
    logger: createLogger({ level: 'silent' }),
    extraAdapters: [corp, partner],
  });
  return { gw, corp, partner };
}

const rows = (page: Page) => page.getByTestId('audit-row');

/** The seqs of the rows shown, read in one go (the table may be re-rendered meanwhile). */
async function rowSeqs(page: Page): Promise<number[]> {
  return rows(page).evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
}

/** Evaluated in the page (strings: the test is typechecked without the DOM library). */
const inPage = <T>(page: Page, expression: string): Promise<T> => page.evaluate<T>(expression);

/**
 * Poll `check` from the test until it holds (page.waitForFunction would evaluate code in
 * the page, which the console's Content-Security-Policy rightly forbids).
 */
async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('the compliance console in Chromium against a running Parley', async (t) => {
  mkdirSync(SHOTS, { recursive: true });
  const { gw, corp, partner } = await startParley();
  t.teardown(() => gw.stop());

  // Real traffic through the pipeline.
  await corp.submit({
    kind: 'presence',
    id: 'p1',
    time: now(),
    from: 'xmpp:alice@corp.test',
    to: 'matrix:u/bob:partner.test',
    adapter: 'corp',
    traceId: 'tp1',
    show: 'away',
    status: 'at lunch',
  } as CanonicalEvent);
  const at = now();
  await corp.submit(
    message(
      'xmpp:alice@corp.test',
      'matrix:u/bob:partner.test',
      'Hello Bob, the quarterly report is attached.',
      {
        time: at,
      },
    ),
  );
  await partner.submit(
    message('matrix:u/bob:partner.test', 'xmpp:alice@corp.test', 'Thanks Alice, reading it now.', {
      time: now(),
      adapter: 'partner',
    }),
  );
  await corp.submit(call('xmpp:alice@corp.test', 'matrix:u/eve:consumer.example'));
  await corp.submit(
    message('xmpp:sam@corp.test', 'matrix:u/bob:partner.test', 'Lunch on Friday?', { time: now() }),
  );
  await corp.submit(call('xmpp:sam@corp.test', 'sip:mallory@consumer.example'));
  t.equal(partner.delivered.length, 3, 'two messages and a presence crossed');
  t.equal(corp.refused.length, 2, 'two calls to consumers were refused');
  await gw.audit.flush();
  const all = await gw.store.audit.range(1, 100);
  const decisions = all.filter((r) => r.category === 'decision');
  t.equal(decisions.length, 6, 'six decisions audited');
  const withText = (text: string) =>
    decisions.find((r) => r.content.mode === 'full' && r.content.body.includes(text)) as AuditRecord;
  const quarterly = withText('quarterly');
  const reply = withText('reading it now');
  t.ok(quarterly.seq > decisions[0]!.seq, 'the quarterly message follows the presence update');

  let browser: Browser | null = null;
  browser = await launchChromium();
  t.teardown(() => browser?.close());
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1366, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  const refused: string[] = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // The browser logs every 4xx; the one expected is the wrong token tried below.
    if (/Failed to load resource: .* 401/.test(m.text())) refused.push(m.text());
    else problems.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => void d.accept());

  // --- sign in (auditor) -------------------------------------------------------------------
  await page.goto(`${gw.url}/console`);
  await page.getByTestId('token-input').fill('not-a-token');
  await page.getByTestId('sign-in').click();
  await page.getByTestId('signin-error').filter({ hasText: 'not valid' }).waitFor();
  await page.getByTestId('token-input').fill(AUDITOR);
  await page.getByTestId('sign-in').click();
  await rows(page).first().waitFor();
  t.equal(await page.getByTestId('role').textContent(), 'auditor');
  t.equal(
    await inPage(page, `sessionStorage.getItem('parley.console.token')`),
    AUDITOR,
    'token in sessionStorage',
  );
  t.equal(await inPage(page, 'localStorage.length'), 0, 'nothing in localStorage');
  t.equal(await inPage(page, 'document.cookie'), '', 'no cookies');
  const seqs = await rowSeqs(page);
  t.ok(seqs.length >= 7, 'decisions and the sign-in record are listed');
  t.same(
    seqs,
    [...seqs].sort((a, b) => b - a),
    'newest first',
  );
  await page.screenshot({ path: join(SHOTS, '01-traffic.png'), fullPage: true });

  // --- filter by decision --------------------------------------------------------------------
  await page.getByTestId('filter-decision').selectOption('deny');
  await page.getByTestId('filter-apply').click();
  await until(
    'only denied records',
    async () =>
      (await rows(page).count()) > 0 &&
      (await page.locator('[data-testid="audit-row"]:not([data-decision="deny"])').count()) === 0,
  );
  t.equal(await rows(page).count(), 2, 'the two refused calls');
  t.match(await rows(page).first().textContent(), /no-consumer-calls/);

  // --- search --------------------------------------------------------------------------------
  await page.getByTestId('filter-decision').selectOption('');
  await page.getByTestId('search-input').fill('QUARTERLY');
  await page.getByTestId('search-input').press('Enter');
  await until('the search result', async () => (await rowSeqs(page)).join() === String(quarterly.seq));
  t.pass('search finds the one message with the word, case-insensitively');
  // How the page was searched: a store that scans says how much it read; an index says nothing.
  const info = page.getByTestId('search-info');
  const mode = await info.getAttribute('data-mode');
  if (mode === 'scan')
    t.match(
      await info.textContent(),
      /^Searched \d+ of \d+ records for this page/,
      'a scan says what it read',
    );
  else t.equal(await info.isHidden(), true, `${mode}: no note`);

  // --- open a record ------------------------------------------------------------------------
  // By keyboard: the row's button opens it, Escape closes it; then by mouse.
  await rows(page).first().getByTestId('open-record').focus();
  await page.keyboard.press('Enter');
  await page.getByTestId('record-detail').waitFor();
  await page.keyboard.press('Escape');
  await page.getByTestId('record-detail').waitFor({ state: 'hidden' });
  await rows(page).first().getByTestId('open-record').click();
  const detail = page.getByTestId('record-detail');
  await detail.waitFor();
  const detailText = (await detail.textContent()) ?? '';
  t.match(detailText, 'Hello Bob, the quarterly report is attached.', 'the event content');
  t.match(detailText, 'partners-talk', 'the deciding rule');
  t.match(detailText, 'Partners may exchange every kind of event', 'the rule’s reason (its description)');
  t.match(detailText, '2026-11-25.1', 'the policy version');
  t.equal(await page.getByTestId('record-hash').textContent(), quarterly.hash, 'the record hash');
  await page
    .getByTestId('prev-link')
    .filter({ hasText: `Follows record ${quarterly.seq - 1} ✓` })
    .waitFor();
  await page.screenshot({ path: join(SHOTS, '02-record.png'), fullPage: true });

  // --- verify: intact, then tampered ------------------------------------------------------------
  await page.getByTestId('nav-integrity').click();
  await page.getByTestId('verify-button').click();
  const result = page.getByTestId('verify-result');
  await result.filter({ hasText: 'Chain intact' }).waitFor();
  t.match(await result.textContent(), /Chain intact: \d+ record\(s\) verified/);

  // Someone with access to the store edits a record.
  const restore = tamperRecord(gw.store.audit, reply.seq, (r) => ({
    ...r,
    content: { mode: 'full', body: 'Thanks Alice, deleting it now.' },
  }));
  t.match(
    await verifyLog(gw.store.audit),
    { ok: false, firstBad: reply.seq },
    'the store really is tampered',
  );
  await page.getByTestId('verify-button').click();
  await result.filter({ hasText: `Chain broken at record ${reply.seq}` }).waitFor();
  t.match(await result.textContent(), /hash mismatch/);
  await page.screenshot({ path: join(SHOTS, '03-verify-broken.png'), fullPage: true });
  await page.getByTestId('verify-open-bad').click();
  await page.getByTestId('record-detail').filter({ hasText: 'deleting it now' }).waitFor();
  t.pass('the broken record opens from the verify result');
  restore();
  t.match(await verifyLog(gw.store.audit), { ok: true }, 'restored');

  // --- policy view and what-if --------------------------------------------------------------------
  await page.getByTestId('nav-policy').click();
  const policy = page.getByTestId('policy-view');
  await policy.getByTestId('policy-version').waitFor();
  const policyText = (await policy.textContent()) ?? '';
  t.match(policyText, 'Deny calls with someone in zone consumer at either end. Reason given');
  t.match(policyText, 'enterprise: corp.test');
  await page.getByTestId('whatif-event').fill(
    JSON.stringify({
      kind: 'call',
      from: 'xmpp:alice@corp.test',
      to: 'sip:zed@consumer.example',
      action: 'invite',
      callId: 'w1',
    }),
  );
  await page.getByTestId('whatif-submit').click();
  const whatif = page.getByTestId('whatif-result');
  await whatif.filter({ hasText: 'Denied' }).waitFor();
  const whatifText = (await whatif.textContent()) ?? '';
  t.match(whatifText, 'by rule no-consumer-calls: Calls with consumer networks are not allowed.');
  t.match(whatifText, 'no-consumer-calls (deny): matches');
  t.match(whatifText, 'partners-talk (allow): does not match');
  await page.screenshot({ path: join(SHOTS, '04-whatif.png'), fullPage: true });

  // --- export JSONL -------------------------------------------------------------------------
  await page.getByTestId('nav-traffic').click();
  await page.getByTestId('search-input').fill('');
  await page.getByTestId('filter-apply').click();
  await until('every record', async () => (await rows(page).count()) > 3);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export-jsonl').click(),
  ]);
  t.match(download.suggestedFilename(), /^parley-audit-\d{8}T\d{6}Z\.jsonl$/);
  const file = await download.path();
  const exported = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditRecord);
  t.ok(exported.length >= 8, `${exported.length} records exported`);
  t.same(exported[0]?.seq, 1, 'oldest first, from the start');
  t.ok(
    exported.some((r) => r.seq === quarterly.seq && r.hash === quarterly.hash),
    'the export holds the records as stored',
  );
  t.match(await verifyRecords(exported), { ok: true }, 'the JSONL export verifies on its own');
  await page.getByTestId('export-status').filter({ hasText: 'Saved' }).waitFor();
  t.match(await page.getByTestId('export-status').textContent(), `${exported.length} records`);
  t.equal(await page.getByTestId('export-progress').getAttribute('value'), '1', 'progress complete');
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
  t.match(csv.suggestedFilename(), /\.csv$/);
  const csvLines = readFileSync(await csv.path(), 'utf8')
    .trimEnd()
    .split('\r\n');
  t.match(csvLines[0], /^seq,time,category,kind,from,to,/, 'CSV header');
  t.ok(csvLines.length > exported.length, 'a CSV line per record, and the new export record');
  const [eml] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-eml').click()]);
  t.match(eml.suggestedFilename(), /\.mbox$/);
  t.match(
    readFileSync(await eml.path(), 'utf8'),
    /^From parley@parley\.invalid .*\n[\s\S]*Subject: Parley conversation /,
  );

  // --- live view --------------------------------------------------------------------------------
  await page.getByTestId('live-toggle').check();
  await page.getByTestId('live-status').filter({ hasText: 'connected' }).waitFor();
  await corp.submit(
    message('xmpp:alice@corp.test', 'matrix:u/bob:partner.test', 'Live one', { time: now() }),
  );
  await gw.audit.flush();
  const live = (await gw.store.audit.range(1, 1000)).find(
    (r) => r.category === 'decision' && r.content.mode === 'full' && r.content.body === 'Live one',
  )!;
  await page.locator(`[data-testid="audit-row"][data-seq="${live.seq}"]`).waitFor();
  t.equal((await rowSeqs(page))[0], live.seq, 'the new record appears on top without a reload');
  // Its outcome, recorded after the delivery, joins the same row.
  await page.locator(`[data-testid="audit-row"][data-seq="${live.seq}"][data-outcome="delivered"]`).waitFor();
  await page.getByTestId('live-toggle').uncheck();

  // --- charts -----------------------------------------------------------------------------------
  await page.getByTestId('nav-charts').click();
  await page.getByTestId('chart-decision').locator('svg rect.bar').first().waitFor();
  t.ok((await page.getByTestId('chart-network').locator('svg rect.bar').count()) > 0, 'network chart drawn');
  t.match(await page.getByTestId('chart-decision').textContent(), /denied: 2/);
  await page.screenshot({ path: join(SHOTS, '05-charts.png'), fullPage: true });

  // --- an auditor sees the holds but cannot change them -------------------------------------------
  await page.getByTestId('nav-holds').click();
  await page.getByTestId('retention-info').filter({ hasText: '365 day(s)' }).waitFor();
  t.notOk(await page.getByTestId('hold-submit').isVisible(), 'no hold form for auditors');
  t.notOk(await page.getByTestId('trim-button').isVisible(), 'no trim for auditors');

  // --- sign out ---------------------------------------------------------------------------------
  await page.getByTestId('sign-out').click();
  await page.getByTestId('token-input').waitFor();
  t.equal(await inPage(page, `sessionStorage.getItem('parley.console.token')`), null, 'token forgotten');
  t.equal(await rows(page).count(), 0, 'records cleared from the page');
  t.notOk(await page.getByTestId('sign-out').isVisible());

  // --- an admin, by keyboard, sets and releases a legal hold ---------------------------------------
  await page.getByTestId('token-input').focus();
  await page.keyboard.type(ADMIN);
  await page.keyboard.press('Enter');
  await page.getByTestId('role').filter({ hasText: 'admin' }).waitFor();
  await page.getByTestId('nav-holds').click();
  await page.getByTestId('retention-info').filter({ hasText: '365 day(s)' }).waitFor();
  await page.getByTestId('hold-user').fill('alice@corp.test');
  await page.getByTestId('hold-reason').fill('Matter 2026-17');
  await page.getByTestId('hold-submit').click();
  await page.getByTestId('hold-row').filter({ hasText: 'Matter 2026-17' }).waitFor();
  await page.screenshot({ path: join(SHOTS, '06-holds.png'), fullPage: true });
  await page.getByTestId('hold-release').click();
  await page.getByTestId('hold-row').first().waitFor({ state: 'detached' });
  await page.getByTestId('sign-out').click();
  await page.getByTestId('token-input').waitFor();

  // --- every console action is in the trail, and nothing left the gateway ----------------------------
  await gw.audit.flush();
  const trail = (await gw.store.audit.range(1, 1000)).filter((r) => r.category === 'admin');
  const actions = trail.map((r) => `${r.actor}:${r.kind}`);
  for (const a of [
    'auditor:session.sign-in',
    'auditor:audit.search',
    'auditor:audit.verify',
    'auditor:audit.export',
    'auditor:session.sign-out',
    'admin:session.sign-in',
    'admin:hold.set',
    'admin:hold.release',
    'admin:session.sign-out',
  ]) {
    t.ok(actions.includes(a), `recorded ${a}`);
  }
  t.match(
    trail.find((r) => r.kind === 'audit.search')?.details,
    { filter: { q: 'QUARTERLY' } },
    'the search terms are recorded',
  );
  t.match(trail.find((r) => r.kind === 'session.sign-in')?.details, { client: 'console' });
  t.match(await verifyLog(gw.store.audit), { ok: true });
  const origin = new URL(gw.url!).origin;
  t.same(
    requests.filter((u) => !u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:')),
    [],
    'no request left the gateway',
  );
  t.same(problems, [], 'no script errors in the page');
  t.equal(refused.length, 1, 'one 401: the wrong token');
});
