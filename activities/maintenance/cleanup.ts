import { ApplicationFailure } from '@temporalio/activity';
import type { Collection, Db, Document, Filter } from 'mongodb';
import { Collections } from '../../infra/mongo';
import { CLEANUP_TARGETS, CleanupTargets, type CleanupInput, type CleanupResult } from '../../shared/cleanup';
import { SyncErrorType } from '../../shared/errors';
import { FINAL_STATES } from '../../shared/reconcile';
import { currentActivity } from '../activity-context';
import type { ActivityDeps } from '../deps';

// Retention cleanups run by the cleanup schedules. Shaped by FerretDB (DESIGN.md): each round
// finds at most `batchSize` expired _ids and deletes exactly those by `_id: {$in}` — one
// statement per round, never an unbounded deleteMany. Counts are heartbeated after each round,
// so a retried attempt continues the totals instead of restarting them.

export const DEFAULT_CLEANUP_BATCH_SIZE = 1000;
/** Reconcile batches whose dependent documents are removed together. */
const RECONCILE_BATCHES_PER_ROUND = 50;

interface Progress {
  deleted: Record<string, number>;
  batches: number;
}

/** Every collection cleaned here is keyed by string IDs. */
type AnyDoc = { _id: string } & Document;
type AnyCollection = Collection<AnyDoc>;

export function createCleanupActivities({ mongo, log }: ActivityDeps) {
  const db: Db = mongo.db;
  const col = (name: string): AnyCollection => db.collection(name);

  /** Deletes every document matching `filter`, `batchSize` at a time; returns how many went. */
  async function deleteMatching(name: string, filter: Filter<AnyDoc>, batchSize: number, p: Progress): Promise<number> {
    const c = col(name);
    let removed = 0;
    for (;;) {
      currentActivity()?.cancellationSignal.throwIfAborted();
      const ids = (
        await c
          .find(filter, { projection: { _id: 1 } })
          .limit(batchSize)
          .toArray()
      ).map((d) => d._id);
      if (ids.length === 0) break;
      const res = await c.deleteMany({ _id: { $in: ids } });
      removed += res.deletedCount;
      p.deleted[name] = (p.deleted[name] ?? 0) + res.deletedCount;
      p.batches += 1;
      currentActivity()?.heartbeat(p);
      if (ids.length < batchSize) break;
    }
    return removed;
  }

  const sweeps: Record<
    Exclude<CleanupInput['target'], 'migration-backups'>,
    (cutoff: Date, batchSize: number, p: Progress) => Promise<void>
  > = {
    // A run still `running` is never removed here: the stuck-sync sweep settles it first.
    async [CleanupTargets.syncRuns](cutoff, batchSize, p) {
      await deleteMatching(Collections.syncRuns, { startedAt: { $lt: cutoff }, state: { $ne: 'running' } }, batchSize, p);
      await deleteMatching(Collections.stuckSyncs, { detectedAt: { $lt: cutoff }, open: false }, batchSize, p);
    },

    // Only finished batches: a running batch's chunks, findings and staged repairs stay. Dependents
    // go before their batch document, so an interrupted round is finished by the next one.
    async [CleanupTargets.reconcile](cutoff, batchSize, p) {
      const expired: Filter<AnyDoc> = { state: { $in: [...FINAL_STATES] }, finishedAt: { $lt: cutoff } };
      for (;;) {
        const batchIds = (
          await col(Collections.reconcileBatches)
            .find(expired, { projection: { _id: 1 } })
            .limit(RECONCILE_BATCHES_PER_ROUND)
            .toArray()
        ).map((d) => d._id);
        if (batchIds.length === 0) break;
        for (const name of [Collections.reconcileErrors, Collections.reconcileChunks, Collections.reconcilePending]) {
          await deleteMatching(name, { batchId: { $in: batchIds } }, batchSize, p);
        }
        await deleteMatching(Collections.reconcileBatches, { _id: { $in: batchIds } }, batchSize, p);
        if (batchIds.length < RECONCILE_BATCHES_PER_ROUND) break;
      }
    },

    // Results are insert-only history; each client's latest stays, the API's view reads it.
    async [CleanupTargets.clientUpsertResults](cutoff, batchSize, p) {
      const latest = (
        await col(Collections.clientUpsertState)
          .find({}, { projection: { lastResultId: 1 } })
          .toArray()
      ).map((d) => String(d.lastResultId));
      // startedAt is stored as an ISO string (ClientUpsertResult): ISO strings order like the times.
      await deleteMatching(
        Collections.clientUpsertResults,
        { startedAt: { $lt: cutoff.toISOString() }, _id: { $nin: latest } },
        batchSize,
        p,
      );
    },
  };

  /** Removes what `input.target` holds past retention; migration backups go through pruneMigrationBackups. */
  async function cleanupExpired(input: CleanupInput): Promise<CleanupResult> {
    const sweep = input.target === CleanupTargets.migrationBackups ? undefined : sweeps[input.target];
    if (!sweep)
      throw ApplicationFailure.create({
        type: SyncErrorType.VALIDATION_ERROR,
        message: `unknown cleanup target '${String(input.target)}' (expected one of ${CLEANUP_TARGETS.filter((t) => t !== CleanupTargets.migrationBackups).join(', ')})`,
        nonRetryable: true,
      });
    if (!(input.retentionMs > 0))
      throw ApplicationFailure.create({
        type: SyncErrorType.VALIDATION_ERROR,
        message: `retentionMs must be a positive number of ms, got ${String(input.retentionMs)}`,
        nonRetryable: true,
      });
    const batchSize = Math.min(Math.max(input.batchSize ?? DEFAULT_CLEANUP_BATCH_SIZE, 1), DEFAULT_CLEANUP_BATCH_SIZE);
    const cutoff = new Date(Date.now() - input.retentionMs);
    const resumed = currentActivity()?.info.heartbeatDetails as Progress | undefined;
    const p: Progress = { deleted: { ...resumed?.deleted }, batches: resumed?.batches ?? 0 };
    await sweep(cutoff, batchSize, p);
    const total = Object.values(p.deleted).reduce((a, b) => a + b, 0);
    if (total > 0)
      log.info({ target: input.target, cutoff: cutoff.toISOString(), deleted: p.deleted, batches: p.batches }, 'expired documents removed');
    return { target: input.target, cutoff: cutoff.toISOString(), deleted: p.deleted, total, batches: p.batches };
  }

  return { cleanupExpired };
}

export type CleanupActivities = ReturnType<typeof createCleanupActivities>;
