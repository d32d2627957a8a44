// The embedded default keeps what it must across a restart: real `parley start` processes
// on a SQLite file. Traffic goes through (SIP MESSAGEs from partner.test to corp.test, whose
// XMPP link is down, so each is allowed, audited and queued), the gateway stops, starts
// again on the same file, and the trail is intact (same head, `parley audit verify` exit 0,
// the records readable through the API) and the queued messages still wait.
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import type { AuditRecord } from '../../src/core/audit/record.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { freePort } from '../harness/redis.js';
import { freeUdpPort } from '../harness/sip.js';

const root = resolve(import.meta.dirname, '../..');
const ENTRY = join(root, 'test/fixtures/cli-entry.ts');
const AUDITOR = 'auditor-token-0123456789';

// Two gateway starts and stops and three CLI runs: slow on a loaded machine.
t.setTimeout(300_000);

function parley(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    cwd: root,
    env: { ...process.env, AUD: AUDITOR },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function finish(p: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  let out = '';
  let err = '';
  p.stdout?.on('data', (d) => {
    out += d;
  });
  p.stderr?.on('data', (d) => {
    err += d;
  });
  const code = await new Promise<number | null>((r) => p.on('close', r));
  return { code, out, err };
}

/** Start the gateway; resolves with its URL and a stop() that SIGTERMs it and waits. */
async function start(cfg: string) {
  const p = parley(['start', '-c', cfg, '--log-level', 'info']);
  const done = finish(p);
  const url = await new Promise<string>((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => rej(new Error(`no start: ${buf}`)), 90_000);
    p.stderr?.on('data', (d) => {
      buf += d;
      const m = /listening on (http:\/\/[^\s]+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        res(m[1] as string);
      }
    });
    p.on('close', () => rej(new Error(`exited before listening: ${buf}`)));
  });
  return {
    url,
    done,
    stop: async () => {
      p.kill('SIGTERM');
      return done;
    },
  };
}

