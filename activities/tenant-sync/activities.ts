import { SyncErrorType } from '../../shared/errors';
import { failureFromError as sharedFailureFromError, failureOf, type FailureContext } from '../../shared/sync-failure';
import type { CollectionResult, SyncRunRecord } from '../../shared/tenant-sync';
import { currentActivity } from '../activity-context';
import { classifyError, toApplicationFailure } from '../classify-error';
import type { ActivityDeps } from '../deps';
import { writeRecords } from '../records/writer';
import { sourceDatabaseRefusal } from '../../infra/tenant-db-name';
import { createSource } from '../sources';
import { SourceError } from '../sources/types';
import { createSyncStore, type SyncStore } from './store';
import { createProgressWriter } from './progress';
import { boundaryAfter, newCheckpoint, resumedCheckpoint, sameBoundary, tally, watermarkAfter, type Checkpoint } from './checkpoint';
import { createTenantSyncState, type SavedSyncState, SYNC_STATE_COLLECTION } from './state';
import { createTenantRepository, type TenantRepository } from './registry';
import { cachedTenantRepository } from './cached-stores';
import { createRemoteInvalidator } from '../../infra/cache-bus';

// Tenant-sync activities. The workflow runs them on the worker; the API's direct path calls
// the very same functions in-process (no activity context: heartbeats are skipped).

export interface SyncCollectionInput {
  tenantId: string;
  collection: string;
  essential: boolean;
  correlationId: string;
  /** Ignore the watermark and read everything. */
  full?: boolean;
  /**
   * The collection's state as read just before (the direct path reads all of a login's in one
   * query: createTenantSyncState().getMany); null: it has none. Absent: read here.
   */
  saved?: SavedSyncState | null;
}

/**
 * Incremental reads start a little before the last watermark's sync began, so a record changed
 * while that sync ran is read again (an idempotent no-op when already written).
 */
export const WATERMARK_SAFETY_MS = 2_000;

export interface TenantSyncSettings {
  pageSize: number;
  /** Spacing of the tenant's progress marks (sync-progress.ts; the stuck-sync sweep reads them). @default 5000 */
  progressEveryMs?: number;
}

/** Stores the caller already holds (the API's, built once); each absent one is made here (the worker). */
export interface TenantSyncShared {
  /** @default createTenantRepository(deps.mongo.db, deps.secrets), read through deps.cache when there is one */
  tenants?: TenantRepository;
  /** @default createSyncStore(deps.mongo.db) */
  store?: SyncStore;
}

