// What every route module is given: the gateway's services and the shared helpers of the app.
import type { FastifyRequest } from 'fastify';
import type { ApiAuth } from '../plugins/auth.js';
import type { AdminServices } from '../services.js';

export interface RouteContext {
  services: AdminServices;
  /** Put routes in a child scope that only the admin role may use. */
  adminScope: ApiAuth['adminScope'];
  /** Record an administrative action; `required` actions fail (503) when the trail cannot take them. */
  recordAdmin(
    request: FastifyRequest,
    action: string,
    details: Record<string, unknown>,
    required: boolean,
  ): Promise<void>;
  /** The app's largest request body, bytes. */
  bodyLimit: number;
  /** Comment lines sent on an idle live stream, ms. */
  streamHeartbeatMs: number;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
