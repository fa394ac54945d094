import fp from 'fastify-plugin';
import { coversTenant, hasScope, InvalidTokenError, verifyToken, type Principal } from '../../infra/auth-token';
import { AuthenticationError, AuthorizationError } from '../errors';

// Bearer JWT on every route that declares `config.auth`; scope and tenant checks in one place.

export interface RouteAuth {
  /** Scope the token must carry (`admin` satisfies any). */
  scope: string;
  /** Name of the route param holding the tenant the token must cover. */
  tenantParam?: string;
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

export default fp<AuthPluginOptions>(
  async (app, opts) => {
    app.decorateRequest('principal', undefined);
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
      if (!hasScope(req.principal, auth.scope)) throw new AuthorizationError(`The token lacks scope '${auth.scope}'`);
      if (auth.tenantParam) {
        const tenantId = (req.params as Record<string, unknown>)[auth.tenantParam];
        if (typeof tenantId !== 'string' || !coversTenant(req.principal, tenantId)) {
          throw new AuthorizationError('The token does not cover this tenant');
        }
      }
    });
  },
  { name: 'auth', dependencies: ['request-context'] },
);