const sipMessage = (me: number, n: number, body: string) =>
  [
    'MESSAGE sip:alice@corp.test SIP/2.0',
    `Via: SIP/2.0/UDP 127.0.0.1:${me};branch=z9hG4bK-restart-${n};rport`,
    `From: <sip:bob@partner.test>;tag=r${n}`,
    'To: <sip:alice@corp.test>',
    `Call-ID: restart-${n}`,
    `CSeq: ${n} MESSAGE`,
    'Max-Forwards: 70',
    'Content-Type: text/plain',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');

/** Send SIP MESSAGEs and wait for each final answer (its status line). */
async function sendMessages(port: number, bodies: string[]): Promise<string[]> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const me = sock.address().port;
  const finals = new Map<number, string>();
  sock.on('message', (m) => {
    const text = m.toString();
    const status = /^SIP\/2\.0 (\d{3}[^\r]*)/.exec(text)?.[1];
    const cseq = Number(/CSeq: (\d+)/i.exec(text)?.[1]);
    if (status && !status.startsWith('1')) finals.set(cseq, status);
  });
  try {
    for (let i = 0; i < bodies.length; i++) {
      const n = i + 1;
      const req = Buffer.from(sipMessage(me, n, bodies[i] as string));
      const until = Date.now() + 20_000;
      // Retransmit (as a UDP client does) until the final answer.
      while (!finals.has(n) && Date.now() < until) {
        sock.send(req, port, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    return bodies.map((_, i) => finals.get(i + 1) ?? 'no answer');
  } finally {
    sock.close();
  }
}

async function auditPage(url: string): Promise<{ records: AuditRecord[]; next: number | null }> {
  const res = await fetch(`${url}/api/v1/audit?limit=1000`, {
    headers: { authorization: `Bearer ${AUDITOR}` },
  });
  if (res.status !== 200) throw new Error(`GET /api/v1/audit: ${res.status} ${await res.text()}`);
  return (await res.json()) as { records: AuditRecord[]; next: number | null };
}

t.test('a restart keeps the audit trail and what waits in the queue', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(join(root, 'policies/default.yaml'), join(dir, 'policy.yaml'));
  const db = join(dir, 'state', 'parley.db');
  const sipPort = await freeUdpPort();
  const deadXmpp = await freePort(); // nothing listens: the corp link stays down
  const cfg = join(dir, 'parley.yaml');
  writeFileSync(
    cfg,
    [
      `store: { sqlite: "${db}" }`,
      'http:',
      '  listen: "127.0.0.1:0"',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own ${VAR} syntax
      '  tokens: { auditor: "${AUD}" }',
      'policy: { file: policy.yaml, watch: false }',
      'audit: { content: full, failClosed: true }',
      'adapters:',
      '  corp:',
      '    type: xmpp',
      `    service: "xmpp://127.0.0.1:${deadXmpp}"`,
      '    component: gw.corp.test',
      '    secret: corp-secret',
      '    domains: [corp.test]',
      '  partner-sip:',
      '    type: sip',
      `    listen: ["udp://127.0.0.1:${sipPort}"]`,
      '    domains: [partner.test]',
      '    peers: ["127.0.0.1/32"]',
      '',
    ].join('\n'),
  );

  const first = await start(cfg);
  const answers = await sendMessages(sipPort, ['before the restart, one', 'before the restart, two']);
  t.same(
    answers.map((a) => a.slice(0, 3)),
    ['202', '202'],
    `accepted for later delivery: ${answers.join('; ')}`,
  );
  const before = await auditPage(first.url);
  const queued = before.records.filter((r) => r.outcome === 'queued');
  t.equal(queued.length, 2, 'two outcome records say queued');
  const stopped = await first.stop();
  t.equal(stopped.code, 0, stopped.err);
  t.match(stopped.out, /using the SQLite store/, 'the store named at start');
  t.match(stopped.out, new RegExp(`"path":"${db.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`), 'with its path');

  const verify1 = await finish(parley(['audit', 'verify', '-c', cfg]));
  t.equal(verify1.code, 0, verify1.err);
  const head1 = /head (\d+) ([0-9a-f]{64})/.exec(verify1.out);
  t.ok(head1, verify1.out);
  t.equal(Number(head1?.[1]), before.records[0]?.seq, 'the head is the newest record the API showed');

  const second = await start(cfg);
  const after = await auditPage(second.url);
  t.same(
    after.records.filter((r) => r.seq <= (before.records[0]?.seq ?? 0)),
    before.records,
    'every record from before the restart, readable through the API',
  );
  const verifyRes = await fetch(`${second.url}/api/v1/audit/verify`, {
    headers: { authorization: `Bearer ${AUDITOR}` },
  });
  t.match(await verifyRes.json(), { ok: true });
  t.same(await sendMessages(sipPort, ['after the restart']).then((a) => a.map((x) => x.slice(0, 3))), [
    '202',
  ]);
  const stopped2 = await second.stop();
  t.equal(stopped2.code, 0, stopped2.err);

  const verify2 = await finish(
    parley(['audit', 'verify', '-c', cfg, '--known-head', `${head1?.[1]}:${head1?.[2]}`]),
  );
  t.equal(
    verify2.code,
    0,
    `the chain still holds the head from before the restart: ${verify2.out}${verify2.err}`,
  );
  t.match(verify2.out, /audit chain intact/);

  const store = new SqliteStore({ path: db });
  t.teardown(() => store.close());
  const waiting = await store.peek('xmpp:corp:outbox', 10);
  t.equal(waiting.length, 3, 'the three messages still wait for the corp link');
  t.match(
    waiting.join('\n'),
    /before the restart, one[\s\S]*before the restart, two[\s\S]*after the restart/,
  );
});

t.test('audit verify on a SQLite file that is not there says so', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(join(root, 'policies/default.yaml'), join(dir, 'policy.yaml'));
  const db = join(dir, 'elsewhere', 'parley.db');
  const cfg = join(dir, 'parley.yaml');
  writeFileSync(cfg, `store: { sqlite: "${db}" }\npolicy: { file: policy.yaml }\n`);
  const r = await finish(parley(['audit', 'verify', '-c', cfg]));
  t.equal(r.code, 0, r.err);
  t.match(r.out, /empty log/);
  t.match(r.err, `parley: note: ${db} did not exist: this opens a new, empty store there`);
  t.match(r.err, /run this where the gateway runs/);
});
