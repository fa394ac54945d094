import type { Db } from 'mongodb';
import type { Boundary } from '../records/writer';

// Per-collection sync state kept inside the tenant's own database, beside the data it describes:
// a dropped database takes its watermark along (the next sync is full), and a database restored
// from an older copy brings back the older watermark (the next sync re-reads what changed since).

/** The state collection in every tenant database; no upstream collection may be named so. */
export const SYNC_STATE_COLLECTION = '_sync_state';

export interface CollectionSyncStateDoc {
  /** The collection's name. */
  _id: string;
  /** Incremental syncs read records with updatedAt at or after it; absent: the next sync is full. */
  watermark?: string;
  lastSyncedAt: Date;
  lastRunId: string;
  /** Records rejected by the last sync: the watermark was held at the oldest of them. */
  rejected: number;
  /** The records at the watermark that the last sync saw (records/writer.ts Boundary); absent: none kept. */
  boundary?: Boundary;
}

/** What a sync needs of a collection's state: where to read from, and whether records were held back. */
export type SavedSyncState = Pick<CollectionSyncStateDoc, 'watermark' | 'rejected' | 'boundary'>;

export function createTenantSyncState(tenantDb: Db) {
  const col = tenantDb.collection<CollectionSyncStateDoc>(SYNC_STATE_COLLECTION);
  return {
    get: (collection: string) => col.findOne({ _id: collection }),
    /** Several collections' states in one query (a login's direct sync reads them all at once). */
    async getMany(collections: readonly string[]): Promise<Map<string, CollectionSyncStateDoc>> {
      const docs = await col.find({ _id: { $in: [...new Set(collections)] } }).toArray();
      return new Map(docs.map((d) => [d._id, d]));
    },
    /** Replaced, not raised with $max: a watermark held back for a rejected record must go down. */
    async save(collection: string, s: { watermark?: string; runId: string; rejected: number; boundary?: Boundary }): Promise<void> {
      const doc: Omit<CollectionSyncStateDoc, '_id'> = { lastSyncedAt: new Date(), lastRunId: s.runId, rejected: s.rejected };
      if (s.watermark) doc.watermark = s.watermark;
      if (s.watermark && s.boundary?.at === s.watermark) doc.boundary = s.boundary;
      await col.replaceOne({ _id: collection }, doc, { upsert: true });
    },
  };
}
