import { condition, allHandlersFinished, log, proxyActivities, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { failureFromError } from '../shared/sync-failure';
import {
  essentialReadyUpdate,
  failedCollection,
  runStateOf,
  tenantSyncProgressQuery,
  type CollectionPlan,
  type CollectionResult,
  type SyncRunRecord,
  type TenantSyncInput,
} from '../shared/tenant-sync';
import { mapBounded } from '../shared/bounded';
import { ActivityProfiles, LocalActivityProfiles } from './profiles';

const { syncCollection } = proxyActivities<Activities>(ActivityProfiles.syncCollection);
// Essential collections are what a login waits for: local activities, no task-queue round trips.
// A retry restarts the collection from the top (no heartbeat checkpoint); the guarded writes make
// that a no-op for what was already written. The rest run as regular, checkpointed activities.
const { syncCollection: syncEssentialCollection } = proxyLocalActivities<Activities>(LocalActivityProfiles.essentialCollection);
const { recordSyncRun } = proxyActivities<Activities>(ActivityProfiles.quick);

const DEFAULT_CONCURRENCY = 4;

/** tenant-sync:{tenantId} — essential collections first, then the rest; one failure never stops the others. */
export async function tenantSyncWorkflow(input: TenantSyncInput): Promise<SyncRunRecord> {
  const info = workflowInfo();
  const run: SyncRunRecord = {
    runId: input.correlationId,
    tenantId: input.tenantId,
    method: 'temporal',
    fallbackUsed: false,
    workflowId: info.workflowId,
    state: 'running',
    startedAt: input.startedAt,
    collections: input.collections.map((c) => ({
      name: c.name,
      essential: c.essential,
      status: 'pending',
      synced: 0,
      unchanged: 0,
      failed: 0,
      durationMs: 0,
    })),
  };
  let essentialDone = false;
  setHandler(tenantSyncProgressQuery, () => run);
  setHandler(essentialReadyUpdate, async () => {
    await condition(() => essentialDone);
    const collections = run.collections.filter((c) => c.essential);
    return { correlationId: input.correlationId, essentialReady: collections.every((c) => c.status === 'synced'), collections };
  });

  const syncOne = async (c: CollectionPlan): Promise<void> => {
    const started = Date.now();
    const idx = input.collections.indexOf(c);
    let result: CollectionResult;
    try {
      const args = {
        tenantId: input.tenantId,
        collection: c.name,
        essential: c.essential,
        correlationId: input.correlationId,
        full: input.full,
      };
      result = await (c.essential ? syncEssentialCollection(args) : syncCollection(args));
    } catch (err) {
      const error = failureFromError(err, { tenantId: input.tenantId, collection: c.name, correlationId: input.correlationId }, started);
      result = failedCollection(c, error, started);
    }
    run.collections[idx] = result;
  };

  log.info('tenant sync started', { tenantId: input.tenantId, correlationId: input.correlationId, collections: input.collections.length });
  await mapBounded(
    input.collections.filter((c) => c.essential),
    input.concurrency ?? DEFAULT_CONCURRENCY,
    syncOne,
  );
  essentialDone = true;
  run.essentialReadyAt = new Date().toISOString();
  // Recorded once the login has its answer (same workflow task), so it never delays it.
  const started = recordSyncRun({ ...run }).catch((err: unknown) => log.warn('could not record sync start', { err: String(err) }));
  await mapBounded(
    input.collections.filter((c) => !c.essential),
    input.concurrency ?? DEFAULT_CONCURRENCY,
    syncOne,
  );

  run.state = runStateOf(run.collections);
  run.finishedAt = new Date().toISOString();
  run.durationMs = Date.now() - Date.parse(input.startedAt);
  await started;
  await recordSyncRun(run);
  await condition(allHandlersFinished);
  log.info('tenant sync finished', {
    tenantId: input.tenantId,
    correlationId: input.correlationId,
    state: run.state,
    durationMs: run.durationMs,
  });
  return run;
}
