// The routes an app registers, as they are registered (the tests walk them all; useful for
// diagnostics): the onRoute hook is inherited by every child scope.
import type { FastifyInstance } from 'fastify';

export interface RegisteredRoute {
  method: string;
  url: string;
}

const lists = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Start recording the routes of `app`; call before any route is added. */
export function recordRoutes(app: FastifyInstance): void {
  const list: RegisteredRoute[] = [];
  lists.set(app, list);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) list.push({ method, url: route.url });
  });
}

/** Every route registered in `app` (empty when they were not recorded). */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return lists.get(app) ?? [];
}
