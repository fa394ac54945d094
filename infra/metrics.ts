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
  syncHedgeDelay: 'sync_hedge_delay_seconds',
  syncBreakerState: 'sync_breaker_state',
  syncBreakerTransitions: 'sync_breaker_transitions_total',
  reconcileRecords: 'reconcile_records_total',
  reconcileChunks: 'reconcile_chunks_total',
  migrationRuns: 'migration_runs_total',
  migrationDuration: 'migration_duration_seconds',
  eventLoopLag: 'nodejs_eventloop_lag_seconds',
  cacheHits: 'cache_hits_total',
  cacheMisses: 'cache_misses_total',
  heapUsage: 'nodejs_heap_usage_ratio',
  /** OpenTelemetry host metrics: resident set size in bytes (the exporter adds no unit suffix). */
  processMemory: 'process_memory_usage',
  syncActive: 'sync_active_syncs',
  syncStuck: 'sync_stuck_syncs',
  reconcileBatchesRunning: 'reconcile_batches_running',
  reconcileBatchStalled: 'reconcile_batch_stalled_seconds',
  failedRuns: 'failed_runs',
  workerPollers: 'worker_presence_pollers',
  idempotencyStoreErrors: 'idempotency_store_errors_total',
} as const;

/**
 * The Temporal SDK runtime's own metrics that dashboards and alerts read, as the worker serves them
 * (workers/telemetry.ts sdkMetricsExporter: prefix `temporal_`, `_total` on counters, durations in
 * seconds with `_seconds`). Labels: namespace, task_queue, and worker_type, poller_type,
 * workflow_type, activity_type or failure_reason where they apply.
 */
export const SdkMetricNames = {
  workflowTaskScheduleToStart: 'temporal_workflow_task_schedule_to_start_latency_seconds',
  workflowTaskExecutionLatency: 'temporal_workflow_task_execution_latency_seconds',
  /** failure_reason: NonDeterminismError, WorkflowError, timeout, … */
  workflowTaskFailed: 'temporal_workflow_task_execution_failed_total',
  activityScheduleToStart: 'temporal_activity_schedule_to_start_latency_seconds',
  activityFailed: 'temporal_activity_execution_failed_total',
  /** worker_type: WorkflowWorker, ActivityWorker, LocalActivityWorker. */
  slotsAvailable: 'temporal_worker_task_slots_available',
  slotsUsed: 'temporal_worker_task_slots_used',
  /** poller_type: workflow_task, sticky_workflow_task, activity_task. */
  pollers: 'temporal_num_pollers',
  workflowCompleted: 'temporal_workflow_completed_total',
  workflowFailed: 'temporal_workflow_failed_total',
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
    hedgeDelay: meter().createGauge(MetricNames.syncHedgeDelay, {
      description:
        "The hedge delay the last Temporal login of this API process used (0: no hedge; LOGIN_HEDGE off or the delay reached the login's Temporal deadline)",
      unit: 's',
    }),
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

/** API cache (infra/cache): reads answered from it, and reads that went to MongoDB (absent, or Redis away: bypass), by namespace. */
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

/** API gauges read from the stores and Temporal at scrape time (api/services/maintenance/platform-gauges.ts). */
export function createPlatformGauges() {
  const gauge = (name: string, description: string, unit?: string) =>
    meter().createObservableGauge(name, { description, ...(unit ? { unit } : {}) });
  return {
    syncActive: gauge(MetricNames.syncActive, 'Running tenant syncs that moved within SYNC_STUCK_AFTER_MS'),
    syncStuck: gauge(
      MetricNames.syncStuck,
      'Running tenant syncs with no progress for SYNC_STUCK_AFTER_MS (as GET /api/sync/health counts them)',
    ),
    reconcileRunning: gauge(MetricNames.reconcileBatchesRunning, 'Reconcile batches in state running'),
    reconcileStalled: gauge(
      MetricNames.reconcileBatchStalled,
      'Longest time any running reconcile batch has gone without its processed count moving, as this API process saw it (0: none running)',
      's',
    ),
    failedRuns: gauge(
      MetricNames.failedRuns,
      'Workflows whose newest run failed, timed out or was terminated (dead letters), by workflow type',
    ),
    workerPollers: gauge(
      MetricNames.workerPollers,
      "Workers polling the login task queue's workflow tasks (seen within 90 s), by task queue",
    ),
  };
}

/** Idempotency-Key store (Redis) calls that failed, by operation (claim, save, release). */
export function createIdempotencyMetrics() {
  return { storeErrors: counter(MetricNames.idempotencyStoreErrors, 'Idempotency store (Redis) calls that failed, by operation') };
}
