// Shared setup for the XMPP integration tests: a private Prosody, real @xmpp/client users,
// the Parley pipeline (memory store, audit writer, a real policy) and XMPP adapters.
import { type Client, client } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { buildXmppAdapter, type XmppAdapter } from '../../src/adapters/xmpp/index.js';
import type { Adapter } from '../../src/core/adapter.js';
import { AuditWriter } from '../../src/core/audit/writer.js';
import { silentLogger } from '../../src/core/logger.js';
import { Pipeline } from '../../src/core/pipeline.js';
import { compilePolicySource } from '../../src/core/policy/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { canon, xmlParse } from '../adapters/xmpp/xml-helpers.js';

export { canon, xmlParse };

export interface TestUser {
  jid: string;
  client: Client;
  /** Every stanza received (not iq results of the client's own machinery). */
  received: Element[];
  /** The next received stanza matching `pred` (waiting up to `ms`). */
  next(pred: (el: Element) => boolean, ms?: number): Promise<Element>;
  /** Fail if a stanza matching `pred` arrives within `ms`. */
  none(pred: (el: Element) => boolean, ms?: number): Promise<boolean>;
  send(el: Element): Promise<void>;
  stop(): Promise<void>;
}

/** Log in a real XMPP user over c2s (optionally announcing presence). */
export async function login(
  service: string,
  domain: string,
  username: string,
  password: string,
  opts: { resource?: string; presence?: boolean } = {},
): Promise<TestUser> {
  const c = client({ service, domain, username, password, resource: opts.resource ?? 'test' });
  c.reconnect.stop();
  c.on('error', () => {});
  const received: Element[] = [];
  let cursor = 0;
  const waiters = new Set<() => void>();
  c.on('stanza', (el: Element) => {
    received.push(el);
    for (const w of waiters) w();
  });
  await c.start();
  // Fetching the roster makes the session "interested": Prosody then pushes roster
  // changes and subscription approvals to it.
  await c.iqCaller.request(xmlParse('<iq type="get"><query xmlns="jabber:iq:roster"/></iq>'));
  if (opts.presence ?? true) await c.send(xmlParse('<presence/>'));
  const find = (pred: (el: Element) => boolean, from: number) => {
    for (let i = from; i < received.length; i++) if (pred(received[i]!)) return i;
    return -1;
  };
  const user: TestUser = {
    jid: `${username}@${domain}`,
    client: c,
    received,
    next: (pred, ms = 5000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const i = find(pred, cursor);
          if (i < 0) return false;
          cursor = i + 1;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(received[i]!);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `${username}@${domain}: no matching stanza within ${ms} ms; got:\n${received
                .slice(cursor)
                .map((e) => e.toString())
                .join('\n')}`,
            ),
          );
        }, ms);
        if (!check()) waiters.add(check);
      }),
    none: async (pred, ms = 500) => {
      const start = received.length;
      await new Promise((r) => setTimeout(r, ms));
      return find(pred, start) < 0;
    },
    send: (el) => c.send(el),
    stop: async () => {
      await c.stop().catch(() => {});
    },
  };
  return user;
}

export const POLICY = `
apiVersion: parley/v1
kind: Policy
metadata: { name: xmpp-it, version: "1" }
zones:
  enterprise: { domains: [corp.test] }
  partner: { domains: [partner.test, hs.test] }
  consumer: { domains: ["*"] }
defaults: { decision: deny }
rules:
  - id: partners-talk
    match: { between: [{ zone: enterprise }, { zone: partner }] }
    effect: allow
  - id: no-secret-plans
    match: { kind: [message], content: { pattern: 'secret plan' } }
    effect: deny
    reason: Secret plans stay inside the company
  - id: no-presence-for-dave
    match: { kind: [presence], party: { user: ["dave@partner.test"] } }
    effect: deny
  - id: no-calls-for-carol
    match: { kind: [call], party: { user: ["carol@corp.test"] } }
    effect: deny
    reason: Carol may not place external calls
  - id: cards
    match: { kind: [message], content: { pattern: '\\b(?:\\d[ -]?){13,16}\\b' } }
    effect: redact
    replacement: "[card]"
`;

export interface Parley {
  store: MemoryStore;
  pipeline: Pipeline;
  writer: AuditWriter;
  add(a: Adapter): Promise<void>;
  stop(): Promise<void>;
}

/** The pipeline with a memory store, the audit writer and the test policy. */
export function parley(policySource = POLICY): Parley {
  const store = new MemoryStore();
  const writer = new AuditWriter(store.audit, {});
  const policy = compilePolicySource(policySource, 'xmpp-it.yaml');
  const pipeline = new Pipeline({ policy: () => policy, audit: writer, store, logger: silentLogger });
  const adapters: Adapter[] = [];
  return {
    store,
    pipeline,
    writer,
    add: async (a) => {
      adapters.push(a);
      await a.start(pipeline.register(a));
    },
    stop: async () => {
      pipeline.stopIntake();
      await Promise.allSettled(adapters.map((a) => a.stop()));
      await writer.close().catch(() => {});
    },
  };
}

export function xmppAdapter(
  name: string,
  service: string,
  component: string,
  secret: string,
  domains: string[],
  extra: Record<string, unknown> = {},
): XmppAdapter {
  return buildXmppAdapter(
    name,
    {
      type: 'xmpp',
      service,
      component,
      secret,
      domains,
      reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
      ...extra,
    },
    { logger: silentLogger, configDir: '.' },
  );
}
