import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import type { Redis } from '../../infra/redis';
import { RateLimitError } from '../errors';
import { tenantParamOf } from './auth';

// Two limits over Redis (shared by every API process): per subject on every route
// (@fastify/rate-limit), and per tenant on routes with a tenant in the path — a fixed-window
// counter of our own, because the plugin runs at most one limiter per request.
// Redis down: requests pass (availability over strictness). Keys `rl:<subject>` and
// `rl:tenant:<tenant>:<window>`: every script and MULTI touches one key, so a Redis Cluster needs no hash tag.

export interface RateLimitSettings {
  redis: Redis;
  perSubject: number;
  perTenant: number;
  windowMs: number;
}

const subjectKey = (req: FastifyRequest) => (req.principal ? `sub:${req.principal.sub}` : `ip:${req.ip}`);

export default fp<RateLimitSettings>(
  async (app, o) => {
    await app.register(rateLimit, {
      global: true,
      hook: 'preHandler',
      redis: o.redis,
      nameSpace: 'rl:',
      skipOnError: true,
      max: o.perSubject,
      timeWindow: o.windowMs,
      keyGenerator: subjectKey,
      allowList: (req) => req.url === '/health' || req.url.startsWith('/health/'),
      errorResponseBuilder: (_req, ctx) => new RateLimitError(Math.max(1, Math.ceil(ctx.ttl / 1000))),
    });
    const perTenant = async (req: FastifyRequest) => {
      const tenant = String((req.params as Record<string, unknown>)[tenantParamOf(req.routeOptions.config.auth) ?? ''] ?? '');
      const window = Math.floor(Date.now() / o.windowMs);
      const key = `rl:tenant:${tenant}:${window}`;
      let count: number;
      try {
        const res = await o.redis.multi().incr(key).pexpire(key, o.windowMs).exec();
        count = Number(res?.[0]?.[1] ?? 0);
      } catch {
        return;
      }
      if (count > o.perTenant) throw new RateLimitError(Math.max(1, Math.ceil(((window + 1) * o.windowMs - Date.now()) / 1000)));
    };
    app.addHook('onRoute', (route) => {
      if (!tenantParamOf(route.config?.auth)) return;
      const existing = route.preHandler ? (Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]) : [];
      route.preHandler = [...existing, perTenant];
    });
  },
  { name: 'rate-limit', dependencies: ['auth'] },
);
