// Retransmissions across replicas: a UDP Service may spread the copies of one request over
// several replicas, and a replica that never saw the first copy would take a copy for a new
// transaction. So a replica that opens a UDP server transaction first claims its key
// (branch, sent-by, method) in the shared store for as long as the transaction can live
// (64*T1); a replica that finds the key claimed by another absorbs its copies.
import { randomUUID } from 'node:crypto';
import type { AdapterState } from '../../core/delivery/state.js';
import type { Logger } from '../../core/logger.js';
import type { ServerTransaction, TransactionLayer } from './transaction.js';

export interface ClaimOptions {
  /** The adapter's state (claims live under `sip:<name>:tx:`), or null before it started. */
  state: () => AdapterState | null;
  layer: TransactionLayer;
  /** How long a claim holds: the longest a server transaction lives (64*T1). */
  ttlMs: number;
  logger: Logger;
}

export class TransactionClaims {
  /** This adapter instance (a replica) in the claims. */
  readonly owner = randomUUID();
  readonly #o: ClaimOptions;

  constructor(o: ClaimOptions) {
    this.#o = o;
  }

  /**
   * True when this replica handles the transaction: it claimed it, it holds the claim
   * already (a copy after its own transaction ended), or the store cannot say (better
   * twice than never). False: another replica has it; its copies are absorbed here.
   */
  async claim(tx: ServerTransaction): Promise<boolean> {
    const store = this.#o.state();
    // The embedded store means one process: no other replica to share datagrams with.
    if (!store || store.kind === 'memory') return true;
    const key = `tx:${tx.key}`;
    let holder: string | null;
    try {
      if (await store.setIfAbsent(key, this.owner, this.#o.ttlMs)) return true;
      holder = await store.get(key);
    } catch (err) {
      this.#o.logger.warn(
        { err: err instanceof Error ? err.message : String(err), method: tx.request.method },
        'could not claim a SIP transaction in the store; handling it here',
      );
      return true;
    }
    if (holder === null || holder === this.owner) return true;
    this.#o.logger.debug(
      { transaction: tx.key, holder },
      'SIP retransmission absorbed: another replica handles its transaction',
    );
    // Keep absorbing copies that land here until the holder's transaction has ended.
    const layer = this.#o.layer;
    setTimeout(() => {
      if (layer.server.get(tx.key) === tx) layer.server.delete(tx.key);
    }, this.#o.ttlMs).unref();
    return false;
  }
}
