import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Scopes } from '../../infra/auth-token';
import type { TemporalHandle } from '../../infra/temporal';
import { FAILED_STATUSES } from '../../activities/maintenance/failed-runs';
import { ValidationError } from '../errors';
import { problemResponses, TENANT_ID_PATTERN } from '../schemas';
import { createFailedRunsService, FAILED_RUNS_MAX_LIMIT, filterOfRequest } from '../services/maintenance/failed-runs';
import type { PauseService } from '../services/maintenance/pauses';
import { createSchedulesService, OVERLAP_POLICIES, type SchedulesService } from '../services/maintenance/schedules';

// Maintenance over HTTP: the dead-letter view (failed workflow runs, their bulk reset or restart)
// and the platform's schedules. Both reach every tenant's runs and the platform's own jobs, so
// they are platform operations: the admin scope on a token for every tenant ('*'). A tenant
// filter does not narrow that: a reset or restart acts on workflows, not on a tenant's data.

const platform = { auth: { scope: Scopes.admin, tenants: 'platform' as const } };

const STATUS = `(${FAILED_STATUSES.join('|')})`;
const WorkflowType = Type.String({ pattern: '^[A-Za-z0-9_.$-]{1,100}$', description: 'workflow type, e.g. tenantSyncWorkflow' });
const TenantId = Type.String({ pattern: TENANT_ID_PATTERN, maxLength: 64, description: 'the TenantId search attribute' });
const TaskQueue = Type.String({ minLength: 1, maxLength: 200, description: 'only runs of this task queue' });
const Since = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})?)?$',
  description: 'ISO date or date-time: only runs closed after it',
});
const filterFields = {
  type: Type.Optional(WorkflowType),
  tenantId: Type.Optional(TenantId),
  taskQueue: Type.Optional(TaskQueue),
  since: Type.Optional(Since),
};
const FailedQuery = Type.Object(
  {
    ...filterFields,
    status: Type.Optional(
      Type.String({ pattern: `^${STATUS}(,${STATUS})*$`, description: `comma-separated subset of ${FAILED_STATUSES.join(',')}` }),
    ),
    limit: Type.Optional(
      Type.String({
        pattern: '^[1-9][0-9]{0,5}$',
        description: `at most this many workflows, newest first (1..${FAILED_RUNS_MAX_LIMIT}, default 100)`,
      }),
    ),
  },
  { additionalProperties: false },
);
const RetryBody = Type.Object(
  {
    ...filterFields,
    status: Type.Optional(
      Type.Array(Type.Union(FAILED_STATUSES.map((s) => Type.Literal(s))), {
        minItems: 1,
        maxItems: FAILED_STATUSES.length,
        uniqueItems: true,
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: FAILED_RUNS_MAX_LIMIT, description: 'default 100' })),
    mode: Type.Union([Type.Literal('reset'), Type.Literal('restart')], {
      description: "'reset': replay to the first workflow task; 'restart': same ID, original input",
    }),
    dryRun: Type.Optional(Type.Boolean({ description: 'count and list only (default true); false acts and needs an Idempotency-Key' })),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 32, description: 'runs acted on at once (default 4)' })),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'recorded in the reset event or the new run memo' })),
  },
  { additionalProperties: false },
);
const FailedRun = Type.Object({
  workflowId: Type.String(),
  runId: Type.String(),
  type: Type.String(),
  taskQueue: Type.String(),
  status: Type.String(),
  tenantId: Type.Optional(Type.String()),
  operation: Type.Optional(Type.String()),
  startTime: Type.String(),
  closeTime: Type.Optional(Type.String()),
});
const Listing = Type.Object({
  query: Type.String({ description: 'the visibility query (paste it into the Temporal UI filter)' }),
  count: Type.Integer(),
  runs: Type.Array(FailedRun),
});
const RetryResult = Type.Object({
  run: FailedRun,
  ok: Type.Boolean(),
  newRunId: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
});
const Summary = Type.Object({
  dryRun: Type.Boolean(),
  mode: Type.String(),
  count: Type.Integer({ description: 'failed workflows matched by the filter' }),
  runs: Type.Array(FailedRun),
  results: Type.Array(RetryResult, { description: 'one per run acted on (empty on a dry run)' }),
  succeeded: Type.Integer(),
  failed: Type.Integer(),
});

