import { randomBytes } from 'node:crypto';
import type { Db } from 'mongodb';
import { AppError } from '../../shared/errors';
import type { BackupRef, CollectionSnapshot, RestoreResult } from '../../shared/migrations';
import {
  collectionExists,
  copyDocuments,
  createIndexSpecs,
  dropIfExists,
  listIndexSpecs,
  quickCount,
  sameSnapshot,
  snapshotCollection,
  swapInto,
  type CopyCheckpoint,
} from './copy';
import { createMigrationStore, type BackupDoc } from './store';

// Backup, restore and retention of platform collections. The migration activities call these
// with heartbeat checkpoints; `migrate backup|restore` calls them in-process with a progress bar.

export const EMPTY_SNAPSHOT: CollectionSnapshot = { count: 0, checksum: '0'.repeat(32) };

/** `backup__{collection}__{yyyymmddThhmmss}_{random}` — the ID is also the backup collection's name. */
export function backupIdFor(collection: string, at: Date, random = randomBytes(3).toString('hex')): string {
  return `backup__${collection}__${at.toISOString().replace(/[-:]/g, '').slice(0, 15)}_${random}`;
}

/** Thrown when a backup cannot be used (unknown, unfinished: not retryable) or a copy does not match its record (retryable). */
export class BackupError extends AppError {
  constructor(message: string, retryable: boolean) {
    super(retryable ? 'backup-mismatch' : 'backup-unusable', message);
  }
}

export interface ProgressEvent {
  collection: string;
  done: number;
  total?: number;
}

export interface BackupOptions {
  backupId?: string;
  migration?: string;
  /** Checkpoint of a previous attempt (heartbeat details). */
  from?: CopyCheckpoint;
  onBatch?: (cp: CopyCheckpoint, total: number | undefined) => Promise<void> | void;
  signal?: AbortSignal;
}

export interface RestoreCheckpoint {
  copy?: CopyCheckpoint;
}

export interface RestoreOptions {
  /** Names the temp collection, so a retry continues filling the same one. */
  restoreId?: string;
  /** Restore into another collection than the one backed up. */
  into?: string;
  from?: RestoreCheckpoint;
  onBatch?: (cp: RestoreCheckpoint, total: number | undefined) => Promise<void> | void;
  signal?: AbortSignal;
}

const refOf = (b: BackupDoc, durationMs: number, resumedFrom?: number): BackupRef => ({
  backupId: b._id,
  collection: b.collection,
  existed: b.existed,
  count: b.count ?? 0,
  checksum: b.checksum ?? EMPTY_SNAPSHOT.checksum,
  durationMs,
  ...(resumedFrom !== undefined ? { resumedFrom } : {}),
});

