import { Type, type Static, type TSchema } from 'typebox';

// The dashboard's snapshot: one schema for GET /api/dashboard/snapshot, each `snapshot` event of
// GET /api/dashboard/stream and the type the service builds. Every row about a tenant is limited
// to the tenants the token covers; `scope: 'process'` marks what only this API process knows.

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Int = (description?: string) => Type.Integer({ minimum: 0, ...(description ? { description } : {}) });

const MethodPoint = Type.Object({ count: Int(), p50Ms: Nullable(Type.Number()), p95Ms: Nullable(Type.Number()) });
const MethodTotals = Type.Object({
  total: Int('finished logins of this method in the window'),
  successRate: Type.Number(),
  avgDurationMs: Type.Number({ description: 'whole-run duration, as /api/sync/method-stats' }),
  fallbacks: Int(),
});

const Logins = Type.Object({
  windowRuns: Int('newest sync runs read (at most 1000, as /api/sync/method-stats)'),
  finished: Int('of which finished'),
  successRate: Type.Number(),
  failureRate: Type.Number(),
  lastStartedAt: Nullable(Type.String({ description: 'start of the newest login in the window' })),
  methods: Type.Object({ temporal: MethodTotals, direct: MethodTotals }),
  fallbacks: Type.Object({ total: Int(), byReason: Type.Record(Type.String(), Int()) }),
  series: Type.Object(
    {
      bucketSeconds: Int(),
      t: Type.Array(Type.Integer(), { description: 'bucket starts, epoch seconds, oldest first' }),
      temporal: Type.Array(MethodPoint),
      direct: Type.Array(MethodPoint),
      fallbacks: Type.Array(Int()),
      fallbackReasons: Type.Record(Type.String(), Int()),
    },
    { description: 'login latency (start → essential collections ready) per start minute over the last hour' },
  ),
});

const StuckRow = Type.Object({ runId: Type.String(), tenantId: Type.String(), startedAt: Type.String(), lastProgressAt: Type.String() });
const Syncs = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('unhealthy')], {
    description: 'as GET /api/sync/health',
  }),
  active: Int('running sync runs that are moving'),
  stuck: Int('running sync runs with no progress for SYNC_STUCK_AFTER_MS'),
  stuckRuns: Type.Array(StuckRow, { description: 'at most 10' }),
  openFindings: Int('findings of the stuck-sync sweep still open'),
  inFlightLogins: Int('logins this API process is answering now (scope: process)'),
});

const Breaker = Type.Object({
  state: Type.Union([Type.Literal('closed'), Type.Literal('open'), Type.Literal('half_open')]),
  scope: Type.Literal('process', { description: "the login breaker is this API process's own" }),
});

const BatchRow = Type.Object({
  batchId: Type.String(),
  tenantId: Nullable(Type.String({ description: 'null: a namespace batch (admin on every tenant only)' })),
  collection: Type.String(),
  state: Type.String(),
  dryRun: Type.Boolean(),
  live: Type.Boolean({ description: "true: from the running workflow's progress query" }),
  processed: Int(),
  total: Nullable(Int('keys to compare: the plan’s estimate while running; null when it has none (a tenant source into an empty target)')),
  percent: Nullable(Type.Number({ minimum: 0, maximum: 100, description: 'null while the total is not known' })),
  failed: Int(),
  conflicts: Int(),
  ratePerSec: Type.Number(),
  etaSeconds: Nullable(Type.Number()),
  startedAt: Type.String(),
  finishedAt: Nullable(Type.String()),
});
const Reconcile = Type.Object({
  running: Int('batches pending or running that the token reaches'),
  batches: Type.Array(BatchRow, { description: 'running first, then those finished in the last 15 minutes; at most 10' }),
  truncated: Type.Boolean({ description: 'more batches matched than were read' }),
});

const FailedRow = Type.Object({
  workflowType: Type.String(),
  failed: Int(),
  timedOut: Int(),
  terminated: Int(),
  canceled: Int(),
});
const Work = Type.Object(
  {
    failedByType: Type.Array(FailedRow, { description: "closed unsuccessfully, per workflow type (the work view's visibility counts)" }),
    backlog: Type.Object({ workflow: Type.Number(), activity: Type.Number() }),
    pollers: Type.Object({ workflow: Int(), activity: Int() }),
    generatedAt: Type.String(),
  },
  { description: 'from GET /api/ops/work (refreshed every few seconds); null when Temporal did not answer' },
);

const Quotas = Type.Object({
  global: Type.Object({ reconcileConcurrent: Int(), migrationsConcurrent: Int() }),
  tenantDefaults: Type.Object({ ensurePerMinute: Int(), reconcileConcurrentBatches: Int(), reconcileStartsPerHour: Int() }),
  reconcileRunning: Int('reconcile batches running or pending that the token reaches (against reconcileConcurrent)'),
});
const Pause = Type.Object({ kind: Type.String(), pausedBy: Type.String(), reason: Type.String(), pausedAt: Type.String() });

const CacheNs = Type.Object({ hits: Int(), misses: Int(), bypassed: Int(), hitRate: Nullable(Type.Number()) });
const Cache = Type.Object({
  enabled: Type.Boolean(),
  redis: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('off')]),
  hitRate: Nullable(Type.Number({ description: 'hits / reads over every namespace; null before the first read' })),
  namespaces: Type.Record(Type.String(), CacheNs),
  scope: Type.Literal('process', { description: "this API process's counters, as GET /api/cache/stats" }),
});

export const DashboardSnapshot = Type.Object({
  generatedAt: Type.String(),
  tenants: Type.Union([Type.Literal('*'), Type.Array(Type.String())], { description: 'the tenants this snapshot covers (the token’s)' }),
  logins: Nullable(Logins),
  syncs: Nullable(Syncs),
  breaker: Breaker,
  reconcile: Nullable(Reconcile),
  work: Nullable(Work),
  quotas: Quotas,
  pauses: Nullable(Type.Array(Pause)),
  cache: Cache,
  errors: Type.Record(Type.String(), Type.String(), {
    description: 'sections that could not be read this time (their value is null), with why',
  }),
});

export type DashboardSnapshot = Static<typeof DashboardSnapshot>;
export type BatchRow = Static<typeof BatchRow>;
export type FailedRow = Static<typeof FailedRow>;
