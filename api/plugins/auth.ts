import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { coversTenant, hasScope, InvalidTokenError, Scopes, verifyToken, type Principal } from '../../infra/auth-token';
import { AuthenticationError, AuthorizationError } from '../errors';

// Bearer JWT on every /api route; scope and tenant coverage declared per route (config.auth)
// and checked here, for admin tokens too. A /api route without a declaration fails at start.

/**
 * Which tenants a route touches. Coverage is always checked; the admin scope satisfies any
 * scope (hasScope) but never widens the tenants a token covers.
 * - `{ param }`: a route param names the tenant; checked with the token, before the body is read.
 * - `{ body }`: a top-level body field names it; checked after validation, before any rate
 *   limit or idempotency claim.
 * - `'global'`: a view across tenants; the handler limits its answer to the covered tenants.
 * - `'resource'`: the handler resolves every tenant the request or the resource it names touches
 *   (reconcile source and target, a stored batch) and checks each; an uncovered existing
 *   resource answers 404, so its existence is not revealed.
 * - `'platform'`: platform operations (migrations): the admin scope and `tenants: "*"`.
 * - `'untenanted'`: platform-wide data that is no tenant's (client configurations): the scope
 *   alone decides.
 */
export type TenantCoverage = { param: string } | { body: string } | 'global' | 'resource' | 'platform' | 'untenanted';

export interface RouteAuth {
  /** Scope the token must carry (`admin` satisfies any). */
  scope: string;
  /** Where the route's tenants come from (see TenantCoverage). */
  tenants: TenantCoverage;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

export interface AuthPluginOptions {
  secret: string;
}

/** The route param naming the route's tenant, when it has one. */
export const tenantParamOf = (auth: RouteAuth | undefined): string | undefined =>
  auth && typeof auth.tenants === 'object' && 'param' in auth.tenants ? auth.tenants.param : undefined;

const bodyFieldOf = (auth: RouteAuth | undefined): string | undefined =>
  auth && typeof auth.tenants === 'object' && 'body' in auth.tenants ? auth.tenants.body : undefined;

function assertCovers(p: Principal, tenantId: unknown): void {
  if (typeof tenantId !== 'string' || !coversTenant(p, tenantId)) throw new AuthorizationError('The token does not cover this tenant');
}

/** Fails route registration for a /api route that declares no scope and tenant coverage. */
function checkDeclared(method: unknown, url: string, auth: RouteAuth | undefined): void {
  if (!url.startsWith('/api/')) return;
  const t = auth?.tenants;
  const ok =
    typeof t === 'string' ? ['global', 'resource', 'platform', 'untenanted'].includes(t) : !!(tenantParamOf(auth) ?? bodyFieldOf(auth));
  if (!auth?.scope || !ok) throw new Error(`route ${String(method)} ${url} must declare config.auth with a scope and a tenant coverage`);
}

export default fp<AuthPluginOptions>(
  async (app, opts) => {
    app.decorateRequest('principal', undefined);
    app.addHook('onRoute', (route) => checkDeclared(route.method, route.url, route.config?.auth));

    app.addHook('onRequest', async (req) => {
      const auth = req.routeOptions.config.auth;
      if (!auth) return;
      const header = req.headers.authorization;
      const m = typeof header === 'string' ? /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i.exec(header) : null;
      if (!m) throw new AuthenticationError();
      try {
        req.principal = await verifyToken(opts.secret, m[1]!);
      } catch (err) {
        if (err instanceof InvalidTokenError) throw new AuthenticationError(err.message);
        throw err;
      }
      const p = req.principal;
      if (!hasScope(p, auth.scope)) throw new AuthorizationError(`The token lacks scope '${auth.scope}'`);
      if (auth.tenants === 'platform' && (!p.scopes.has(Scopes.admin) || p.tenants !== '*')) {
        throw new AuthorizationError("A platform operation needs the admin scope and a token for every tenant ('*')");
      }
      const param = tenantParamOf(auth);
      if (param) assertCovers(p, (req.params as Record<string, unknown>)[param]);
    });

    // Runs after schema validation and before every route-level preHandler (rate limits, idempotency).
    app.addHook('preHandler', async (req: FastifyRequest) => {
      const field = bodyFieldOf(req.routeOptions.config.auth);
      if (field && req.principal) assertCovers(req.principal, (req.body as Record<string, unknown> | undefined)?.[field]);
    });
  },
  { name: 'auth', dependencies: ['request-context'] },
);
