// This process's name among the replicas that share a store: leases name their holder by it.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** The host (the pod in Kubernetes), the pid and a nonce: `host:pid:nonce`. */
export const REPLICA_ID = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
