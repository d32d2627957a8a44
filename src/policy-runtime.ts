// The policy in force: loaded from its file, reloaded when the file changes; a bad file
// keeps the old policy and says why (log + admin API). Every change of the policy in force
// and every refused edit is written to the audit trail as an admin `policy.reload` record
// with the old and new version and the sha256 of the file text, so the trail shows which
// policy decided what, however it got there (file watch, API, restart).
import { createHash } from 'node:crypto';
import { readFileSync, type StatWatcher, unwatchFile, watchFile } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from './core/logger.js';
import { type CompiledPolicy, compilePolicySource } from './core/policy/index.js';
import { formatProblem, SourceError, type SourceProblem } from './core/yaml-source.js';

export interface PolicyReloadFailure {
  at: string;
  message: string;
  problems: SourceProblem[];
}

/** What started a load: the file watch, the admin API, or the gateway starting. */
export type PolicyTrigger = 'file-watch' | 'api' | 'start';

/** Writes one admin audit record (`adminRecorder` in src/admin-services.ts). */
export type PolicyRecorder = (
  action: string,
  actor: string,
  details: Record<string, unknown>,
) => Promise<void>;

/** The admin record's kind: the console's version history lists these. */
export const POLICY_RECORD_KIND = 'policy.reload';

/** A refused edit keeps this many problems in its record (each cut to MAX_PROBLEM_CHARS). */
const MAX_RECORDED_PROBLEMS = 10;
const MAX_PROBLEM_CHARS = 300;

/** The trail's actor for changes nobody asked for through the API. */
const ACTOR: Record<Exclude<PolicyTrigger, 'api'>, string> = { 'file-watch': 'file-watch', start: 'startup' };

export type PolicyReloadResult =
  | { ok: true; version: string; sha256: string; record: Record<string, unknown> }
  | { ok: false; problems: SourceProblem[]; record: Record<string, unknown> };

