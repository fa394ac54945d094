import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Scopes } from '../../infra/auth-token';
import type { SyncStore } from '../../activities/sync-store';
import type { LoginSync } from '../services/login-sync';
import { createSyncStats, healthOf } from '../services/sync-stats';
import { problemResponses, TenantIdParams } from '../schemas';

// The login hook and the sync read endpoints (seed 004 names).

const Failure = Type.Object({ errorType: Type.String(), retryable: Type.Boolean(), message: Type.String(), correlationId: Type.String(), tenantId: Type.String(), collection: Type.String(), durationMs: Type.Number() });
const Collection = Type.Object({
  name: Type.String(),
  essential: Type.Boolean(),
  status: Type.String(),
  synced: Type.Integer(),
  failed: Type.Integer(),
  unchanged: Type.Optional(Type.Integer()),
  mode: Type.Optional(Type.String()),
  durationMs: Type.Optional(Type.Number()),
  error: Type.Optional(Failure),
});
const EnsureResponse = Type.Object({
  tenantId: Type.String(),
  correlationId: Type.String(),
  syncMethod: Type.Union([Type.Literal('temporal'), Type.Literal('direct')]),
  fallbackUsed: Type.Boolean(),
  fallbackReason: Type.Optional(Type.String()),
  essentialReady: Type.Boolean(),
  workflowId: Type.Optional(Type.String()),
  durationMs: Type.Number(),
  fresh: Type.Boolean(),
  collections: Type.Array(Collection),
});
const StatusResponse = Type.Object({
  tenantId: Type.String(),
  state: Type.String(),
  syncMethod: Type.Union([Type.String(), Type.Null()]),
  lastSyncAt: Type.Union([Type.String(), Type.Null()]),
  correlationId: Type.Union([Type.String(), Type.Null()]),
  fallbackUsed: Type.Boolean(),
  hasFailedCollections: Type.Boolean(),
  failedCollections: Type.Array(Type.Object({ name: Type.String(), errorType: Type.String(), retryable: Type.Boolean(), message: Type.String() })),
  collections: Type.Array(Collection),
});
const Open = Type.Object({}, { additionalProperties: true });

const sync: FastifyPluginAsyncTypebox<{ loginSync: LoginSync; store: SyncStore; stuckAfterMs: number }> = async (app, { loginSync, store, stuckAfterMs }) => {
  const stats = createSyncStats(store, stuckAfterMs);

  app.post(
    '/api/sync/tenants/:tenantId/ensure',
    { config: { auth: { scope: Scopes.syncWrite, tenantParam: 'tenantId' } }, schema: { params: TenantIdParams, response: { 200: EnsureResponse, ...problemResponses } } },
    async (req) => loginSync.ensure(req.params.tenantId),
  );

  app.get(
    '/api/sync/tenants/:tenantId/status',
    { config: { auth: { scope: Scopes.syncRead, tenantParam: 'tenantId' } }, schema: { params: TenantIdParams, response: { 200: StatusResponse, ...problemResponses } } },
    async (req) => {
      const s = await store.getStatus(req.params.tenantId);
      const failed = (s?.collections ?? []).filter((c) => c.status === 'failed');
      return {
        tenantId: req.params.tenantId,
        state: s?.state ?? 'never_synced',
        syncMethod: s?.method ?? null,
        lastSyncAt: s?.lastSyncAt?.toISOString() ?? null,
        correlationId: s?.lastRunId ?? null,
        fallbackUsed: s?.fallbackUsed ?? false,
        hasFailedCollections: failed.length > 0,
        failedCollections: failed.map((c) => ({ name: c.name, errorType: c.error?.errorType ?? 'UNKNOWN_ERROR', retryable: c.error?.retryable ?? true, message: c.error?.message ?? 'records rejected' })),
        collections: s?.collections ?? [],
      };
    },
  );

  const ops = { config: { auth: { scope: Scopes.syncRead } }, schema: { response: { 200: Open, ...problemResponses } } };

  app.get('/api/sync/metrics', ops, async () => {
    const [recent, active] = await Promise.all([stats.recent(), stats.active()]);
    return { window: { runs: recent.runs }, orchestration: { ...recent, collections: undefined, methods: undefined }, collections: recent.collections, active, inFlightLogins: loginSync.activeLogins() };
  });

  app.get('/api/sync/health', ops, async () => {
    const [recent, active] = await Promise.all([stats.recent(), stats.active()]);
    const breaker = loginSync.breakerState();
    return { status: healthOf(recent, active.stuckSyncs, breaker), activeSyncs: active.activeSyncs, stuckSyncs: active.stuckSyncs, stuck: active.stuck, successRate: recent.successRate, failureRate: recent.failureRate, breaker: { state: breaker }, checkedAt: new Date().toISOString() };
  });

  app.get('/api/sync/method-stats', ops, async () => {
    const recent = await stats.recent();
    return { window: { runs: recent.runs }, methods: recent.methods, fallbacks: recent.fallbacks };
  });
};

export default sync;
