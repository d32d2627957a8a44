// A fake AdminServices with realistic data: the HTTP layer is the unit under test.
import { createHash } from 'node:crypto';
import type { AuditRecord } from '../../src/core/audit/record.js';
import type { MessageEvent } from '../../src/core/model.js';
import type { Decision } from '../../src/core/policy/types.js';
import type {
  AdminServices,
  AuditFilter,
  ExportFormat,
  PolicyInfo,
  PolicyProblem,
  ReadyReport,
  VerifyResult,
} from '../../src/http/services.js';

export class EventInputError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'EventInputError';
  }
}

const GENESIS = '0'.repeat(64);

function chain(entries: Omit<AuditRecord, 'seq' | 'prev' | 'hash'>[]): AuditRecord[] {
  const out: AuditRecord[] = [];
  let prev = GENESIS;
  entries.forEach((e, i) => {
    const seq = i + 1;
    const hash = createHash('sha256')
      .update(JSON.stringify({ seq, prev, ...e }))
      .digest('hex');
    out.push({ seq, prev, hash, ...e });
    prev = hash;
  });
  return out;
}

export const RECORDS: AuditRecord[] = chain([
  {
    category: 'decision',
    time: '2026-11-25T09:00:00.000Z',
    traceId: 't-1',
    eventId: 'm-1',
    kind: 'message',
    from: 'xmpp:alice@corp.example',
    to: 'sip:carol@partner.example',
    fromNetwork: 'xmpp',
    toNetwork: 'sip',
    direction: 'outbound',
    decision: 'allow',
    rule: 'partners-talk',
    reason: null,
    policyVersion: '2026-11-25.1',
    content: { mode: 'full', body: 'Hello Carol, the contract is ready.' },
    sourceAdapter: 'corp',
    targetAdapter: 'partner-sip',
  },
  {
    category: 'decision',
    time: '2026-11-25T09:01:00.000Z',
    traceId: 't-2',
    eventId: 'm-2',
    kind: 'message',
    from: 'xmpp:sam@corp.example',
    to: 'matrix:u/eve:rival.example',
    fromNetwork: 'xmpp',
    toNetwork: 'matrix',
    direction: 'outbound',
    decision: 'deny',
    rule: 'block-rival',
    reason: 'Communication with competitors is prohibited',
    policyVersion: '2026-11-25.1',
    content: { mode: 'hash', sha256: createHash('sha256').update('our prices').digest('hex') },
    sourceAdapter: 'corp',
    targetAdapter: null,
  },
  {
    category: 'decision',
    time: '2026-11-25T09:02:00.000Z',
    traceId: 't-3',
    eventId: 'm-3',
    kind: 'message',
    from: 'matrix:u/bob:hs.test',
    to: 'xmpp:alice@corp.example',
    fromNetwork: 'matrix',
    toNetwork: 'xmpp',
    direction: 'inbound',
    decision: 'redact',
    rule: 'card-numbers',
    reason: null,
    policyVersion: '2026-11-25.1',
    content: { mode: 'full', body: 'my card is [redacted]' },
    sourceAdapter: 'public-matrix',
    targetAdapter: 'corp',
  },
  {
    category: 'admin',
    time: '2026-11-25T09:05:00.000Z',
    traceId: 'admin-1',
    eventId: 'admin-1',
    kind: 'admin',
    from: 'api:admin',
    to: 'parley',
    fromNetwork: 'api',
    toNetwork: 'parley',
    direction: 'internal',
    decision: 'allow',
    rule: null,
    reason: null,
    policyVersion: '2026-11-25.1',
    content: { mode: 'none' },
    sourceAdapter: 'api',
    targetAdapter: null,
    actor: 'admin',
    details: { action: 'policy.reload', ok: true },
  },
]);

export const POLICY_INFO: PolicyInfo = {
  name: 'acme',
  version: '2026-11-25.1',
  file: 'policies/default.yaml',
  rules: 6,
  loadedAt: '2026-11-25T08:59:00.000Z',
  document: {
    apiVersion: 'parley/v1',
    kind: 'Policy',
    metadata: { name: 'acme', version: '2026-11-25.1' },
    defaults: { decision: 'deny' },
  },
  lastError: null,
};

export const PROBLEMS: PolicyProblem[] = [
  {
    file: 'draft.yaml',
    line: 7,
    column: 13,
    path: '/rules/0/effect',
    message: "effect must be one of allow, deny, redact; got 'permit'",
  },
];