export const sha256Of = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Read and compile the file; throws SourceError (also when it cannot be read). */
function readPolicy(file: string): { text: string; sha256: string } {
  try {
    const text = readFileSync(file, 'utf8');
    return { text, sha256: sha256Of(text) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SourceError([
      {
        file,
        line: 1,
        column: 1,
        path: '',
        message: code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? String(err)})`,
      },
    ]);
  }
}

const problemsOf = (file: string, err: unknown): SourceProblem[] =>
  err instanceof SourceError ? err.problems : [{ file, line: 0, column: 0, path: '', message: String(err) }];

export class PolicyRuntime {
  #current: CompiledPolicy;
  #sha256: string;
  #loadedAt = new Date().toISOString();
  #lastError: PolicyReloadFailure | null = null;
  /** sha256 of the last refused text, so one bad edit is recorded once. */
  #lastRefused: string | null = null;
  #watcher: StatWatcher | null = null;
  #recorder: PolicyRecorder | null = null;
  /** Records are written one after another, in the order of the changes. */
  #recording: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly logger: Logger,
  ) {
    // Throws SourceError at startup: a gateway never starts without a valid policy.
    const { text, sha256 } = readPolicy(file);
    this.#current = compilePolicySource(text, file);
    this.#sha256 = sha256;
  }

  get current(): CompiledPolicy {
    return this.#current;
  }

  /** sha256 (hex) of the text of the policy in force, as `sha256sum` prints it. */
  get sha256(): string {
    return this.#sha256;
  }

  get loadedAt(): string {
    return this.#loadedAt;
  }

  get lastError(): PolicyReloadFailure | null {
    return this.#lastError;
  }

  /**
   * Where changes that are not API calls (file watch) are recorded. The API records its
   * own reloads (with the caller's role as actor) from the result's `record`.
   */
  recordWith(recorder: PolicyRecorder): void {
    this.#recorder = recorder;
  }

  /**
   * Re-read the file. `record` is the audit details of this reload (what the API writes);
   * a reload by the file watch is recorded here.
   */
  reload(trigger: PolicyTrigger = 'api'): PolicyReloadResult {
    const prev = { version: this.#current.version, sha256: this.#sha256 };
    let read: { text: string; sha256: string } | null = null;
    try {
      read = readPolicy(this.file);
      const next = compilePolicySource(read.text, this.file);
      this.#current = next;
      this.#sha256 = read.sha256;
      this.#loadedAt = new Date().toISOString();
      this.#lastError = null;
      this.#lastRefused = null;
      this.logger.info(
        { file: this.file, from: prev.version, to: next.version, sha256: read.sha256, rules: next.ruleCount },
        'policy reloaded',
      );
      const record = {
        ok: true,
        trigger,
        version: next.version,
        sha256: read.sha256,
        previousVersion: prev.version,
        previousSha256: prev.sha256,
        file: this.file,
        rules: next.ruleCount,
        replica: hostname(),
      };
      if (trigger !== 'api') this.#record(trigger, record);
      return { ok: true, version: next.version, sha256: read.sha256, record };
    } catch (err) {
      const problems = problemsOf(this.file, err);
      this.#lastError = {
        at: new Date().toISOString(),
        message: problems.map((p) => p.message).join('; '),
        problems,
      };
      this.logger.error(
        { file: this.file, problems, keeping: prev.version },
        'policy reload refused; keeping the running policy',
      );
      const record = {
        ok: false,
        trigger,
        problems: problems.length,
        first: problems[0]?.message ?? null,
        // Capped: a broken file can have thousands of problems, the trail needs the gist.
        messages: problems
          .slice(0, MAX_RECORDED_PROBLEMS)
          .map((p) => formatProblem(p).slice(0, MAX_PROBLEM_CHARS)),
        // The refused text's hash, so the record says which edit it was; the policy in force stays.
        refusedSha256: read?.sha256 ?? null,
        keptVersion: prev.version,
        keptSha256: prev.sha256,
        file: this.file,
        replica: hostname(),
      };
      if (trigger !== 'api') {
        // The same bad text noticed again (a touch, a second poll) is not a new refusal.
        const key = read?.sha256 ?? `unreadable:${this.#lastError.message}`;
        if (key !== this.#lastRefused) this.#record(trigger, record);
        this.#lastRefused = key;
      }
      return { ok: false, problems, record };
    }
  }

  /**
   * At start: record the policy in force when it is not the one the trail last recorded.
   * `last` is what the trail says was in force before (a policy record's details, or just
   * `{version}`); null for a new trail, which gets no record.
   */
  recordStart(last: Record<string, unknown> | null): Promise<void> {
    if (last === null) return this.#recording;
    const same =
      typeof last.sha256 === 'string' ? last.sha256 === this.#sha256 : last.version === this.#current.version;
    if (same) return this.#recording;
    this.#record('start', {
      ok: true,
      trigger: 'start',
      version: this.#current.version,
      sha256: this.#sha256,
      previousVersion: typeof last.version === 'string' ? last.version : null,
      previousSha256: typeof last.sha256 === 'string' ? last.sha256 : null,
      file: this.file,
      rules: this.#current.ruleCount,
      replica: hostname(),
    });
    return this.#recording;
  }

  #record(trigger: Exclude<PolicyTrigger, 'api'>, details: Record<string, unknown>): void {
    const recorder = this.#recorder;
    if (!recorder) return;
    this.#recording = this.#recording.then(() =>
      recorder(POLICY_RECORD_KIND, ACTOR[trigger], details).catch((err: unknown) =>
        this.logger.error(
          { err, trigger, version: details.version ?? details.keptVersion },
          'the policy change could not be written to the audit trail',
        ),
      ),
    );
  }

  /** Resolves when every change so far is in the trail (or failed and was logged). */
  settled(): Promise<void> {
    return this.#recording;
  }

  /** Check a policy text without loading it. */
  validate(
    text: string,
    name = 'policy.yaml',
  ): { ok: true; rules: number } | { ok: false; problems: SourceProblem[] } {
    try {
      return { ok: true, rules: compilePolicySource(text, name).ruleCount };
    } catch (err) {
      if (err instanceof SourceError) return { ok: false, problems: err.problems };
      throw err;
    }
  }

  /** Poll the file (robust to the symlink swaps of Kubernetes ConfigMaps). */
  watch(intervalMs = 1000): void {
    if (this.#watcher) return;
    this.#watcher = watchFile(this.file, { interval: intervalMs, persistent: false }, (cur, prev) => {
      if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
      this.#onFileChange();
    });
  }

  #onFileChange(): void {
    // A touch, or an edit the API already loaded, changes nothing in force: no reload, no record.
    let sha: string | null = null;
    try {
      sha = readPolicy(this.file).sha256;
    } catch {
      // unreadable: reload() refuses it and says why
    }
    if (sha !== null && sha === this.#sha256) {
      if (this.#lastError) {
        // The file is back to the policy in force: the refusal no longer describes it.
        this.#lastError = null;
        this.#lastRefused = null;
        this.logger.info({ file: this.file }, 'the policy file is back to the policy in force');
      }
      return;
    }
    this.reload('file-watch');
  }

  /** Stop watching; resolves when the changes so far are recorded. */
  close(): Promise<void> {
    if (this.#watcher) unwatchFile(this.file);
    this.#watcher = null;
    return this.#recording;
  }
}
