// Bearer-token auth of the /api/v1 scope, as fastify plugins: `apiAuth` guards a whole
// scope (every route registered in it, whatever spelling of its path matched), and
// `adminScope` opens a child scope whose routes only the admin role may use.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';

export type Role = 'admin' | 'auditor';
/** Bearer tokens; a role whose token is unset (or empty) cannot sign in. */
export type Tokens = { admin?: string; auditor?: string };

const REALM = 'parley';

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

type AuthResult = { role: Role } | { fail: 'missing' | 'scheme' | 'invalid' };

function makeAuthenticator(tokens: Tokens): (header: string | undefined) => AuthResult {
  const configured: { role: Role; hash: Buffer }[] = [];
  // Admin first: if both roles were given the same token it grants admin.
  if (tokens.admin) configured.push({ role: 'admin', hash: digest(tokens.admin) });
  if (tokens.auditor) configured.push({ role: 'auditor', hash: digest(tokens.auditor) });
  return (header) => {
    if (header === undefined || header.trim() === '') return { fail: 'missing' };
    const match = /^(\S+)\s+(.+)$/.exec(header.trim());
    if (!match || match[1]!.toLowerCase() !== 'bearer') return { fail: 'scheme' };
    const presented = digest(match[2]!.trim());
    let role: Role | null = null;
    // Compare against every configured token (fixed-length hashes, constant time).
    for (const c of configured) {
      if (timingSafeEqual(presented, c.hash) && role === null) role = c.role;
    }
    return role ? { role } : { fail: 'invalid' };
  };
}

const roles = new WeakMap<FastifyRequest, Role>();

/** The role the request's token granted (set by the scope's auth hook). */
export function roleOf(request: FastifyRequest): Role {
  return roles.get(request) ?? 'auditor';
}

export interface ApiAuth {
  /** Put every route of `scope` (and its child scopes) behind a token of either role. */
  guard(scope: FastifyInstance): void;
  /** Register routes that only the admin role may use, in a child scope of `scope`. */
  adminScope(scope: FastifyInstance, routes: (admin: FastifyInstance) => void | Promise<void>): Promise<void>;
}

export function apiAuth(tokens: Tokens): ApiAuth {
  const authenticate = makeAuthenticator(tokens);
  const requireRole = (allowed: readonly Role[]): onRequestAsyncHookHandler =>
    async function requireRoleHook(request, reply) {
      const r = authenticate(request.headers.authorization);
      if ('fail' in r) {
        request.log.warn({ reason: r.fail }, 'authentication failed');
        const challenge =
          r.fail === 'invalid' ? `Bearer realm="${REALM}", error="invalid_token"` : `Bearer realm="${REALM}"`;
        const message =
          r.fail === 'missing'
            ? 'This route needs a token: send `Authorization: Bearer <token>`.'
            : r.fail === 'scheme'
              ? 'Only bearer tokens are accepted: send `Authorization: Bearer <token>`.'
              : 'The bearer token is not valid; check the token configured for your role.';
        return reply.code(401).header('www-authenticate', challenge).send({ error: 'unauthorized', message });
      }
      if (!allowed.includes(r.role)) {
        request.log.warn({ role: r.role, route: request.routeOptions.url }, 'role not allowed');
        return reply
          .code(403)
          .header('www-authenticate', `Bearer realm="${REALM}", error="insufficient_scope"`)
          .send({
            error: 'forbidden',
            message: `The ${r.role} role may not do this; it needs the ${allowed.join(' or ')} role.`,
          });
      }
      roles.set(request, r.role);
    };
  const anyRole = requireRole(['admin', 'auditor']);
  const adminOnly = requireRole(['admin']);
  return {
    guard(scope) {
      scope.addHook('onRequest', anyRole);
    },
    async adminScope(scope, routes) {
      await scope.register(async (admin) => {
        admin.addHook('onRequest', adminOnly);
        await routes(admin);
      });
    },
  };
}
