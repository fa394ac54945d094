import type { Db } from 'mongodb';
import { Collections } from '../../infra/mongo';
import type {
  BackupRef,
  MigrationFailure,
  MigrationProgress,
  MigrationResult,
  MigrationStatus,
  MigrationStep,
  RestoreResult,
  VerifyOutcome,
} from '../../shared/migrations';
import type { IndexSpec } from './copy';

// `migrations` (one small document per migration: its state) and `migration_backups` (one per
// backup collection). Both stay small, so their point updates are cheap even on FerretDB.

export interface MigrationAttempt {
  workflowId: string;
  status: MigrationStatus;
  startedAt: Date;
  finishedAt?: Date;
  error?: MigrationFailure;
}

export interface MigrationStateDoc {
  _id: string;
  description: string;
  status: MigrationStatus;
  step: MigrationStep;
  workflowId: string;
  runWorkflowId?: string;
  forced: boolean;
  attempts: number;
  startedAt: Date;
  finishedAt?: Date;
  completedAt?: Date;
  durationMs?: number;
  error?: MigrationFailure;
  backups: BackupRef[];
  restored?: RestoreResult[];
  rolledBack?: boolean;
  restoreFailed?: string;
  changes: string[];
  verify?: VerifyOutcome;
  progress?: MigrationProgress;
  /** Earlier attempts, newest first (at most 10). */
  history: MigrationAttempt[];
  /** MIGRATION_STATE_SCHEMA_VERSION when written; every claim rewrites the whole document. */
  _schemaVersion?: number;
}

/** Shape version of a `migrations` state document this code writes. */
export const MIGRATION_STATE_SCHEMA_VERSION = 1;

export type BackupStatus = 'in_progress' | 'complete' | 'expired';

export interface BackupDoc {
  /** Also the name of the backup collection. */
  _id: string;
  collection: string;
  /** The migration that took it; absent for a manual `migrate backup`. */
  migration?: string;
  status: BackupStatus;
  existed: boolean;
  indexes: IndexSpec[];
  createdAt: Date;
  completedAt?: Date;
  count?: number;
  checksum?: string;
  durationMs?: number;
  lastRestoredAt?: Date;
  expiredAt?: Date;
}

export function createMigrationStore(db: Db) {
  const state = db.collection<MigrationStateDoc>(Collections.migrations);
  const backups = db.collection<BackupDoc>(Collections.migrationBackups);
  return {
    state,
    backups,
    get: (name: string) => state.findOne({ _id: name }),
    list: () => state.find({}).toArray(),
    /** Marks the migration running under `workflowId` (idempotent for a retried call of the same run). */
    async claim(
      name: string,
      o: { description: string; workflowId: string; runWorkflowId?: string; forced: boolean },
    ): Promise<MigrationStateDoc | null> {
      const prev = await state.findOne({ _id: name });
      if (prev?.status === 'running' && prev.workflowId === o.workflowId) return prev;
      const now = new Date();
      const history = prev
        ? [
            {
              workflowId: prev.workflowId,
              status: prev.status,
              startedAt: prev.startedAt,
              ...(prev.finishedAt ? { finishedAt: prev.finishedAt } : {}),
              ...(prev.error ? { error: prev.error } : {}),
            },
            ...prev.history,
          ].slice(0, 10)
        : [];
      const doc: MigrationStateDoc = {
        _id: name,
        description: o.description,
        status: 'running',
        step: 'plan',
        workflowId: o.workflowId,
        ...(o.runWorkflowId ? { runWorkflowId: o.runWorkflowId } : {}),
        forced: o.forced,
        attempts: (prev?.attempts ?? 0) + 1,
        startedAt: now,
        backups: [],
        changes: [],
        history,
        ...(prev?.completedAt ? { completedAt: prev.completedAt } : {}),
        _schemaVersion: MIGRATION_STATE_SCHEMA_VERSION,
      };
      await state.replaceOne({ _id: name }, doc, { upsert: true });
      return prev;
    },
    async setStep(name: string, step: MigrationStep, extra: Partial<MigrationStateDoc> = {}): Promise<void> {
      await state.updateOne({ _id: name }, { $set: { step, ...extra }, $unset: { progress: '' } });
    },
    async setProgress(name: string, progress: MigrationProgress): Promise<void> {
      await state.updateOne({ _id: name, status: 'running' }, { $set: { progress } });
    },
    /** Records the outcome of a run (completed or failed) with timings and references. */
    async finish(name: string, r: MigrationResult, workflowId: string): Promise<void> {
      const now = new Date();
      const doc = await state.findOne({ _id: name });
      if (!doc || doc.workflowId !== workflowId) return;
      const status: MigrationStatus = r.outcome === 'completed' ? 'completed' : 'failed';
      const set: Partial<MigrationStateDoc> = {
        status,
        step: 'done',
        finishedAt: now,
        durationMs: now.getTime() - doc.startedAt.getTime(),
        backups: r.backups ?? [],
        changes: r.changes ?? [],
        ...(r.verify ? { verify: r.verify } : {}),
        ...(r.error ? { error: r.error } : {}),
        ...(r.restored ? { restored: r.restored } : {}),
        ...(r.rolledBack !== undefined ? { rolledBack: r.rolledBack } : {}),
        ...(r.restoreFailed ? { restoreFailed: r.restoreFailed } : {}),
        ...(status === 'completed' ? { completedAt: now } : {}),
      };
      const unset: Record<string, ''> = { progress: '' };
      if (status === 'completed') Object.assign(unset, { error: '', restored: '', rolledBack: '', restoreFailed: '' });
      await state.updateOne({ _id: name }, { $set: set, $unset: unset });
    },
  };
}

export type MigrationStore = ReturnType<typeof createMigrationStore>;
