import { metrics, type Meter } from '@opentelemetry/api';

// Every platform metric name in one place (tests and the README use these constants); the
// client-upsert names live in activities/client-upsert/metrics.ts. Labels are bounded sets — method,
// route pattern, status, type names, outcomes — never tenant IDs, keys or user data.

/** The one OpenTelemetry meter every instrument of this platform is made on. */
export const METER_NAME = 'sync-orchestrator';

export const MetricNames = {
  httpDuration: 'http_request_duration_seconds',
  httpRequests: 'http_requests_total',
  httpActive: 'http_active_connections',
  workflowStarts: 'workflow_starts_total',
  workflowCompletions: 'workflow_completions_total',
  workflowFailures: 'workflow_failures_total',
  activityDuration: 'activity_duration_seconds',
  activityFailures: 'activity_failures_total',
  syncRequests: 'sync_requests_total',
  syncDuration: 'sync_duration_seconds',
  syncFallbacks: 'sync_fallback_total',
  syncHedges: 'sync_hedges_total',
  syncBreakerState: 'sync_breaker_state',
  syncBreakerTransitions: 'sync_breaker_transitions_total',
  reconcileRecords: 'reconcile_records_total',
  reconcileChunks: 'reconcile_chunks_total',
  migrationRuns: 'migration_runs_total',
  migrationDuration: 'migration_duration_seconds',
  eventLoopLag: 'nodejs_eventloop_lag_seconds',
  cacheHits: 'cache_hits_total',
  cacheMisses: 'cache_misses_total',
} as const;

/** Seconds, from a cached answer (ms) to a long activity (minutes). */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

// Instruments are made by factories called after startTelemetry: before a MeterProvider is
// installed the API hands out no-op meters, and they stay no-op.
const meter = (): Meter => metrics.getMeter(METER_NAME);
const counter = (name: string, description: string) => meter().createCounter(name, { description });
const seconds = (name: string, description: string) =>
  meter().createHistogram(name, { description, unit: 's', advice: { explicitBucketBoundaries: SECONDS_BUCKETS } });

/** API: request duration and count by method, route pattern and status; connections in flight. */
export function createHttpMetrics() {
  return {
    duration: seconds(MetricNames.httpDuration, 'HTTP request duration by method, route pattern and status code'),
    requests: counter(MetricNames.httpRequests, 'HTTP requests by method, route pattern and status code'),
    active: meter().createUpDownCounter(MetricNames.httpActive, { description: 'Open HTTP connections' }),
  };
}

/** Client side: every start, update-with-start or signal-with-start, by workflow type. */
export function createWorkflowStartMetrics() {
  return {
    starts: counter(MetricNames.workflowStarts, 'Workflow start requests (start, update-with-start, signal-with-start) by workflow type'),
  };
}

/** Worker side: workflow executions that closed (or continued as new), and activity executions. */
export function createWorkerMetrics() {
  return {
    workflowCompletions: counter(MetricNames.workflowCompletions, 'Workflow runs closed on this worker by workflow type and outcome'),
    workflowFailures: counter(MetricNames.workflowFailures, 'Workflow runs that failed, by workflow type'),
    activityDuration: seconds(MetricNames.activityDuration, 'Activity execution duration (one attempt) by activity type and outcome'),
    activityFailures: counter(MetricNames.activityFailures, 'Failed activity attempts by activity type'),
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** Login sync (API): one count per login request, duration by method, fallbacks by reason. */
export function createSyncMetrics() {
  return {
    requests: counter(
      MetricNames.syncRequests,
      'Login sync requests by method (temporal, direct, none) and outcome (ready, not_ready, fresh, error)',
    ),
    duration: seconds(MetricNames.syncDuration, 'Login sync duration until the essential collections were ready, by method'),
    fallbacks: counter(MetricNames.syncFallbacks, 'Login syncs that fell back from Temporal to direct, by reason'),
    hedges: counter(
      MetricNames.syncHedges,
      'Hedged logins (LOGIN_HEDGE): a direct sync started beside a slow Temporal call, by which answered first',
    ),
  };
}

/** Login path's circuit breaker (API): its state as a gauge, and its transitions by from and to state. */
export function createBreakerMetrics() {
  return {
    state: meter().createGauge(MetricNames.syncBreakerState, {
      description: 'Temporal login circuit breaker state: 0 closed, 1 half-open, 2 open',
    }),
    transitions: counter(
      MetricNames.syncBreakerTransitions,
      'Temporal login circuit breaker transitions, by from and to state (closed, half_open, open)',
    ),
  };
}

/** API cache (api/services/cache): reads answered from it, and reads that went to MongoDB (absent, or Redis away: bypass), by namespace. */
export function createCacheMetrics() {
  return {
    hits: counter(MetricNames.cacheHits, 'Cache reads answered from the cache, by namespace (tenants, sync-status)'),
    misses: counter(
      MetricNames.cacheMisses,
      'Cache reads that went to MongoDB, by namespace and reason (absent, bypass = cache off or Redis away)',
    ),
  };
}

/** Reconcile chunks (worker): records compared by outcome and chunks by outcome. */
export function createReconcileMetrics() {
  return {
    records: counter(MetricNames.reconcileRecords, 'Reconciled records by outcome (matched, missing, extra, mismatched, failed)'),
    chunks: counter(MetricNames.reconcileChunks, 'Reconcile chunks by outcome (done, failed)'),
  };
}

/** Migrations (worker): finished migrations by outcome. */
export function createMigrationMetrics() {
  return {
    runs: counter(MetricNames.migrationRuns, 'Migrations finished, by outcome'),
    duration: seconds(MetricNames.migrationDuration, 'Migration duration by outcome'),
  };
}
