// What the parts of one Matrix link share: its config, the homeserver client and, once it
// has started, the gateway's context (its `state`: the link's keys under `matrix:<name>:`).
// The adapter owns the state; the parts read it through this view, so none of them holds a
// copy that could go stale.
import type { AdapterContext, LinkState } from '../../core/adapter.js';
import type { IdMap } from '../../core/delivery/ids.js';
import type { AdapterState } from '../../core/delivery/state.js';
import type { Logger } from '../../core/logger.js';
import type { Registration, ResolvedMatrixConfig } from './config.js';
import type { HomeserverApi } from './homeserver.js';

export interface MatrixLink {
  /** The link's name from the config (e.g. `hs`). */
  readonly name: string;
  readonly cfg: ResolvedMatrixConfig;
  readonly reg: Registration;
  readonly hs: HomeserverApi;
  /** This replica's id, for leases shared with other replicas. */
  readonly owner: string;
  /** The gateway's context; null until the link starts. */
  readonly ctx: AdapterContext | null;
  /** The link's own keys and leases (under `matrix:<name>:`); throws until the link starts. */
  readonly state: AdapterState;
  /** Canonical event ids ↔ Matrix event ids; throws until the link starts. */
  readonly ids: IdMap;
  readonly log: Logger;
  /** The state the link last reported. */
  readonly status: LinkState;
  /** From stop() until the next start(). */
  readonly stopped: boolean;
}
