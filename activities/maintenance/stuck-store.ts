import type { Collection, Db, Filter } from 'mongodb';
import { Collections } from '../../infra/mongo';
import type { StuckSyncFinding } from '../../shared/cleanup';
import type { SyncRunDoc } from '../tenant-sync/store';

// stuck_syncs: one document per stuck run the sweep found, kept `open` while the run is still
// stuck and unsettled (action `report`, or a failed action), closed once it was settled or has
// ended on its own. /api/sync/health reads it; the sync-runs cleanup expires closed ones.

export interface StuckSyncDoc extends Omit<StuckSyncFinding, 'id' | 'startedAt'> {
  _id: string;
  startedAt: Date;
  detectedAt: Date;
  lastSeenAt: Date;
  open: boolean;
  closedAt?: Date;
}

const DUPLICATE_KEY = 11000;
const isOpen = (f: StuckSyncFinding) => f.outcome === 'reported' || f.outcome === 'failed';

export function createStuckSyncStore(db: Db) {
  const stuck = db.collection<StuckSyncDoc>(Collections.stuckSyncs);
  const runs = db.collection<SyncRunDoc>(Collections.syncRuns);
  const status = db.collection(Collections.tenantSyncStatus);
  return {
    stuck,
    /** Records a finding; a run seen again (still stuck) keeps its first detectedAt. */
    async record(f: StuckSyncFinding, now: Date): Promise<void> {
      const { id, startedAt, ...rest } = f;
      const doc: StuckSyncDoc = {
        ...rest,
        _id: id,
        startedAt: new Date(startedAt),
        detectedAt: now,
        lastSeenAt: now,
        open: isOpen(f),
        ...(isOpen(f) ? {} : { closedAt: now }),
      };
      // Insert first: an insert is an index write on FerretDB, an update scans the collection.
      try {
        await stuck.insertOne(doc);
      } catch (err) {
        if ((err as { code?: number }).code !== DUPLICATE_KEY) throw err;
        const { _id, detectedAt, ...again } = doc;
        await stuck.updateOne({ _id }, { $set: again });
      }
    },
    /** Closes open findings the sweep started at `sweepStartedAt` no longer saw: those runs ended. */
    async closeUnseen(sweepStartedAt: Date): Promise<number> {
      const res = await stuck.updateMany(
        { open: true, lastSeenAt: { $lt: sweepStartedAt } },
        { $set: { open: false, closedAt: new Date() } },
      );
      return res.modifiedCount;
    },
    /** Settles a sync_runs document that will never finish by itself, and the tenant's status if it points at it. */
    async markRunFailed(
      runId: string,
      tenantId: string,
      stuckInfo: { action: string; outcome: string; reason: string },
      now: Date,
    ): Promise<boolean> {
      const res = await runs.updateOne(
        { _id: runId, state: 'running' },
        { $set: { state: 'failed', finishedAt: now, stuck: { ...stuckInfo, detectedAt: now } } },
      );
      await status.updateOne({ _id: tenantId as never, lastRunId: runId, state: 'running' }, { $set: { state: 'failed' } });
      return res.modifiedCount === 1;
    },
  };
}

export type StuckSyncStore = ReturnType<typeof createStuckSyncStore>;

/** For /api/sync/health: how many findings are open (still stuck, unsettled) and the newest ones. */
export async function summarizeStuck(stuck: Collection<StuckSyncDoc>, limit = 20, filter: Filter<StuckSyncDoc> = {}) {
  const [open, recent] = await Promise.all([
    stuck.find({ ...filter, open: true }, { projection: { _id: 1 } }).toArray(),
    stuck.find(filter).sort({ detectedAt: -1 }).limit(limit).toArray(),
  ]);
  return {
    open: open.length,
    recent: recent.map(({ _id, startedAt, detectedAt, lastSeenAt, closedAt, ...f }) => ({
      ...f,
      id: _id,
      startedAt: startedAt.toISOString(),
      detectedAt: detectedAt.toISOString(),
      lastSeenAt: lastSeenAt.toISOString(),
      ...(closedAt ? { closedAt: closedAt.toISOString() } : {}),
    })),
  };
}
