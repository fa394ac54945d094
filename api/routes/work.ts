import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from 'typebox';
import { Scopes } from '../../infra/auth-token';
import { WORK_KINDS } from '../../shared/work';
import { problemResponses } from '../schemas';
import { EXECUTION_STATUSES, RUNNING_LIST_LIMIT, type WorkView } from '../services/maintenance/work-view';

// The operator's work view (api/services/maintenance/work-view.ts): scope ops:read, coverage
// 'global' — a view across tenants whose handler limits the tenant rows (counts by type, running
// executions) to the tenants the token covers, as /api/sync/health does; '*' sees everything.
// The queue's backlog and pollers, the pauses and the quotas name no tenant and are shown to all.

const global = { auth: { scope: Scopes.opsRead, tenants: 'global' as const } };

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

const Counts = Type.Object(
  Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, Type.Integer({ minimum: 0 })])) as Record<
    (typeof EXECUTION_STATUSES)[number],
    ReturnType<typeof Type.Integer>
  >,
  { description: 'executions on this task queue by visibility status' },
);
const TypeRow = Type.Object({
  workflowType: Type.String(),
  priorityClass: Type.String({ description: 'shared/priorities.ts class' }),
  priorityKey: Type.Integer({ description: 'its task-queue priority key (1 first)' }),
  counts: Counts,
  total: Type.Integer(),
});
const TenantRow = Type.Object({
  tenantId: Nullable(Type.String({ description: 'the TenantId search attribute; null: platform work of no tenant' })),
  running: Type.Integer(),
});
const OldestRow = Type.Object({
  workflowType: Type.String(),
  workflowId: Type.String(),
  tenantId: Type.Optional(Type.String()),
  startTime: Type.String(),
  ageSeconds: Type.Integer(),
  exact: Type.Boolean({ description: 'false: the listing was truncated first; an older one may exist' }),
});
const statsFields = {
  reported: Type.Boolean({ description: 'false: the server sent no stats' }),
  approximateBacklogCount: Type.Number(),
  approximateBacklogAgeSeconds: Type.Number(),
  tasksAddRate: Type.Number(),
  tasksDispatchRate: Type.Number(),
};
const Backlog = Type.Object({
  ...statsFields,
  byPriorityKey: Type.Array(Type.Object({ priorityKey: Type.Integer(), ...statsFields })),
});
const Poller = Type.Object({ identity: Type.String(), lastAccessTime: Nullable(Type.String()), ratePerSecond: Type.Number() });
const Pause = Type.Object({
  kind: Type.String({ description: `one of ${WORK_KINDS.join(', ')}` }),
  pausedBy: Type.String(),
  reason: Type.String(),
  pausedAt: Type.String(),
});
const Quotas = Type.Object({
  global: Type.Object({ reconcileConcurrent: Type.Integer(), migrationsConcurrent: Type.Integer() }),
  tenantDefaults: Type.Object({
    ensurePerMinute: Type.Integer(),
    reconcileConcurrentBatches: Type.Integer(),
    reconcileStartsPerHour: Type.Integer(),
  }),
});
const WorkViewAnswer = Type.Object({
  taskQueue: Type.String(),
  namespace: Type.String(),
  tenants: Type.Union([Type.Literal('*'), Type.Array(Type.String())], { description: 'the tenants this answer covers (the token’s)' }),
  generatedAt: Type.String(),
  countMethod: Type.Union([Type.Literal('group-by'), Type.Literal('per-status')]),
  byType: Type.Array(TypeRow, { description: 'every workflow type of shared/priorities.ts' }),
  runningByTenant: Type.Object({
    listed: Type.Integer(),
    limit: Type.Integer({ description: `running executions listed at most (${RUNNING_LIST_LIMIT})` }),
    truncated: Type.Boolean(),
    tenants: Type.Array(TenantRow),
  }),
  oldestRunning: Type.Array(OldestRow, { description: 'per workflow type, oldest first' }),
  backlog: Type.Object({ workflow: Backlog, activity: Backlog }),
  pollers: Type.Object({ workflow: Type.Array(Poller), activity: Type.Array(Poller) }),
  lanes: Type.Array(
    Type.Object({
      lane: Type.Union([Type.Literal('interactive'), Type.Literal('bulk')]),
      taskQueue: Type.String(),
      backlog: Type.Object({ workflow: Backlog, activity: Backlog }),
      pollers: Type.Object({ workflow: Type.Array(Poller), activity: Type.Array(Poller) }),
    }),
    { description: 'the other lanes (TEMPORAL_LANES), each its own task queue; [] when off. backlog and pollers above are the main lane' },
  ),
  pauses: Type.Array(Pause),
  quotas: Quotas,
});

const work: FastifyPluginAsyncTypebox<{ view: WorkView }> = async (app, o) => {
  app.get('/api/ops/work', { config: global, schema: { response: { 200: WorkViewAnswer, ...problemResponses } } }, async (req) =>
    o.view.view(req.principal?.tenants ?? []),
  );
};

export default work;
