// The core delivery queue and leases on the memory store.
import t from 'tap';
import { MemoryStore } from '../../../src/store/memory.js';
import { leaseContract } from './lease-contract.js';
import { queueContract } from './queue-contract.js';

const make = async () => {
  const store = new MemoryStore({ sweepMs: 50 });
  return { store, cleanup: () => store.close() };
};
await queueContract(t, 'memory', make);
await leaseContract(t, 'memory', make);
