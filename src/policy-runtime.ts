// The policy in force: loaded from its file, reloaded when the file changes; a bad file
// keeps the old policy and says why (log + admin API).
import { type StatWatcher, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from './core/logger.js';
import { type CompiledPolicy, compilePolicySource, loadPolicyFile } from './core/policy/index.js';
import { SourceError, type SourceProblem } from './core/yaml-source.js';

export interface PolicyReloadFailure {
  at: string;
  message: string;
  problems: SourceProblem[];
}

export class PolicyRuntime {
  #current: CompiledPolicy;
  #loadedAt = new Date().toISOString();
  #lastError: PolicyReloadFailure | null = null;
  #watcher: StatWatcher | null = null;

  constructor(
    readonly file: string,
    private readonly logger: Logger,
  ) {
    // Throws SourceError at startup: a gateway never starts without a valid policy.
    this.#current = loadPolicyFile(file);
  }

  get current(): CompiledPolicy {
    return this.#current;
  }

  get loadedAt(): string {
    return this.#loadedAt;
  }

  get lastError(): PolicyReloadFailure | null {
    return this.#lastError;
  }

  reload(): { ok: true; version: string } | { ok: false; problems: SourceProblem[] } {
    try {
      const next = loadPolicyFile(this.file);
      const prev = this.#current.version;
      this.#current = next;
      this.#loadedAt = new Date().toISOString();
      this.#lastError = null;
      this.logger.info(
        { file: this.file, from: prev, to: next.version, rules: next.ruleCount },
        'policy reloaded',
      );
      return { ok: true, version: next.version };
    } catch (err) {
      const problems =
        err instanceof SourceError
          ? err.problems
          : [{ file: this.file, line: 0, column: 0, path: '', message: String(err) }];
      this.#lastError = {
        at: new Date().toISOString(),
        message: problems.map((p) => p.message).join('; '),
        problems,
      };
      this.logger.error(
        { file: this.file, problems, keeping: this.#current.version },
        'policy reload refused; keeping the running policy',
      );
      return { ok: false, problems };
    }
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
      if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino) this.reload();
    });
  }

  close(): void {
    if (this.#watcher) unwatchFile(this.file);
    this.#watcher = null;
  }
}
