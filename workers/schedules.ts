import { Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy, type ScheduleOptions } from '@temporalio/client';
import type { ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { AppConfig } from '../infra/config';
import type { Logger } from '../infra/logger';
import {
  CleanupNames,
  CleanupTargets,
  ScheduleNames,
  scheduleIdFor,
  type CleanupInput,
  type CleanupTarget,
  type ScheduleName,
  type StuckSweepInput,
} from '../shared/cleanup';
import { priorityFor } from '../shared/priorities';
import type { CleanupWorkflow, StuckSyncSweepWorkflow } from '../shared/cleanup';
import { Operations, SearchAttributeKeys } from '../shared/constants';

// The platform's Temporal Schedules: a retention cleanup per data family and the stuck-sync
// sweep. Created or updated at worker start, so config changes reach them with a restart;
// a schedule an operator paused stays paused. Overlap SKIP: a run still going when the next
// is due (or is triggered) means the next one is skipped, never stacked.

const OperationKey = SearchAttributeKeys.Operation;

export type ScheduleSettings = Partial<Pick<AppConfig, 'TEMPORAL_PRIORITY'>> &
  Pick<
    AppConfig,
    | 'TEMPORAL_TASK_QUEUE'
    | 'CLEANUP_INTERVAL_MS'
    | 'CLEANUP_BATCH_SIZE'
    | 'SYNC_RUN_RETENTION_MS'
    | 'RECONCILE_RETENTION_MS'
    | 'CLIENT_UPSERT_RESULT_RETENTION_MS'
    | 'MIGRATION_BACKUP_RETENTION_MS'
    | 'SCHEDULE_CATCHUP_WINDOW_MS'
    | 'STUCK_SYNC_SWEEP_INTERVAL_MS'
    | 'SYNC_STUCK_AFTER_MS'
    | 'SYNC_STUCK_ACTION'
  >;

/** Every schedule this deployment keeps, derived from config alone. */
export function scheduleOptions(c: ScheduleSettings): ScheduleOptions[] {
  const taskQueue = c.TEMPORAL_TASK_QUEUE;
  const common = (name: ScheduleName, everyMs: number, operation: string, timeout: string, what: string) => {
    const scheduleId = scheduleIdFor(name, taskQueue);
    return {
      scheduleId,
      spec: { intervals: [{ every: everyMs }] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: c.SCHEDULE_CATCHUP_WINDOW_MS },
      typedSearchAttributes: [{ key: OperationKey, value: operation }],
      action: {
        type: 'startWorkflow' as const,
        workflowId: scheduleId,
        taskQueue,
        workflowExecutionTimeout: timeout,
        typedSearchAttributes: [{ key: OperationKey, value: operation }],
        memo: { what, startedBy: scheduleId },
        // Both schedule kinds are sweeps: the last class (schedules bypass the client interceptor;
        // the SDK encodes `priority` on a schedule action although its options type leaves it out).
        ...(c.TEMPORAL_PRIORITY === false ? {} : { priority: priorityFor(CleanupNames.cleanupWorkflow) }),
      },
    };
  };
  const cleanup = (name: ScheduleName, target: CleanupTarget, retentionMs: number): ScheduleOptions => {
    const base = common(name, c.CLEANUP_INTERVAL_MS, Operations.cleanup, '3 hours', `cleanup of ${target} past ${retentionMs} ms`);
    const input: CleanupInput = { target, retentionMs, batchSize: c.CLEANUP_BATCH_SIZE };
    const action = {
      ...base.action,
      workflowType: CleanupNames.cleanupWorkflow,
      args: [input],
    } satisfies ScheduleOptionsStartWorkflowAction<CleanupWorkflow>;
    return { ...base, memo: { target, retentionMs, taskQueue }, action };
  };
  const sweepBase = common(
    ScheduleNames.stuckSyncSweep,
    c.STUCK_SYNC_SWEEP_INTERVAL_MS,
    Operations.stuckSyncSweep,
    '15 minutes',
    `stuck-sync sweep (no progress for ${c.SYNC_STUCK_AFTER_MS} ms → ${c.SYNC_STUCK_ACTION})`,
  );
  const sweepInput: StuckSweepInput = { stuckAfterMs: c.SYNC_STUCK_AFTER_MS, action: c.SYNC_STUCK_ACTION };
  const sweepAction = {
    ...sweepBase.action,
    workflowType: CleanupNames.stuckSyncSweepWorkflow,
    args: [sweepInput],
  } satisfies ScheduleOptionsStartWorkflowAction<StuckSyncSweepWorkflow>;
  return [
    cleanup(ScheduleNames.cleanupSyncRuns, CleanupTargets.syncRuns, c.SYNC_RUN_RETENTION_MS),
    cleanup(ScheduleNames.cleanupReconcile, CleanupTargets.reconcile, c.RECONCILE_RETENTION_MS),
    cleanup(ScheduleNames.cleanupClientUpsertResults, CleanupTargets.clientUpsertResults, c.CLIENT_UPSERT_RESULT_RETENTION_MS),
    cleanup(ScheduleNames.cleanupMigrationBackups, CleanupTargets.migrationBackups, c.MIGRATION_BACKUP_RETENTION_MS),
    { ...sweepBase, memo: { ...sweepInput, taskQueue }, action: sweepAction },
  ];
}

export interface EnsureSchedulesResult {
  created: string[];
  updated: string[];
}

/** Creates each schedule, or updates spec, action and policies of one that exists (its paused state is kept). */
export async function ensureSchedules(o: { client: Client; config: ScheduleSettings; log: Logger }): Promise<EnsureSchedulesResult> {
  const out: EnsureSchedulesResult = { created: [], updated: [] };
  for (const opts of scheduleOptions(o.config)) {
    try {
      await o.client.schedule.create(opts);
      out.created.push(opts.scheduleId);
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await o.client.schedule
        .getHandle(opts.scheduleId)
        .update((prev) => ({ ...prev, spec: opts.spec, action: opts.action, policies: { ...prev.policies, ...opts.policies } }));
      out.updated.push(opts.scheduleId);
    }
  }
  o.log.info(out, 'schedules ensured');
  return out;
}

/** Worker start: never throws — a failure is logged and the worker keeps serving. */
export async function ensureSchedulesOnStart(o: { connection: NativeConnection; config: AppConfig; log: Logger }): Promise<void> {
  try {
    await ensureSchedules({
      client: new Client({ connection: o.connection, namespace: o.config.TEMPORAL_NAMESPACE }),
      config: o.config,
      log: o.log,
    });
  } catch (err) {
    o.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not create or update the schedules at worker start');
  }
}
