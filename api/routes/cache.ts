import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Scopes } from '../../infra/auth-token';
import { problemResponses } from '../schemas';
import { CacheNamespaces, type AppCache } from '../../infra/cache/cache';

// GET /api/cache/stats: this process's cache counters (scope ops:read or admin; platform-wide
// counts, so global coverage like GET /api/ops/work). Each API process answers for itself.

const NamespaceStats = Type.Object({
  hits: Type.Integer({ description: 'reads answered from the cache (in-process or Redis)' }),
  misses: Type.Integer({ description: 'reads that loaded from MongoDB and filled the cache' }),
  bypassed: Type.Integer({ description: 'reads that went to MongoDB without the cache (cache off, Redis away)' }),
  invalidations: Type.Integer({ description: 'entries invalidated by this process' }),
  hitRate: Type.Union([Type.Number(), Type.Null()], { description: 'hits / reads; null before the first read' }),
});

const CacheStatsView = Type.Object({
  enabled: Type.Boolean({ description: 'CACHE_ENABLED' }),
  redis: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('off')], {
    description: 'up: reads use the cache; down: Redis is away and reads go to MongoDB; off: the cache is disabled',
  }),
  namespaces: Type.Object(Object.fromEntries(CacheNamespaces.map((n) => [n, NamespaceStats])) as Record<string, typeof NamespaceStats>),
});

const cacheRoutes: FastifyPluginAsyncTypebox<{ cache: AppCache }> = async (app, { cache }) => {
  app.get(
    '/api/cache/stats',
    {
      config: { auth: { scope: Scopes.opsRead, tenants: 'global' } },
      schema: { response: { 200: CacheStatsView, ...problemResponses } },
    },
    async () => cache.stats(),
  );
};

export default cacheRoutes;