const ScheduleParams = Type.Object(
  {
    id: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.:@~+=-]{0,254}$',
      description: "a short name (that schedule on the API's task queue) or a full ID `name:queue`",
    }),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object(
  { all: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')], { description: 'every schedule in the namespace' })) },
  { additionalProperties: false },
);
const Row = Type.Object({
  scheduleId: Type.String(),
  workflowType: Type.String(),
  paused: Type.Boolean(),
  note: Type.String(),
  lastRun: Type.String(),
  nextRun: Type.String(),
});
const ScheduleList = Type.Object({ taskQueue: Type.String(), schedules: Type.Array(Row) });
const ScheduleView = Type.Object(
  {
    scheduleId: Type.String(),
    workflowType: Type.String(),
    args: Type.Unknown(),
    taskQueue: Type.String(),
    intervals: Type.Unknown(),
    policies: Type.Unknown(),
    state: Type.Object({ paused: Type.Boolean(), note: Type.Optional(Type.String()) }, { additionalProperties: true }),
    memo: Type.Optional(Type.Unknown()),
    actionsTaken: Type.Integer(),
    skippedOverlap: Type.Integer(),
    missedCatchupWindow: Type.Integer(),
    running: Type.Unknown(),
    recent: Type.Unknown(),
    next: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);
const NoteBody = Type.Object(
  { note: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'why (shown by list and describe)' })) },
  { additionalProperties: false },
);
const Paused = Type.Object({ scheduleId: Type.String(), paused: Type.Boolean() });
const TriggerBody = Type.Object(
  {
    overlap: Type.Optional(
      Type.Union(
        OVERLAP_POLICIES.map((p) => Type.Literal(p)),
        { description: 'overlap policy for this trigger (default SKIP: skipped while a run of the schedule is going)' },
      ),
    ),
  },
  { additionalProperties: false },
);
const Triggered = Type.Object({ scheduleId: Type.String(), triggered: Type.Literal(true), overlap: Type.String() });

export interface MaintenanceRoutesOptions {
  temporal?: TemporalHandle;
  /** Short schedule names resolve on this queue. */
  taskQueue: string;
  /** The app's schedules service. @default one made here */
  schedules?: SchedulesService;
  /** Work pauses: a trigger of a paused kind's schedule is refused. */
  pauses?: Pick<PauseService, 'assertNotPaused'>;
}

const maintenance: FastifyPluginAsyncTypebox<MaintenanceRoutesOptions> = async (app, o) => {
  const failedRuns = createFailedRunsService({ temporal: o.temporal });
  const schedules = o.schedules ?? createSchedulesService({ temporal: o.temporal, taskQueue: o.taskQueue });

  app.get(
    '/api/runs/failed',
    { config: platform, schema: { querystring: FailedQuery, response: { 200: Listing, ...problemResponses } } },
    async (req) => failedRuns.list(filterOfRequest(req.query)),
  );

  // A dry run (the default) only lists; acting is the one case that must not repeat by accident,
  // so it alone needs the Idempotency-Key (reset and restart request IDs are per run besides).
  app.post(
    '/api/runs/retry',
    { config: platform, schema: { body: RetryBody, response: { 200: Summary, ...problemResponses } } },
    async (req) => {
      const { mode, dryRun = true, concurrency, reason, ...fields } = req.body;
      const filter = filterOfRequest(fields);
      if (!dryRun && !req.idempotencyKey) throw new ValidationError('The Idempotency-Key header is required to act (dryRun: false)');
      const summary = await failedRuns.retry({
        filter,
        mode,
        dryRun,
        ...(concurrency !== undefined ? { concurrency } : {}),
        reason: reason ?? `api runs retry by ${req.principal?.sub ?? 'unknown'}`,
      });
      if (!dryRun)
        req.log.info({ mode, count: summary.count, succeeded: summary.succeeded, failed: summary.failed }, 'failed runs retried');
      return summary;
    },
  );

  app.get(
    '/api/schedules',
    { config: platform, schema: { querystring: ListQuery, response: { 200: ScheduleList, ...problemResponses } } },
    async (req) => schedules.list(req.query.all === 'true'),
  );

  app.get(
    '/api/schedules/:id',
    { config: platform, schema: { params: ScheduleParams, response: { 200: ScheduleView, ...problemResponses } } },
    async (req) => schedules.describe(req.params.id),
  );

  // Pause and unpause set a state: repeating one changes nothing, so no key is required.
  for (const paused of [true, false]) {
    const verb = paused ? 'pause' : 'unpause';
    app.post(
      `/api/schedules/:id/${verb}`,
      { config: platform, schema: { params: ScheduleParams, body: NoteBody, response: { 200: Paused, ...problemResponses } } },
      async (req) => {
        const note = req.body.note ?? `${verb}d through the API by ${req.principal?.sub ?? 'unknown'}`;
        const done = await schedules.setPaused(req.params.id, paused, note);
        req.log.info({ scheduleId: done.scheduleId, paused }, `schedule ${verb}d`);
        return done;
      },
    );
  }

  // A trigger starts a run: a repeated request must replay, not start another (with ALLOW_ALL it would).
  app.post(
    '/api/schedules/:id/trigger',
    {
      config: { ...platform, idempotency: { required: true } },
      schema: { params: ScheduleParams, body: TriggerBody, response: { 202: Triggered, ...problemResponses } },
    },
    async (req, reply) => {
      // Every schedule here runs cleanup work (workers/schedules.ts): paused cleanup → refused.
      await o.pauses?.assertNotPaused('cleanup');
      const done = await schedules.trigger(req.params.id, req.body.overlap ?? 'SKIP');
      req.log.info({ scheduleId: done.scheduleId, overlap: done.overlap }, 'schedule triggered');
      return reply.code(202).send(done);
    },
  );
};

export default maintenance;
