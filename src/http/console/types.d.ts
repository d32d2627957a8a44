// What the console reads from /api/v1, as the routes' schemas describe it (only the fields
// the console uses). For the type checker alone: no browser module loads this file.

export type Role = 'admin' | 'auditor';

export interface Session {
  role: Role;
  features: { explain: boolean; stream: boolean; retention: boolean };
}

export interface ErrorBody {
  error: string;
  message: string;
  details?: unknown;
}

export type Decision = 'allow' | 'redact' | 'deny';
export type Category = 'decision' | 'outcome' | 'admin';

/** A rule that changed the event: `redact`, `disclaimer`, `presence-basic`, ... */
export interface Transform {
  rule: string;
  effect: string;
  reason?: string | null;
}

export type Content = { mode: 'full'; body: string } | { mode: 'hash'; sha256: string } | { mode: 'none' };

export interface AuditRecord {
  seq: number;
  prev: string;
  hash: string;
  category: Category;
  time: string;
  eventTime?: string;
  traceId: string;
  eventId: string;
  kind: string;
  from: string;
  to: string;
  fromNetwork: string;
  toNetwork: string;
  direction: string;
  decision: Decision;
  rule: string | null;
  reason: string | null;
  transforms?: Transform[];
  outcome?: string;
  outcomeReason?: string | null;
  policyVersion: string;
  content: Content;
  sourceAdapter: string;
  targetAdapter: string | null;
  actor?: string;
  details?: Record<string, unknown>;
  /** Set by the console, never by the API: the later outcome record folded into this row. */
  outcomeRecord?: AuditRecord;
}

export interface AuditPage {
  records: AuditRecord[];
  next: number | null;
  /** `index`: the store's search index answered; `scan`: `scanned` of `total` records were read. */
  search: { mode: 'index' } | { mode: 'scan'; scanned: number; total: number; capped: boolean };
}

export type VerifyResult =
  | { ok: true; records: number; head: { seq: number; hash: string } | null }
  | { ok: false; records: number; firstBad: number; problem: string };

type OneOrMany<T> = T | T[];

export interface PartyMatch {
  zone?: OneOrMany<string>;
  domain?: OneOrMany<string>;
  network?: OneOrMany<string>;
  user?: OneOrMany<string>;
  segment?: OneOrMany<string>;
}

export interface RuleMatch {
  from?: PartyMatch;
  to?: PartyMatch;
  party?: PartyMatch;
  between?: [PartyMatch, PartyMatch];
  kind?: OneOrMany<string>;
  callAction?: OneOrMany<string>;
  direction?: OneOrMany<string>;
  content?: { pattern?: string; longerThan?: number };
  attachment?: { mime?: OneOrMany<string>; largerThan?: number };
  time?: { days?: OneOrMany<string>; hours?: string; tz?: string };
}

export interface Obligations {
  disclaimer?: string;
  presence?: 'basic' | 'coarse' | 'full';
  rateLimit?: string;
}

export interface PolicyRule {
  id: string;
  effect: string;
  match?: RuleMatch;
  description?: string;
  reason?: string;
  replacement?: string;
  obligations?: Obligations;
}

export interface PolicyDocument {
  zones?: Record<string, { domains: string[]; description?: string }>;
  segments?: Record<string, { users: string[]; description?: string }>;
  defaults?: { decision?: string };
  rules?: PolicyRule[];
}

export interface PolicyInfo {
  name: string;
  version: string;
  file: string | null;
  rules: number;
  loadedAt: string;
  document?: PolicyDocument | null;
  lastError: { at: string; message: string } | null;
}

/** A decision of POST /policy/eval (and inside /policy/explain). */
export interface PolicyDecision {
  decision: 'allow' | 'deny';
  rule: string | null;
  reason: string | null;
  obligations?: Obligations;
  redacted: boolean;
  transforms: Transform[];
}

export interface Explanation {
  classification: { fromZone: string | null; toZone: string | null; direction: string } | null;
  rules: { id: string; effect: string; matched: boolean; because: string[] }[] | null;
  decision: PolicyDecision;
}

export interface LegalHold {
  id: string;
  user?: string;
  domain?: string;
  from?: string;
  to?: string;
  reason: string;
  createdAt: string;
  createdBy: string;
}

export interface HoldList {
  retentionDays: number | null;
  holds: LegalHold[];
}

export interface TrimReport {
  retentionDays: number | null;
  cutoff: string | null;
  removed: number;
  held: number;
  anchor: { seq: number; hash: string } | null;
}
