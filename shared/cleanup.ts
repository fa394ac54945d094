// Cleanup and stuck-sync types shared by the schedules, their workflows, activities and the API.
// Pure: the workflow bundle imports it.

/**
 * What a cleanup schedule expires. Idempotency records are absent on purpose: they live in
 * Redis with a TTL (api/plugins/idempotency.ts), so Redis expiry is their cleanup.
 */
export const CleanupTargets = {
  /** sync_runs past retention (never a running one) and stuck-sync findings. */
  syncRuns: 'sync-runs',
  /** Finished reconcile batches with their chunks, errors and staged repairs. */
  reconcile: 'reconcile',
  /** client_upsert_results history, except each client's latest result. */
  clientUpsertResults: 'client-upsert-results',
  /** Migration backups (activities/migrations/backup.ts prune), except a running migration's. */
  migrationBackups: 'migration-backups',
} as const;

export type CleanupTarget = (typeof CleanupTargets)[keyof typeof CleanupTargets];
export const CLEANUP_TARGETS: readonly CleanupTarget[] = Object.values(CleanupTargets);

export interface CleanupInput {
  target: CleanupTarget;
  /** Documents older than now − retentionMs are removed. */
  retentionMs: number;
  /** Documents per find + delete round (≤ 1000 for FerretDB). */
  batchSize?: number;
}

export interface CleanupResult {
  target: CleanupTarget;
  /** ISO time: what started before it is expired. */
  cutoff: string;
  /** Documents (or, for migration backups, backups) removed, per collection. */
  deleted: Record<string, number>;
  /** Sum of `deleted`. */
  total: number;
  /** Find + delete rounds taken. */
  batches: number;
}

export type StuckSyncAction = 'report' | 'terminate' | 'restart';

export interface StuckSweepInput {
  stuckAfterMs: number;
  action: StuckSyncAction;
}

/** One stuck run: a TenantSyncWorkflow execution, or a sync_runs document nothing is running for. */
export interface StuckSyncFinding {
  /** `wf:{workflowId}:{runId}` or `run:{syncRunId}`. */
  id: string;
  kind: 'workflow' | 'orphaned-run';
  tenantId: string;
  workflowId?: string;
  workflowRunId?: string;
  /** The sync_runs _id (correlationId), when known. */
  syncRunId?: string;
  startedAt: string;
  /** When the run last moved (its tenant's progress mark, an activity heartbeat, else its start). */
  lastProgressAt?: string;
  action: StuckSyncAction;
  /** reported: left alone; terminated; restarted (new run started); failed: the action threw. */
  outcome: 'reported' | 'terminated' | 'restarted' | 'failed';
  /** correlationId (sync_runs _id) of the run started in its place. */
  restartedCorrelationId?: string;
  error?: string;
}

export interface StuckSweepResult {
  cutoff: string;
  found: number;
  reported: number;
  terminated: number;
  restarted: number;
  failed: number;
  findings: StuckSyncFinding[];
}

export const CleanupNames = {
  cleanupWorkflow: 'cleanupWorkflow',
  stuckSyncSweepWorkflow: 'stuckSyncSweepWorkflow',
} as const;

/** The workflows as their schedules and clients start them (by CleanupNames): typed args and result. */
export type CleanupWorkflow = (input: CleanupInput) => Promise<CleanupResult>;
export type StuckSyncSweepWorkflow = (input: StuckSweepInput) => Promise<StuckSweepResult>;

/** The schedules the worker keeps (workers/schedules.ts); `cli schedules` accepts these short names. */
export const ScheduleNames = {
  cleanupSyncRuns: 'cleanup-sync-runs',
  cleanupReconcile: 'cleanup-reconcile',
  cleanupClientUpsertResults: 'cleanup-client-upsert-results',
  cleanupMigrationBackups: 'cleanup-migration-backups',
  stuckSyncSweep: 'stuck-sync-sweep',
} as const;
export type ScheduleName = (typeof ScheduleNames)[keyof typeof ScheduleNames];

/** Schedule IDs are per namespace like workflow IDs: the task queue keeps deployments (and test files) apart. */
export const scheduleIdFor = (name: string, taskQueue: string) => `${name}:${taskQueue}`;