export function createTenantSyncActivities(
  deps: ActivityDeps,
  settings: TenantSyncSettings = { pageSize: 500 },
  shared: TenantSyncShared = {},
) {
  // Each collection's sync reads its tenant: through the process's cache (the worker's, like the
  // API's), a login's parallel collection syncs read the registry once, and later logins not at all.
  const registry = () => createTenantRepository(deps.mongo.db, deps.secrets);
  const tenants = shared.tenants ?? (deps.cache ? cachedTenantRepository(registry(), deps.cache) : registry());
  const store = shared.store ?? createSyncStore(deps.mongo.db);
  const progress = createProgressWriter(deps.mongo.db, settings.progressEveryMs, deps.log);
  const invalidator = createRemoteInvalidator(deps.redis, deps.mongo.db.databaseName, deps.log);

  async function syncCollection(input: SyncCollectionInput): Promise<CollectionResult> {
    const started = Date.now();
    const syncStartedAt = new Date(started - WATERMARK_SAFETY_MS).toISOString();
    const mark = { ...input, startedAt: started };
    const ctx = currentActivity();
    const log = deps.log.child({
      tenantId: input.tenantId,
      collection: input.collection,
      correlationId: input.correlationId,
      ...(ctx
        ? { workflowId: ctx.info.workflowExecution?.workflowId, activity: ctx.info.activityType, attempt: ctx.info.attempt }
        : { method: 'direct' }),
    });
    try {
      const tenant = await tenants.get(input.tenantId);
      if (!tenant) throw new SourceError(SyncErrorType.VALIDATION_ERROR, `tenant '${input.tenantId}' is not registered`);
      if (input.collection === SYNC_STATE_COLLECTION)
        throw new SourceError(SyncErrorType.VALIDATION_ERROR, `collection name '${SYNC_STATE_COLLECTION}' is reserved for sync state`);
      // A registration older than the API's check must not read the platform or a tenant target database either.
      const refusedDb =
        tenant.source.kind === 'mongodb' ? sourceDatabaseRefusal(tenant.source.settings.database, deps.mongo.db.databaseName) : undefined;
      if (refusedDb) throw new SourceError(SyncErrorType.VALIDATION_ERROR, `source: ${refusedDb}`);
      const tenantDb = deps.mongo.tenantDb(input.tenantId);
      const col = tenantDb.collection(input.collection);
      const state = createTenantSyncState(tenantDb);
      const resumed = ctx?.info.heartbeatDetails as Checkpoint | undefined;
      let cp: Checkpoint;
      let saved: SavedSyncState | null = null;
      if (resumed) {
        cp = resumedCheckpoint(resumed);
        log.info({ cursor: cp.cursor }, 'resuming collection sync from checkpoint');
      } else {
        // The watermark lives with the data: a dropped or emptied target has none, or none that holds.
        // Empty or not: one document in natural order (FerretDB answers a count with a full scan);
        // read beside the watermark, not after it (two round trips in the time of one).
        const given = input.saved;
        const [stored, first] = await Promise.all([
          input.full ? null : given !== undefined ? given : state.get(input.collection),
          col.findOne({}, { projection: { _id: 1 } }),
        ]);
        saved = stored;
        const empty = first === null;
        if (saved?.watermark && empty)
          log.info({ watermark: saved.watermark }, 'target collection is empty: full sync despite a watermark');
        cp = newCheckpoint(saved?.watermark && !empty ? saved.watermark : null, empty);
      }
      await progress(mark);
      // The records the last sync saw at the watermark come back (changes at or after it): those
      // unchanged since are not read from the target again (records/writer.ts Boundary).
      const known = cp.since && saved?.boundary?.at === cp.since ? { known: saved.boundary } : {};
      const source = createSource(tenants.revealSource(tenant), deps.outbound);
      try {
        for (;;) {
          const readAt = new Date();
          const page = await source.readPage(input.collection, {
            after: cp.cursor,
            limit: settings.pageSize,
            changedSince: cp.since,
            signal: ctx?.cancellationSignal,
          });
          const counts = await writeRecords(col, page.records, input.correlationId, { assumeAbsent: cp.assumeAbsent, readAt, ...known });
          tally(cp, page, counts);
          await progress(mark);
          if (ctx && !ctx.info.isLocal) ctx.heartbeat(cp); // local activities (essential) cannot heartbeat
          if (!page.nextCursor) break;
        }
      } finally {
        await source.close();
      }
      const watermark = watermarkAfter(cp, syncStartedAt);
      // Nothing changed (the same watermark, nothing held back before or now): the stored state
      // already says it, and a warm login saves one write per collection.
      const boundary = boundaryAfter(cp, watermark);
      const same =
        saved !== null &&
        watermark !== undefined &&
        watermark === saved.watermark &&
        cp.rejected === 0 &&
        !saved.rejected &&
        sameBoundary(boundary, saved.boundary);
      if (!same) await state.save(input.collection, { watermark, runId: input.correlationId, rejected: cp.rejected, boundary });
      await progress(mark);
      const result: CollectionResult = {
        name: input.collection,
        essential: input.essential,
        status: cp.rejected > 0 ? 'failed' : 'synced',
        synced: cp.written,
        unchanged: cp.unchanged,
        failed: cp.rejected,
        conflicts: cp.conflicts,
        mode: cp.mode,
        durationMs: Date.now() - started,
      };
      if (cp.rejected > 0) {
        // Not lost: the watermark stays at the oldest of them, so the next sync reads them again.
        result.rejectedRecords = cp.rejectedRecords;
        result.error = failureOf(
          input,
          SyncErrorType.VALIDATION_ERROR,
          `${cp.rejected} record(s) could not be stored (read again by the next sync; see rejectedRecords)`,
          started,
        );
      }
      log.info(
        {
          synced: result.synced,
          unchanged: result.unchanged,
          failed: result.failed,
          conflicts: cp.conflicts,
          mode: cp.mode,
          durationMs: result.durationMs,
        },
        'collection synced',
      );
      return result;
    } catch (err) {
      const errorType = classifyError(err);
      const failure = failureOf(input, errorType, err instanceof Error ? err.message : String(err), started);
      log.warn({ errorType, retryable: failure.retryable, durationMs: failure.durationMs, err: failure.message }, 'collection sync failed');
      throw toApplicationFailure(err, { message: failure.message, details: [failure] });
    }
  }

  async function recordSyncRun(run: SyncRunRecord): Promise<void> {
    await store.recordRun(run);
    // The API caches each tenant's sync status (infra/cache): drop it in every API process,
    // so the next login's freshness check sees this run. Bounded and never failing the activity:
    // a lost invalidation is healed by the API's flush after a Redis outage or its short TTL.
    await invalidator.drop('sync-status', run.tenantId);
  }

  return { syncCollection, recordSyncRun };
}

/** The direct path's reading of a failure: activity errors classified as the worker would. */
export function failureFromError(err: unknown, ctx: FailureContext, started: number) {
  return sharedFailureFromError(err, ctx, started, classifyError);
}

export type TenantSyncActivities = ReturnType<typeof createTenantSyncActivities>;
