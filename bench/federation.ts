// Every network to every network, under load: the federation world of the end-to-end test
// (test/fixtures/federation-setup.ts: one gateway with a Redis store between a real
// Prosody, Synapse and Kamailio) carrying a fixed mix of events in all six directions at
// once. Each direction gets `--per` messages at `--rate` per second; mixed in, per sender:
// a chat state every 5th message, a receipt every 10th (XEP-0333 displayed, m.read, IMDN)
// and a presence change every 50th (a SIP PUBLISH at the start and half-way). Senders:
//   alice (XMPP, @xmpp/client) and carol (Matrix, HTTP) in this process; bob (SIP): SIPp
//   UACs through Kamailio (CPIM asking for IMDN, isComposing, IMDN, PUBLISH); bob's phone:
//   one SIPp UAS that Kamailio relays Parley's MESSAGEs to.
// Latency is measured for messages (send to arrival at the receiving client, wall clock;
// SIPp's -trace_msg timestamps on the SIP side). Parley's CPU and memory are this process's
// (process.cpuUsage, memoryUsage), which also runs alice's and carol's clients.
// Prints JSON lines: one per direction, then one for the run.
// Run: npm run bench:federation [-- --per=100 --rate=5]
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Element } from '@xmpp/xml';
import { Method } from 'matrix-js-sdk';
import { type Federation, GHOSTS, startFederation, xmlParse } from '../test/fixtures/federation-setup.js';
import { track } from '../test/harness/processes.js';
import { freeUdpPort, SCENARIOS } from '../test/harness/sip.js';
import { argOf, percentile, sleep } from './common.js';

const PER = Number(argOf('per') ?? 100);
const RATE = Number(argOf('rate') ?? 5);
const DRAIN_MS = 20_000;
const BENCH_SIPP = resolve(dirname(fileURLToPath(import.meta.url)), 'sipp');

type Direction = 'x2m' | 'm2x' | 'x2s' | 's2x' | 'm2s' | 's2m';
const DIRECTIONS: readonly Direction[] = ['x2m', 'm2x', 'x2s', 's2x', 'm2s', 's2m'];
const NAMES: Record<Direction, string> = {
  x2m: 'xmpp->matrix',
  m2x: 'matrix->xmpp',
  x2s: 'xmpp->sip',
  s2x: 'sip->xmpp',
  m2s: 'matrix->sip',
  s2m: 'sip->matrix',
};

/** Wall-clock milliseconds with sub-millisecond precision (comparable with SIPp's traces). */
const wall = () => performance.timeOrigin + performance.now();
const sent = new Map<Direction, Map<number, number>>(DIRECTIONS.map((d) => [d, new Map()]));
const arrived = new Map<Direction, Map<number, number>>(DIRECTIONS.map((d) => [d, new Map()]));
const mixed = { chatstates: 0, receipts: 0, presence: 0 };
/** Messages refused back to their sender (an XMPP error, a SIP final response other than 2xx). */
const refused = new Map<Direction, { count: number; first: string }>();
/** SIP messages Parley accepted with 202: the target link was down and they wait in its queue. */
const queued = new Map<Direction, number>();
const refuse = (d: Direction, why: string) => {
  const r = refused.get(d) ?? { count: 0, first: why };
  r.count++;
  refused.set(d, r);
};
const BENCH_BODY = /^bench (x2m|m2x|x2s|s2x|m2s|s2m) (\d+)$/;

function arrive(body: string | undefined, at = wall()): Direction | null {
  const m = BENCH_BODY.exec(body?.trim() ?? '');
  if (!m) return null;
  const d = m[1] as Direction;
  const seen = arrived.get(d)!;
  if (!seen.has(Number(m[2]))) seen.set(Number(m[2]), at);
  return d;
}

// ------------------------------------------------------------------------- SIPp runs ---

interface Sipp {
  child: ChildProcess;
  trace: string;
  done: Promise<number | null>;
  dir: string;
}

