import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, paths } from '../openapi/schema';

// The typed HTTP client other services (the auth service first) use to call this API: openapi-fetch
// over the types openapi-typescript generated from our OpenAPI document (openapi/schema.d.ts,
// `npm run openapi:generate`). A path, parameter or body that the routes no longer accept is a
// compile error in the caller, not a 400 at run time.

export type { paths as ApiPaths } from '../openapi/schema';

/**
 * `paths` as the client takes them: where the document requires the Idempotency-Key header, it
 * may travel as a plain header (`idempotent()`) instead of in `params.header`. The API still
 * answers 400 when it is missing.
 */
export type ClientPaths = {
  [Path in keyof paths]: {
    [M in keyof paths[Path]]: paths[Path][M] extends { parameters: infer P extends { header: { 'Idempotency-Key': string } } }
      ? Omit<paths[Path][M], 'parameters'> & { parameters: Omit<P, 'header'> & { header?: Partial<P['header']> } }
      : paths[Path][M];
  };
};

/** The client: `api.POST('/api/sync/tenants/{tenantId}/ensure', { params: { path: { tenantId } } })` and so on. */
export type PlatformClient = Client<ClientPaths>;

/** The 200 answer of the login hook. */
export type EnsureResult = paths['/api/sync/tenants/{tenantId}/ensure']['post']['responses'][200]['content']['application/json'];

/** An RFC 9457 problem, the body of every 4xx and 5xx answer. */
export type Problem = components['schemas']['Problem'];

export interface PlatformClientOptions {
  /** Where the API listens, e.g. `http://sync-orchestrator:3000` (no `/api`: the paths carry it). */
  baseUrl: string;
  /** A bearer JWT, or a function asked before every request (tokens expire: mint or refresh there). */
  token: string | (() => string | Promise<string>);
  /** Sent as X-Correlation-Id on every request, so our logs line up with the caller's. */
  correlationId?: () => string | undefined;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** Adds the bearer token (and correlation ID) to each request; a header the caller set wins. */
function authMiddleware(o: PlatformClientOptions): Middleware {
  return {
    async onRequest({ request }) {
      if (!request.headers.has('authorization')) {
        const token = typeof o.token === 'function' ? await o.token() : o.token;
        request.headers.set('authorization', `Bearer ${token}`);
      }
      const correlationId = o.correlationId?.();
      if (correlationId && !request.headers.has('x-correlation-id')) request.headers.set('x-correlation-id', correlationId);
      return request;
    },
  };
}

/** A typed client for this API. Answers are `{ data, error, response }`; nothing throws on a 4xx/5xx. */
export function createPlatformClient(o: PlatformClientOptions): PlatformClient {
  const client = createClient<ClientPaths>({ baseUrl: o.baseUrl.replace(/\/+$/, ''), ...(o.fetch ? { fetch: o.fetch } : {}) });
  client.use(authMiddleware(o));
  return client;
}

/**
 * Headers for POST routes that take an Idempotency-Key (required on starts that must not run twice:
 * reconcile, migrations, backups, schedule triggers, secret rotation). A retry sends the same key.
 * Equivalent to `params: { header: { 'Idempotency-Key': key } }`, and spreads beside `params`.
 */
export const idempotent = (key: string): { headers: Record<string, string> } => ({ headers: { 'idempotency-key': key } });