export const READY: ReadyReport = {
  ready: true,
  store: { ok: true, kind: 'memory' },
  adapters: {
    corp: { state: 'up', since: '2026-11-25T08:59:01.000Z', network: 'xmpp' },
    'public-matrix': { state: 'up', since: '2026-11-25T08:59:02.000Z', network: 'matrix' },
  },
};

export interface AdminCall {
  action: string;
  actor: string;
  details: Record<string, unknown>;
}

export interface FakeOptions {
  ready?: ReadyReport;
  verify?: VerifyResult;
  reload?: { ok: true; version: string } | { ok: false; problems: PolicyProblem[] };
  recordAdminFails?: boolean;
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

export class FakeServices implements AdminServices {
  readonly adminCalls: AdminCall[] = [];
  readonly queries: { filter: AuditFilter; before: number | null; limit: number }[] = [];
  readonly exports: { format: ExportFormat; filter: AuditFilter }[] = [];
  exportClosed = false;
  readonly validated: { text: string; name: string | undefined }[] = [];

  constructor(private readonly opts: FakeOptions = {}) {}

  policy = {
    current: (): PolicyInfo => POLICY_INFO,
    validate: (text: string, name?: string) => {
      this.validated.push({ text, name });
      if (text.includes('permit')) {
        return { ok: false as const, problems: PROBLEMS.map((p) => ({ ...p, file: name ?? '<text>' })) };
      }
      return { ok: true as const, rules: 6 };
    },
    reload: async () => this.opts.reload ?? { ok: true as const, version: '2026-11-25.2' },
    evaluate: (event: unknown): Decision => {
      if (typeof event !== 'object' || event === null)
        throw new EventInputError('the event must be an object', '');
      const e = event as Record<string, unknown>;
      if (e.kind !== 'message') {
        throw new EventInputError(
          `kind must be one of message, presence, chatstate, receipt, call; got ${JSON.stringify(e.kind)}`,
          '/kind',
        );
      }
      if (typeof e.from !== 'string') throw new EventInputError('from is required (an address URI)', '/from');
      const delivered: MessageEvent = {
        kind: 'message',
        id: 'eval-1',
        time: '2026-11-25T09:10:00.000Z',
        from: e.from,
        to: String(e.to),
        adapter: 'api',
        traceId: 'eval-1',
        body: String(e.body ?? ''),
      };
      return {
        decision: 'allow',
        rule: 'partners-talk',
        reason: null,
        obligations: { disclaimer: 'Messages with ACME are archived.' },
        rateLimits: [{ rule: 'consumer-disclaimer', limit: 30, windowMs: 60000 }],
        redacted: false,
        transforms: [],
        event: delivered,
      };
    },
  };

  audit = {
    query: async (filter: AuditFilter, before: number | null, limit: number) => {
      this.queries.push({ filter, before, limit });
      const matching = RECORDS.filter(
        (r) =>
          (before === null || r.seq < before) &&
          (!filter.decision || r.decision === filter.decision) &&
          (!filter.category || r.category === filter.category),
      ).reverse();
      const records = matching.slice(0, limit);
      const last = records.at(-1);
      return { records, next: records.length === limit && last && last.seq > 1 ? last.seq : null };
    },
    verify: async (): Promise<VerifyResult> =>
      this.opts.verify ?? {
        ok: true,
        records: RECORDS.length,
        head: { seq: RECORDS.length, hash: RECORDS.at(-1)!.hash },
      },
    export: (format: ExportFormat, filter: AuditFilter): AsyncIterable<string> => {
      this.exports.push({ format, filter });
      const self = this;
      return (async function* () {
        try {
          if (format === 'csv') yield 'seq,time,from,to,decision,rule\n';
          for (const r of RECORDS) {
            if (filter.decision && r.decision !== filter.decision) continue;
            if (format === 'jsonl') yield `${JSON.stringify(r)}\n`;
            else if (format === 'csv')
              yield `${r.seq},${r.time},${r.from},${r.to},${r.decision},${r.rule ?? ''}\n`;
            else yield `From parley ${r.time}\nSubject: ${r.from} -> ${r.to}\n\n${r.eventId}\n\n`;
          }
        } finally {
          self.exportClosed = true;
        }
      })();
    },
    recordAdmin: async (action: string, actor: string, details: Record<string, unknown>) => {
      if (this.opts.recordAdminFails) throw new Error('redis: connection refused');
      this.adminCalls.push({ action, actor, details });
    },
  };

  health = () => ({ live: true as const });
  readiness = async () => this.opts.ready ?? READY;
  metrics = async () =>
    this.opts.metrics
      ? this.opts.metrics()
      : { contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '# HELP up\nup 1\n' };
}
