import type { WorkerPresence } from '../services/tenant-sync/worker-presence';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { PauseService } from '../services/maintenance/pauses';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { Scopes } from '../../infra/auth-token';
import type { SyncStore } from '../../activities/tenant-sync/store';
import type { LoginSync } from '../services/tenant-sync/login-sync';
import { createSyncStats, healthOf } from '../services/tenant-sync/sync-stats';
import { problemResponses, TENANT_ID_PATTERN, TenantIdParams } from '../schemas';
import { coversTenant } from '../../infra/auth-token';
import { AuthorizationError } from '../errors';
import { mapPage, pageRequestOf } from '../../shared/paging';
import type { RunState, SyncMethod } from '../../shared/tenant-sync';
import type { SyncRunDoc } from '../../activities/tenant-sync/store';
import { PageQueryFields, PageSchema } from '../paging';

// The login hook and the sync read endpoints (seed 004 names).

const Failure = Type.Object({
  errorType: Type.String(),
  retryable: Type.Boolean(),
  message: Type.String(),
  correlationId: Type.String(),
  tenantId: Type.String(),
  collection: Type.String(),
  durationMs: Type.Number(),
});
const Rejected = Type.Object(
  { key: Type.String(), keyType: Type.String(), reason: Type.String() },
  { description: 'a record that could not be stored; the next sync reads it again' },
);
const RejectedList = Type.Optional(Type.Array(Rejected, { description: 'the first rejected records (the count is `failed`)' }));
const Collection = Type.Object({
  name: Type.String(),
  essential: Type.Boolean(),
  status: Type.String(),
  synced: Type.Integer(),
  failed: Type.Integer(),
  unchanged: Type.Optional(Type.Integer()),
  conflicts: Type.Optional(
    Type.Integer({
      description: 'records whose versions could not order the write (same version, other content; a version of another type)',
    }),
  ),
  rejectedRecords: RejectedList,
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
  failedCollections: Type.Array(
    Type.Object({
      name: Type.String(),
      errorType: Type.String(),
      retryable: Type.Boolean(),
      message: Type.String(),
      rejectedRecords: RejectedList,
    }),
  ),
  collections: Type.Array(Collection),
});
const Open = Type.Object({}, { additionalProperties: true });
const StuckFinding = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('workflow'), Type.Literal('orphaned-run')]),
  tenantId: Type.String(),
  workflowId: Type.Optional(Type.String()),
  workflowRunId: Type.Optional(Type.String()),
  syncRunId: Type.Optional(Type.String()),
  startedAt: Type.String({ format: 'date-time' }),
  lastProgressAt: Type.Optional(
    Type.String({ format: 'date-time', description: 'when the run last moved (progress mark, heartbeat, else its start)' }),
  ),
  action: Type.Union([Type.Literal('report'), Type.Literal('terminate'), Type.Literal('restart')]),
  outcome: Type.Union([Type.Literal('reported'), Type.Literal('terminated'), Type.Literal('restarted'), Type.Literal('failed')]),
  restartedCorrelationId: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
  open: Type.Boolean({ description: 'still stuck and not settled (action report, or the action failed)' }),
  detectedAt: Type.String({ format: 'date-time' }),
  lastSeenAt: Type.String({ format: 'date-time' }),
  closedAt: Type.Optional(Type.String({ format: 'date-time' })),
});
const HealthResponse = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('unhealthy')]),
  activeSyncs: Type.Integer(),
  stuckSyncs: Type.Integer({ description: 'running sync_runs with no progress for SYNC_STUCK_AFTER_MS' }),
  stuck: Type.Array(
    Type.Object({ runId: Type.String(), tenantId: Type.String(), startedAt: Type.String(), lastProgressAt: Type.String() }),
  ),
  successRate: Type.Number(),
  failureRate: Type.Number(),
  breaker: Type.Object({ state: Type.String() }),
  stuckDetection: Type.Object(
    {
      open: Type.Integer({ description: 'findings still stuck and unsettled' }),
      recent: Type.Array(StuckFinding, { description: 'newest findings of the stuck-sync sweep (at most 20)' }),
    },
    { description: 'what the stuck-sync schedule found and did (SYNC_STUCK_ACTION)' },
  ),
  pauses: Type.Array(Type.Object({ kind: Type.String(), pausedBy: Type.String(), reason: Type.String(), pausedAt: Type.String() }), {
    description: 'kinds of work paused by an operator (POST /api/ops/work/:kind/pause): their new starts are refused',
  }),
  workers: Type.Optional(
    Type.Object(
      {
        state: Type.Union([Type.Literal('present'), Type.Literal('absent'), Type.Literal('unknown')]),
        pollers: Type.Optional(Type.Integer()),
        taskQueue: Type.String(),
      },
      {
        description:
          'does a worker poll the login task queue (the cached answer logins route by, WORKER_PRESENCE_TTL_MS)? absent: logins go direct (no_worker) and status is degraded',
      },
    ),
  ),
  checkedAt: Type.String({ format: 'date-time' }),
});

