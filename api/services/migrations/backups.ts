import type { Db } from 'mongodb';
import { BackupError, createBackupOps } from '../../../activities/migrations/backup';
import { collectionExists } from '../../../activities/migrations/copy';
import type { BackupDoc, BackupStatus } from '../../../activities/migrations/store';
import type { BackupRef, RestoreResult } from '../../../shared/migrations';
import { ConflictError, NotFoundError, ValidationError } from '../../errors';

// Manual backups of platform collections for /api/migrations/backups (`migrate backup|restore|
// backups|prune`): the migration activities' own backup ops, answered synchronously — a backup
// of 200k documents takes about a minute, and the CLI waits for it (no job state to lose).

/** A collection of the platform database: no `system.` collections, nothing a namespace cannot hold. */
export const BACKUP_COLLECTION_PATTERN = '^(?!system\\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$';
/** A backup's ID, which is also its collection's name (backupIdFor). */
export const BACKUP_ID_PATTERN = '^backup__[A-Za-z0-9_.-]{1,200}$';

const BACKUP_PREFIX = 'backup__';

/** A backup as listed: its record without the index specs. */
export interface BackupListItem {
  backupId: string;
  collection: string;
  migration?: string;
  status: BackupStatus;
  existed: boolean;
  createdAt: string;
  completedAt?: string;
  count?: number;
  checksum?: string;
  durationMs?: number;
  lastRestoredAt?: string;
  expiredAt?: string;
}

export interface RestoreRequest {
  /** Restore into another collection than the one backed up. */
  into?: string;
  /** Even while a migration is running. */
  force?: boolean;
}

export interface BackupServiceOptions {
  db: Db;
  /** Documents per copied batch (MIGRATION_BATCH_SIZE). */
  batchSize: number;
  /** The default age for prune (MIGRATION_BACKUP_RETENTION_MS). */
  retentionMs: number;
}

/** The record as listed; undefined fields are left out of the answer by its schema. */
const listItem = (b: BackupDoc): BackupListItem => ({
  backupId: b._id,
  collection: b.collection,
  migration: b.migration,
  status: b.status,
  existed: b.existed,
  createdAt: b.createdAt.toISOString(),
  completedAt: b.completedAt?.toISOString(),
  count: b.count,
  checksum: b.checksum,
  durationMs: b.durationMs,
  lastRestoredAt: b.lastRestoredAt?.toISOString(),
  expiredAt: b.expiredAt?.toISOString(),
});

/**
 * A BackupError that reaches a request is about the data, not the request: the collection
 * changed during the copy, or the backup collection no longer matches its record. 409, with
 * the message (an internal 500 would hide what the operator must act on).
 */
function asProblem(err: unknown, backupId?: string): unknown {
  if (!(err instanceof BackupError)) return err;
  return new ConflictError(err.message, { ...(backupId ? { backupId } : {}), retryable: err.retryable });
}

export function createBackupService(o: BackupServiceOptions) {
  const ops = createBackupOps(o.db, { batchSize: o.batchSize });

  async function list(): Promise<BackupListItem[]> {
    // Natural order (FerretDB sorts in memory), then newest first here: the records are few and small.
    const docs = await ops.store.backups.find({}, { projection: { indexes: 0 } }).toArray();
    return docs.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime()).map(listItem);
  }

  /** Backs up an existing collection now (a migration's backup of a missing one is its own business). */
  async function backup(collection: string): Promise<BackupRef> {
    if (!(await collectionExists(o.db, collection))) throw new NotFoundError('collection', collection);
    return ops.backup(collection).catch((err: unknown) => {
      throw asProblem(err);
    });
  }

  async function restore(backupId: string, r: RestoreRequest = {}): Promise<RestoreResult> {
    // Another backup's collection is never a target: its record would no longer match it.
    if (r.into?.startsWith(BACKUP_PREFIX)) throw new ValidationError(`cannot restore into a backup collection ('${r.into}')`);
    const rec = await ops.store.backups.findOne({ _id: backupId }, { projection: { status: 1 } });
    if (!rec) throw new NotFoundError('backup', backupId);
    if (rec.status !== 'complete') throw new ConflictError(`backup '${backupId}' is ${rec.status}, not complete`, { backupId });
    const running = await ops.store.state.find({ status: 'running' }, { projection: { _id: 1 } }).toArray();
    if (running.length > 0 && !r.force)
      throw new ConflictError(`migration(s) running: ${running.map((m) => m._id).join(', ')} — wait, or pass force`, {
        running: running.map((m) => m._id),
      });
    return ops.restore(backupId, r.into ? { into: r.into } : {}).catch((err: unknown) => {
      throw asProblem(err, backupId);
    });
  }

  /** Drops backups older than `olderThanMs` (default: the retention), except those of a running migration. */
  const prune = (olderThanMs?: number) => ops.prune(olderThanMs ?? o.retentionMs);

  return { list, backup, restore, prune };
}

export type BackupService = ReturnType<typeof createBackupService>;
