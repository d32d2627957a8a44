// The core delivery queue and leases on the SQLite store (a file in a temporary folder).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { leaseContract } from '../core/delivery/lease-contract.js';
import { queueContract } from '../core/delivery/queue-contract.js';

const make = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-delivery-'));
  const store = new SqliteStore({ path: join(dir, 'parley.db') });
  // The writer thread up first (as openStore does): the contract's timings start after it.
  await store.ready();
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
await queueContract(t, 'sqlite', make);
await leaseContract(t, 'sqlite', make);