const RunsQuery = Type.Object(
  {
    tenantId: Type.Optional(Type.String({ pattern: TENANT_ID_PATTERN, maxLength: 64 })),
    state: Type.Optional(Type.Union(['running', 'completed', 'partial', 'failed'].map((v) => Type.Literal(v)))),
    method: Type.Optional(Type.Union([Type.Literal('temporal'), Type.Literal('direct')])),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'runs started at or after this' })),
    ...PageQueryFields,
  },
  { additionalProperties: false },
);
const RunRow = Type.Object(
  {
    runId: Type.String(),
    tenantId: Type.String(),
    state: Type.String(),
    method: Type.String(),
    fallbackUsed: Type.Boolean(),
    startedAt: Type.String({ format: 'date-time' }),
    finishedAt: Type.Union([Type.String(), Type.Null()]),
    collections: Type.Integer({ description: 'collections in the run' }),
    failedCollections: Type.Integer(),
  },
  { additionalProperties: false },
);
const runRow = (r: SyncRunDoc) => ({
  runId: r._id,
  tenantId: r.tenantId,
  state: r.state,
  method: r.method,
  fallbackUsed: r.fallbackUsed,
  startedAt: r.startedAt.toISOString(),
  finishedAt: r.finishedAt?.toISOString() ?? null,
  collections: r.collections?.length ?? 0,
  failedCollections: (r.collections ?? []).filter((c) => c.status === 'failed').length,
});

const sync: FastifyPluginAsyncTypebox<{
  loginSync: LoginSync;
  store: SyncStore;
  stuckAfterMs: number;
  pauses?: Pick<PauseService, 'list'>;
  /** Worker presence on the login task queue (absent when not checked). */
  presence?: Pick<WorkerPresence, 'forLogin'>;
}> = async (app, { loginSync, store, stuckAfterMs, pauses, presence }) => {
  const stats = createSyncStats(store, stuckAfterMs);

  app.post(
    '/api/sync/tenants/:tenantId/ensure',
    {
      config: { auth: { scope: Scopes.syncWrite, tenants: { param: 'tenantId' } } },
      schema: { params: TenantIdParams, response: { 200: EnsureResponse, ...problemResponses } },
    },
    // Time spent in the hooks (auth, rate limits, idempotency) counts against LOGIN_DEADLINE_MS.
    async (req, reply) => loginSync.ensure(req.params.tenantId, reply.elapsedTime),
  );

  app.get(
    '/api/sync/tenants/:tenantId/status',
    {
      config: { auth: { scope: Scopes.syncRead, tenants: { param: 'tenantId' } } },
      schema: { params: TenantIdParams, response: { 200: StatusResponse, ...problemResponses } },
    },
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
        failedCollections: failed.map((c) => ({
          name: c.name,
          errorType: c.error?.errorType ?? 'UNKNOWN_ERROR',
          retryable: c.error?.retryable ?? true,
          message: c.error?.message ?? 'records rejected',
          ...(c.rejectedRecords?.length ? { rejectedRecords: c.rejectedRecords } : {}),
        })),
        collections: s?.collections ?? [],
      };
    },
  );

  // Run history of the covered tenants, in run-ID order (sync_runs is big: no time sort, no total).
  app.get(
    '/api/sync/runs',
    {
      config: { auth: { scope: Scopes.syncRead, tenants: 'global' } },
      schema: { querystring: RunsQuery, response: { 200: PageSchema(RunRow), ...problemResponses } },
    },
    async (req) => {
      const p = req.principal!;
      const q = req.query;
      if (q.tenantId !== undefined && !coversTenant(p, q.tenantId)) throw new AuthorizationError('The token does not cover this tenant');
      const page = await store.listRuns(pageRequestOf(q), {
        tenants: p.tenants,
        ...(q.tenantId !== undefined ? { tenantId: q.tenantId } : {}),
        ...(q.state ? { state: q.state as RunState } : {}),
        ...(q.method ? { method: q.method as SyncMethod } : {}),
        ...(q.since ? { since: new Date(q.since) } : {}),
      });
      return mapPage(page, runRow);
    },
  );

  // Views across tenants: each answers over the tenants the token covers (services/sync-stats.ts).
  const ops = {
    config: { auth: { scope: Scopes.syncRead, tenants: 'global' as const } },
    schema: { response: { 200: Open, ...problemResponses } },
  };
  const coverage = (req: FastifyRequest) => req.principal?.tenants ?? [];

  app.get('/api/sync/metrics', ops, async (req) => {
    const tenants = coverage(req);
    const [recent, active] = await Promise.all([stats.recent(tenants), stats.active(tenants)]);
    const inFlightLogins = loginSync.activeLogins((t) => tenants === '*' || tenants.includes(t));
    return {
      window: { runs: recent.runs },
      orchestration: { ...recent, collections: undefined, methods: undefined },
      collections: recent.collections,
      active,
      inFlightLogins,
    };
  });

  app.get('/api/sync/health', { ...ops, schema: { response: { 200: HealthResponse, ...problemResponses } } }, async (req) => {
    const tenants = coverage(req);
    const [recent, active, detection, paused, workers] = await Promise.all([
      stats.recent(tenants),
      stats.active(tenants),
      stats.detection(tenants),
      pauses?.list() ?? [],
      presence?.forLogin(),
    ]);
    const breaker = loginSync.breakerState();
    const status = healthOf(recent, active.stuckSyncs + detection.open, breaker);
    // Open findings count as stuck too: a workflow stuck before its first record has no sync_runs document.
    return {
      status: status === 'healthy' && workers?.state === 'absent' ? ('degraded' as const) : status,
      activeSyncs: active.activeSyncs,
      stuckSyncs: active.stuckSyncs,
      stuck: active.stuck,
      successRate: recent.successRate,
      failureRate: recent.failureRate,
      breaker: { state: breaker },
      stuckDetection: detection,
      pauses: paused,
      ...(workers
        ? {
            workers: {
              state: workers.state,
              ...(workers.pollers !== undefined ? { pollers: workers.pollers } : {}),
              taskQueue: workers.taskQueue,
            },
          }
        : {}),
      checkedAt: new Date().toISOString(),
    };
  });

  app.get('/api/sync/method-stats', ops, async (req) => {
    const recent = await stats.recent(coverage(req));
    return { window: { runs: recent.runs }, methods: recent.methods, fallbacks: recent.fallbacks };
  });
};

export default sync;
