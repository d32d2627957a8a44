// Messages between parallel-verify.ts and its worker threads (verify-worker.ts).
import type { AuditHead } from '../store.js';
import type { RangeReport, RangeTask } from './range-verify.js';

export interface VerifyWorkerData {
  /** AuditLogSource.module and .options. */
  module: string;
  options: Record<string, unknown>;
  anchor: AuditHead | null;
  knownHead: AuditHead | null;
  pageSize: number;
}

export type ToVerifyWorker = { type: 'range'; task: RangeTask } | { type: 'close' };

export type FromVerifyWorker =
  | { type: 'ready' }
  | { type: 'range'; report: RangeReport }
  /** `id`: the range that failed to read; null: the reader could not be opened. */
  | { type: 'error'; id: number | null; message: string };