function sipp(scenario: string, port: number, args: string[], keys: Record<string, string>): Sipp {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-fed-'));
  const trace = join(dir, 'messages.log');
  const all = ['-sf', scenario, '-i', '127.0.0.1', '-p', String(port), '-nostdin', '-t', 'u1'];
  all.push('-trace_msg', '-message_file', trace, ...args);
  for (const [k, v] of Object.entries(keys)) all.push('-key', k, v);
  const child = track(spawn('sipp', all, { cwd: dir, stdio: 'ignore' }));
  const done = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, trace, done, dir };
}

const bob = (to: string, extra: Record<string, string> = {}) => {
  const [toUser, toDomain] = to.split('@') as [string, string];
  return { from_user: 'bob', from_domain: 'partner.test', to_user: toUser, to_domain: toDomain, ...extra };
};

async function uac(
  f: Federation,
  scenario: string,
  calls: number,
  rate: number,
  keys: Record<string, string>,
): Promise<Sipp> {
  const target = `127.0.0.1:${f.kamailio.port}`;
  const rateArgs = ['-m', String(calls), '-r', String(rate), '-rp', '1000', '-timeout', '120s'];
  return sipp(scenario, await freeUdpPort(), [...rateArgs, target], keys);
}

/** SIPp's -trace_msg blocks: when, sent or received, and the message. */
function traceBlocks(file: string): { at: number; sent: boolean; text: string }[] {
  let raw = '';
  try {
    raw = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: { at: number; sent: boolean; text: string }[] = [];
  const parts = raw.split(/^-{20,} (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d+)\s*$/m);
  for (let i = 1; i + 7 < parts.length + 1; i += 8) {
    const [y, mo, d, h, mi, s, frac] = parts.slice(i, i + 7).map((x) => x ?? '0');
    // SIPp prints local time.
    const at = new Date(+y!, +mo! - 1, +d!, +h!, +mi!, +s!).getTime() + Number(`0.${frac}`) * 1000;
    const text = parts[i + 7] ?? '';
    out.push({ at, sent: /message sent/.test(text.slice(0, 80)), text });
  }
  return out;
}

const bodyOf = (text: string) =>
  text
    .split(/\r?\n\r?\n/)
    .map((p) => p.trim())
    .filter(Boolean)
    .at(-1) ?? '';

// --------------------------------------------------------------------------- the run ---

async function main(): Promise<void> {
  const f = await startFederation();
  const { alice, carol } = f;
  const G = GHOSTS;
  const x2 = { m: G.xmpp.carol, s: G.xmpp.bob };
  const m2 = { x: f.rooms.alice, s: f.rooms.bob };
  // Ids to acknowledge: the last message each client got from each peer.
  const lastFrom = { aliceFromCarol: '', aliceFromBob: '', carolFromAlice: '', carolFromBob: '' };
  alice.client.on('stanza', (el: Element) => {
    if (el.name !== 'message') return;
    const bounced = /^b(x2m|x2s)-\d+$/.exec(String(el.attrs.id));
    if (el.attrs.type === 'error' && bounced) {
      const text = el.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas');
      return refuse(bounced[1] as Direction, text ?? el.getChild('error')?.toString() ?? 'error');
    }
    const d = arrive(el.getChildText('body') ?? undefined);
    if (d === 'm2x') lastFrom.aliceFromCarol = String(el.attrs.id);
    if (d === 's2x') lastFrom.aliceFromBob = String(el.attrs.id);
  });
  // A waiter that never matches: it sees every event carol's sync brings, as it comes.
  carol
    .waitFor(
      (s) => {
        if (s.section !== 'timeline') return false;
        const d = arrive(typeof s.content.body === 'string' ? s.content.body : undefined);
        if (d === 'x2m') lastFrom.carolFromAlice = String(s.event_id);
        if (d === 's2m') lastFrom.carolFromBob = String(s.event_id);
        return false;
      },
      'the bench',
      3600_000,
    )
    .catch(() => {});

  // Warm-up: every path once (ghosts, rooms, bob shown IMDN-capable by his CPIM message).
  const phone = sipp(join(SCENARIOS, 'message-uas.xml'), f.phonePort, ['-m', '1000000'], {});
  await sleep(300);
  for (const [to, dir] of [
    ['alice@corp.test', 's2x'],
    ['carol@hs.test', 's2m'],
  ] as const) {
    const w = await uac(f, join(BENCH_SIPP, 'fed-message-uac.xml'), 1, 1, bob(to, { dir: `w${dir}` }));
    await w.done;
    rmSync(w.dir, { recursive: true, force: true });
  }
  await alice.send(xmlParse(`<message to="${x2.m}" type="chat" id="w1"><body>warm-up</body></message>`));
  await alice.send(xmlParse(`<message to="${x2.s}" type="chat" id="w2"><body>warm-up</body></message>`));
  await carol.send(m2.x, { msgtype: 'm.text', body: 'warm-up' });
  await carol.send(m2.s, { msgtype: 'm.text', body: 'warm-up' });
  await alice.send(xmlParse('<presence><status>bench warm-up</status></presence>'));
  await carol.client.setPresence({ presence: 'online', status_msg: 'bench warm-up' });
  await sleep(2000);

  const mem = { rss: 0, heapUsed: 0 };
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    mem.rss = Math.max(mem.rss, m.rss);
    mem.heapUsed = Math.max(mem.heapUsed, m.heapUsed);
  }, 250);
  const cpu0 = process.cpuUsage();
  const t0 = wall();
  const pending: Promise<unknown>[] = [];
  const keep = (p: Promise<unknown>) => pending.push(p.catch(() => {}));

  // bob's SIPp senders start with the clients' loops.
  const sips = [
    await uac(f, join(BENCH_SIPP, 'fed-message-uac.xml'), PER, RATE, bob('alice@corp.test', { dir: 's2x' })),
    await uac(f, join(BENCH_SIPP, 'fed-message-uac.xml'), PER, RATE, bob('carol@hs.test', { dir: 's2m' })),
    await uac(
      f,
      join(SCENARIOS, 'iscomposing-uac.xml'),
      Math.ceil(PER / 5),
      RATE / 5,
      bob('alice@corp.test', { state: 'active' }),
    ),
    await uac(
      f,
      join(SCENARIOS, 'iscomposing-uac.xml'),
      Math.ceil(PER / 5),
      RATE / 5,
      bob('carol@hs.test', { state: 'active' }),
    ),
    await uac(f, join(SCENARIOS, 'publish-uac.xml'), 1, 1, {
      from_user: 'bob',
      from_domain: 'partner.test',
      note: 'bench 1',
    }),
  ];
  mixed.chatstates += 2 * Math.ceil(PER / 5);
  mixed.presence += 1;
  const sipMessages = [sips[0]!, sips[1]!];
  const later = (async () => {
    // Half-way: bob's display IMDNs for alice's first messages, and one more PUBLISH.
    await sleep((PER / RATE / 2) * 1000);
    sips.push(
      await uac(
        f,
        join(BENCH_SIPP, 'fed-imdn-uac.xml'),
        Math.ceil(PER / 10),
        RATE / 10,
        bob('alice@corp.test'),
      ),
    );
    sips.push(
      await uac(f, join(SCENARIOS, 'publish-uac.xml'), 1, 1, {
        from_user: 'bob',
        from_domain: 'partner.test',
        note: 'bench 2',
      }),
    );
    mixed.receipts += Math.ceil(PER / 10);
    mixed.presence += 1;
  })();

  const xmppOut = (to: string, d: 'x2m' | 'x2s', i: number) => {
    sent.get(d)!.set(i, wall());
    // alice's messages ask for what XMPP takes back, so SIP gets CPIM asking for IMDN.
    keep(
      alice.send(
        xmlParse(
          `<message to="${to}" type="chat" id="b${d}-${i}"><body>bench ${d} ${i}</body><request xmlns="urn:xmpp:receipts"/><markable xmlns="urn:xmpp:chat-markers:0"/><active xmlns="http://jabber.org/protocol/chatstates"/></message>`,
        ),
      ),
    );
    if (i % 5 === 0) {
      mixed.chatstates++;
      keep(
        alice.send(
          xmlParse(
            `<message to="${to}" type="chat"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>`,
          ),
        ),
      );
    }
    if (i % 10 === 0) {
      const id = d === 'x2m' ? lastFrom.aliceFromCarol : lastFrom.aliceFromBob;
      if (id) {
        mixed.receipts++;
        keep(
          alice.send(
            xmlParse(
              `<message to="${to}" type="chat"><displayed xmlns="urn:xmpp:chat-markers:0" id="${id}"/></message>`,
            ),
          ),
        );
      }
    }
  };
  const matrixOut = (room: string, d: 'm2x' | 'm2s', i: number) => {
    sent.get(d)!.set(i, wall());
    keep(carol.send(room, { msgtype: 'm.text', body: `bench ${d} ${i}` }));
    if (i % 5 === 0) {
      mixed.chatstates++;
      keep(carol.client.sendTyping(room, true, 3000));
    }
    if (i % 10 === 0) {
      const id = d === 'm2x' ? lastFrom.carolFromAlice : lastFrom.carolFromBob;
      if (id) {
        mixed.receipts++;
        keep(carol.readReceipt(room, id));
      }
    }
  };
  for (let i = 1; i <= PER; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - wall();
    if (wait > 0) await sleep(wait);
    xmppOut(x2.m, 'x2m', i);
    xmppOut(x2.s, 'x2s', i);
    matrixOut(m2.x, 'm2x', i);
    matrixOut(m2.s, 'm2s', i);
    if (i % 50 === 0) {
      mixed.presence += 2;
      keep(
        alice.send(
          xmlParse(
            `<presence><show>${i % 100 ? 'away' : 'chat'}</show><status>bench ${i}</status></presence>`,
          ),
        ),
      );
      keep(
        carol.client.setPresence({ presence: i % 100 ? 'unavailable' : 'online', status_msg: `bench ${i}` }),
      );
    }
  }
  await Promise.all(pending);
  await later;
  await Promise.all(sipMessages.map((s) => s.done));
  // SIP senders' send times come from their traces.
  for (const [s, d] of [
    [sipMessages[0]!, 's2x'],
    [sipMessages[1]!, 's2m'],
  ] as const) {
    // The first final response per call counts (later ones answer retransmissions).
    const answered = new Set<string>();
    for (const b of traceBlocks(s.trace)) {
      const final = b.sent ? null : /^SIP\/2\.0 ([2-6]\d\d .*)$/m.exec(b.text)?.[1]?.trim();
      const callId = /^Call-ID:\s*(\S+)/im.exec(b.text)?.[1] ?? '';
      if (final && !answered.has(callId)) {
        answered.add(callId);
        if (!final.startsWith('2')) refuse(d, final);
        if (final.startsWith('202')) queued.set(d, (queued.get(d) ?? 0) + 1);
      }
      const m = b.sent && /^\s*MESSAGE /m.test(b.text) ? BENCH_BODY.exec(bodyOf(b.text)) : null;
      if (m && !sent.get(d)!.has(Number(m[2]))) sent.get(d)!.set(Number(m[2]), b.at);
    }
  }
  // Drain: until every message arrived or DRAIN_MS passed.
  const end = wall() + DRAIN_MS;
  const phoneArrivals = () => {
    for (const b of traceBlocks(phone.trace)) {
      if (!b.sent && /MESSAGE sip:bob@partner\.test/.test(b.text)) arrive(bodyOf(b.text), b.at);
    }
  };
  for (;;) {
    phoneArrivals();
    const missing = DIRECTIONS.some((d) => arrived.get(d)!.size < sent.get(d)!.size);
    if (!missing || wall() > end) break;
    await sleep(500);
  }
  // carol's sync returns a room's latest events only (a "limited" timeline) when many
  // arrive between two syncs: what it skipped is read back from the room's history, with the
  // homeserver's timestamp as its arrival.
  let backfilled = 0;
  for (const room of [m2.x, m2.s]) {
    const res = await carol.client.http.authedRequest<{
      chunk: { content?: { body?: unknown }; origin_server_ts?: number }[];
    }>(Method.Get, `/rooms/${encodeURIComponent(room)}/messages`, { dir: 'b', limit: '1000' });
    for (const e of res.chunk) {
      const m = BENCH_BODY.exec(typeof e.content?.body === 'string' ? e.content.body : '');
      if (!m || (m[1] !== 'x2m' && m[1] !== 's2m')) continue;
      if (arrived.get(m[1] as Direction)!.has(Number(m[2]))) continue;
      arrive(m[0], e.origin_server_ts);
      backfilled++;
    }
  }
  const lastArrival = Math.max(...DIRECTIONS.flatMap((d) => [...arrived.get(d)!.values()]));
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  const seconds = (lastArrival - t0) / 1000;

  let messages = 0;
  for (const d of DIRECTIONS) {
    const lat: number[] = [];
    for (const [i, at] of arrived.get(d)!) {
      const s = sent.get(d)!.get(i);
      if (s !== undefined) lat.push(at - s);
    }
    lat.sort((a, b) => a - b);
    const times = [...sent.get(d)!.values()];
    const arr = [...arrived.get(d)!.values()];
    const span = (Math.max(...arr) - Math.min(...times)) / 1000;
    messages += sent.get(d)!.size;
    console.log(
      JSON.stringify({
        bench: 'federation',
        direction: NAMES[d],
        offeredPerSec: RATE,
        sent: sent.get(d)!.size,
        arrived: arr.length,
        throughputPerSec: +(arr.length / span).toFixed(1),
        p50Ms: +percentile(lat, 0.5).toFixed(1),
        p99Ms: +percentile(lat, 0.99).toFixed(1),
        maxMs: +(lat.at(-1) ?? Number.NaN).toFixed(1),
        ...(arr.length < times.length
          ? { missing: [...sent.get(d)!.keys()].filter((i) => !arrived.get(d)!.has(i)).slice(0, 10) }
          : {}),
        refusedToSender: refused.get(d)?.count ?? 0,
        ...(queued.get(d) ? { queuedBySip202: queued.get(d) } : {}),
        ...(refused.get(d) ? { firstRefusal: refused.get(d)?.first } : {}),
      }),
    );
  }
  const events = messages + mixed.chatstates + mixed.receipts + mixed.presence;
  console.log(
    JSON.stringify({
      bench: 'federation',
      run: 'all six directions at once',
      seconds: +seconds.toFixed(1),
      matrixArrivalsFromHistory: backfilled,
      events: { messages, ...mixed, total: events },
      eventsPerSec: +(events / seconds).toFixed(1),
      cpu: {
        userMs: Math.round(cpu.user / 1000),
        systemMs: Math.round(cpu.system / 1000),
        shareOfOneCore: +((cpu.user + cpu.system) / 1000 / 1000 / seconds).toFixed(2),
        usPerEvent: Math.round((cpu.user + cpu.system) / events),
      },
      memory: {
        rssMaxMB: +(mem.rss / 2 ** 20).toFixed(1),
        heapUsedMaxMB: +(mem.heapUsed / 2 ** 20).toFixed(1),
      },
    }),
  );
  for (const s of [...sips, phone]) {
    if (s.child.exitCode === null) s.child.kill('SIGTERM');
    await Promise.race([s.done, sleep(2000)]);
    rmSync(s.dir, { recursive: true, force: true });
  }
  await f.close();
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
