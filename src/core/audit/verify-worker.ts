// A parallel verify's worker thread (started by parallel-verify.ts): opens the log through
// its source (the store's reader module, imported by URL: the core names no store), then
// checks the ranges it is sent, one at a time, and reports each.
import { parentPort, workerData } from 'node:worker_threads';
import type { AuditReader } from '../store.js';
import { type RangeContext, type RangeTask, verifyRange } from './range-verify.js';
import type { FromVerifyWorker, ToVerifyWorker, VerifyWorkerData } from './verify-protocol.js';

const port = parentPort;
if (!port) throw new Error('verify-worker runs as a worker thread');
const data = workerData as VerifyWorkerData;
const post = (m: FromVerifyWorker) => port.postMessage(m);
const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

type ReaderModule = { openAuditReader?: (options: Record<string, unknown>) => Promise<AuditReader> };

async function load(url: string): Promise<ReaderModule> {
  try {
    return (await import(url)) as ReaderModule;
  } catch (err) {
    // From source (tsx), a store may name its reader's compiled name; the .ts file is there.
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && url.startsWith('file:') && url.endsWith('.js'))
      return (await import(`${url.slice(0, -3)}.ts`)) as ReaderModule;
    throw err;
  }
}

let reader: AuditReader | null = null;
try {
  const mod = await load(data.module);
  if (typeof mod.openAuditReader !== 'function')
    throw new Error(`${data.module} exports no openAuditReader function`);
  reader = await mod.openAuditReader(data.options);
  post({ type: 'ready' });
} catch (err) {
  post({ type: 'error', id: null, message: `cannot open the audit reader ${data.module}: ${message(err)}` });
}

const ctx: RangeContext = { anchor: data.anchor, knownHead: data.knownHead, pageSize: data.pageSize };

port.on('message', (m: ToVerifyWorker) => {
  if (m.type === 'close') {
    const done = () => port.close();
    if (reader) reader.close().then(done, done);
    else done();
    return;
  }
  const r = reader;
  if (!r) return;
  const task: RangeTask = m.task;
  verifyRange(r, ctx, task).then(
    (report) => post({ type: 'range', report }),
    (err: unknown) => post({ type: 'error', id: task.id, message: message(err) }),
  );
});