export function createBackupOps(db: Db, settings: { batchSize: number }) {
  const store = createMigrationStore(db);

  /** Streams `collection` into the backup collection `backupId`, recording count, checksum and indexes. */
  async function backup(collection: string, o: BackupOptions = {}): Promise<BackupRef> {
    const started = Date.now();
    const backupId = o.backupId ?? backupIdFor(collection, new Date());
    let rec = await store.backups.findOne({ _id: backupId });
    if (rec?.status === 'complete') return refOf(rec, rec.durationMs ?? 0);
    if (!rec) {
      const existed = await collectionExists(db, collection);
      const fresh: BackupDoc = {
        _id: backupId,
        collection,
        ...(o.migration ? { migration: o.migration } : {}),
        status: 'in_progress',
        existed,
        indexes: existed ? await listIndexSpecs(db.collection(collection)) : [],
        createdAt: new Date(),
      };
      await store.backups.insertOne(fresh).catch((err: unknown) => {
        if ((err as { code?: number }).code !== 11000) throw err;
      });
      rec = (await store.backups.findOne({ _id: backupId }))!;
    }
    let snap = EMPTY_SNAPSHOT;
    let resumedFrom: number | undefined;
    if (rec.existed) {
      const dst = db.collection(backupId);
      // No checkpoint: whatever an earlier attempt wrote is unaccounted for — start clean.
      if (!o.from) {
        await dropIfExists(dst);
        await db.createCollection(backupId);
      }
      const total = await quickCount(db.collection(collection));
      const res = await copyDocuments(db.collection(collection), dst, {
        batchSize: settings.batchSize,
        ...(o.from ? { from: o.from } : {}),
        onBatch: (cp) => o.onBatch?.(cp, total),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      resumedFrom = res.resumedFrom;
      // $collStats: a count from metadata (countDocuments decodes every document on FerretDB: ~30 s per 200k).
      const stored = (await quickCount(dst)) ?? (await dst.countDocuments());
      if (stored !== res.count) throw new BackupError(`backup ${backupId} holds ${stored} documents, ${res.count} were read`, true);
      snap = { count: res.count, checksum: res.checksum };
    }
    const durationMs = Date.now() - started;
    await store.backups.updateOne(
      { _id: backupId },
      { $set: { status: 'complete', completedAt: new Date(), count: snap.count, checksum: snap.checksum, durationMs } },
    );
    return refOf({ ...rec, ...snap, status: 'complete' }, durationMs, resumedFrom);
  }

  /**
   * Puts a backup back: copies it into a temp collection (resumable), adds its indexes, swaps
   * the temp in for the target (drop + rename), then scans the target and compares count and
   * checksum with the backup's record.
   */
  async function restore(backupId: string, o: RestoreOptions = {}): Promise<RestoreResult> {
    const started = Date.now();
    const rec = await store.backups.findOne({ _id: backupId });
    if (!rec) throw new BackupError(`backup '${backupId}' does not exist`, false);
    if (rec.status !== 'complete') throw new BackupError(`backup '${backupId}' is ${rec.status}, not complete`, false);
    const target = o.into ?? rec.collection;
    const expected: CollectionSnapshot = { count: rec.count ?? 0, checksum: rec.checksum ?? EMPTY_SNAPSHOT.checksum };
    const done = async (snap: CollectionSnapshot, verified: boolean): Promise<RestoreResult> => {
      if (!verified)
        throw new BackupError(
          `restore of ${backupId} into ${target} does not match: ${snap.count} documents (${snap.checksum}), expected ${expected.count} (${expected.checksum})`,
          true,
        );
      await store.backups.updateOne({ _id: backupId }, { $set: { lastRestoredAt: new Date() } });
      return { backupId, collection: target, ...snap, verified, durationMs: Date.now() - started };
    };
    if (!rec.existed) {
      // The migration created the collection: restoring means removing it.
      await dropIfExists(db.collection(target));
      return done(EMPTY_SNAPSHOT, !(await collectionExists(db, target)));
    }
    const tempName = `${target.slice(0, 80)}__restore_${o.restoreId ?? randomBytes(4).toString('hex')}`;
    let from = o.from?.copy;
    if (from && !(await collectionExists(db, tempName))) {
      // The previous attempt may have swapped already: accept the target if it matches, else start over.
      const snap = await snapshotCollection(db.collection(target), o.signal);
      if (sameSnapshot(snap, expected)) return done(snap, true);
      from = undefined;
    }
    if (!from) {
      await dropIfExists(db.collection(tempName));
      await db.createCollection(tempName);
    }
    const total = rec.count;
    const copied = await copyDocuments(db.collection(backupId), db.collection(tempName), {
      batchSize: settings.batchSize,
      ...(from ? { from } : {}),
      onBatch: (cp) => o.onBatch?.({ copy: cp }, total),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    if (!sameSnapshot(copied, expected)) {
      await dropIfExists(db.collection(tempName));
      throw new BackupError(
        `backup collection ${backupId} no longer matches its record (${copied.count} documents, ${copied.checksum}); it was changed or damaged`,
        false,
      );
    }
    await createIndexSpecs(db.collection(tempName), rec.indexes);
    await swapInto(db, tempName, target);
    const snap = await snapshotCollection(db.collection(target), o.signal);
    return done(snap, sameSnapshot(snap, expected));
  }

  /** Drops backups created before `now - olderThanMs` (except those of a running migration); keeps their records as expired. */
  async function prune(olderThanMs: number, now = new Date()): Promise<{ expired: string[]; cutoff: string }> {
    const cutoff = new Date(now.getTime() - olderThanMs);
    const running = new Set((await store.state.find({ status: 'running' }, { projection: { _id: 1 } }).toArray()).map((d) => d._id));
    const old = await store.backups.find({ createdAt: { $lt: cutoff }, status: { $ne: 'expired' } }).toArray();
    const expired: string[] = [];
    for (const b of old) {
      if (b.migration && running.has(b.migration)) continue;
      await dropIfExists(db.collection(b._id));
      await store.backups.updateOne({ _id: b._id }, { $set: { status: 'expired', expiredAt: now } });
      expired.push(b._id);
    }
    return { expired, cutoff: cutoff.toISOString() };
  }

  return { backup, restore, prune, store };
}

export type BackupOps = ReturnType<typeof createBackupOps>;
