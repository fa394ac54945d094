import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { CleanupTargets, type CleanupInput, type CleanupResult, type StuckSweepInput, type StuckSweepResult } from '../shared/cleanup';
import { CleanupProfiles } from './profiles';

// The schedules' workflows: one retention cleanup per target, and the stuck-sync sweep.

const { cleanupExpired } = proxyActivities<Activities>(CleanupProfiles.cleanup);
const { pruneMigrationBackups } = proxyActivities<Activities>(CleanupProfiles.prune);
const { sweepStuckSyncs } = proxyActivities<Activities>(CleanupProfiles.sweep);

/** Removes what `input.target` holds past retention; returns what went, per collection. */
export async function cleanupWorkflow(input: CleanupInput): Promise<CleanupResult> {
  if (input.target !== CleanupTargets.migrationBackups) return cleanupExpired(input);
  // Migration backups have their own retention (it spares a running migration's backups).
  const r = await pruneMigrationBackups({ olderThanMs: input.retentionMs });
  return {
    target: input.target,
    cutoff: r.cutoff,
    deleted: { migration_backups: r.expired.length },
    total: r.expired.length,
    batches: r.expired.length > 0 ? 1 : 0,
  };
}

/** Finds tenant syncs on this task queue with no progress for the threshold and reports, terminates or restarts them. */
export async function stuckSyncSweepWorkflow(input: StuckSweepInput): Promise<StuckSweepResult> {
  return sweepStuckSyncs({ ...input, taskQueue: workflowInfo().taskQueue });
}
