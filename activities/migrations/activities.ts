import { CACHED_NAMESPACES, createRemoteInvalidator } from '../../infra/cache-bus';
import { ApplicationFailure } from '@temporalio/activity';
import { SyncErrorType } from '../../shared/errors';
import type {
  BackupRef,
  DryRunReport,
  MigrationInput,
  MigrationPlan,
  MigrationPlanEntry,
  MigrationResult,
  RestoreResult,
  VerifyOutcome,
} from '../../shared/migrations';
import { currentActivity } from '../activity-context';
import { toApplicationFailure } from '../classify-error';
import type { ActivityDeps } from '../deps';
import { createBackupOps, type RestoreCheckpoint } from './backup';
import { createMigrationContexts } from './context';
import type { CopyCheckpoint } from './copy';
import { rehearse } from './dry-run';
import { loadMigrations, type Migration, type MigrationRegistry } from './registry';
import { createMigrationMetrics } from '../../infra/metrics';

// Migration activities: each step of MigrationWorkflow is one of these. Copies heartbeat a
// checkpoint so a retry resumes; `up` runs once per attempt of the workflow (a failure restores).

export const MigrationFailureTypes = {
  upFailed: 'MIGRATION_UP_FAILED',
  verifyFailed: 'MIGRATION_VERIFY_FAILED',
  backup: 'MIGRATION_BACKUP_ERROR',
} as const;

export interface MigrationBatchEvent {
  op: 'backup' | 'restore';
  id: string;
  batches: number;
  attempt: number;
}

export interface MigrationSettings {
  /** The migrations; default: the files in migrations/. */
  registry?: MigrationRegistry;
  /** Documents per insertMany batch in backups, restores and rewrites. @default 1000 */
  batchSize?: number;
  /** Backups older than this are dropped by pruneMigrationBackups (ms). @default 7 days */
  retentionMs?: number;
  /** Called after each copied batch, before its checkpoint heartbeat (tests inject failures here). */
  onBatch?: (e: MigrationBatchEvent) => void | Promise<void>;
}

export const DEFAULT_MIGRATION_BATCH_SIZE = 1000;
export const DEFAULT_BACKUP_RETENTION_MS = 7 * 24 * 3600_000;

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 1000);

/** Maps any error to an ApplicationFailure with a stable type and the right retryability. */
function toFailure(err: unknown): ApplicationFailure {
  return err instanceof ApplicationFailure ? err : toApplicationFailure(err, { message: messageOf(err) });
}

export function createMigrationActivities(deps: ActivityDeps, settings: MigrationSettings = {}) {
  const db = deps.mongo.db;
  const batchSize = settings.batchSize ?? DEFAULT_MIGRATION_BATCH_SIZE;
  const ops = createBackupOps(db, { batchSize });
  const store = ops.store;
  const metrics = createMigrationMetrics();
  const invalidator = createRemoteInvalidator(deps.redis, db.databaseName, deps.log);
  let registryP: Promise<MigrationRegistry> | undefined;
  const registry = () => (registryP ??= settings.registry ? Promise.resolve(settings.registry) : loadMigrations());

  async function migration(name: string): Promise<Migration> {
    const m = (await registry()).get(name);
    if (!m)
      throw ApplicationFailure.create({ type: SyncErrorType.VALIDATION_ERROR, message: `unknown migration '${name}'`, nonRetryable: true });
    return m;
  }

  const { logFor, progressReporter, keepAlive, contextFor } = createMigrationContexts(deps, store, batchSize);

  /** The batch's plan: the selected migrations in name order, completed ones skipped unless forced. */
  async function planMigrationRun(input: { names?: string[]; force?: boolean; dryRun?: boolean }): Promise<MigrationPlanEntry[]> {
    const reg = await registry();
    const unknown = (input.names ?? []).filter((n) => !reg.get(n));
    if (unknown.length > 0)
      throw ApplicationFailure.create({
        type: SyncErrorType.VALIDATION_ERROR,
        message: `unknown migration(s): ${unknown.join(', ')}`,
        nonRetryable: true,
      });
    const states = new Map((await store.list()).map((d) => [d._id, d]));
    return reg
      .list()
      .filter((m) => !input.names || input.names.includes(m.name))
      .map((m): MigrationPlanEntry => {
        const st = states.get(m.name);
        if (!input.dryRun && !input.force && st?.status === 'completed')
          return { name: m.name, action: 'skip', reason: `completed at ${st.completedAt?.toISOString() ?? st.finishedAt?.toISOString()}` };
        return { name: m.name, action: 'run' };
      });
  }

  /** Resolves the migration and (unless a dry run) claims it in the state collection. */
  async function planMigration(input: MigrationInput & { workflowId: string }): Promise<MigrationPlan> {
    const m = await migration(input.name);
    const plan: MigrationPlan = { collections: [...m.collections], hasDown: typeof m.down === 'function' };
    if (input.dryRun) return plan;
    const st = await store.get(m.name);
    if (st?.status === 'completed' && !input.force) return { ...plan, skip: `completed at ${st.completedAt?.toISOString()}` };
    const prev = await store.claim(m.name, {
      description: m.description,
      workflowId: input.workflowId,
      ...(input.runWorkflowId ? { runWorkflowId: input.runWorkflowId } : {}),
      forced: !!input.force,
    });
    if (prev?.status === 'running' && prev.workflowId !== input.workflowId)
      logFor(m.name, 'plan').warn({ previous: prev.workflowId, step: prev.step }, 'an earlier run of this migration was interrupted');
    return plan;
  }

  /** Dry run: up + verify against a scratch copy of the declared collections (activities/migrations/dry-run.ts). */
  async function rehearseMigration(input: { name: string; scratchId: string }): Promise<DryRunReport> {
    try {
      return await rehearse({ deps, batchSize, contextFor, keepAlive, logFor }, await migration(input.name), input.scratchId);
    } catch (err) {
      throw toFailure(err);
    }
  }

  async function backupCollection(input: { name: string; collection: string; backupId: string }): Promise<BackupRef> {
    const a = currentActivity();
    const attempt = a?.info.attempt ?? 1;
    const from = a?.info.heartbeatDetails as CopyCheckpoint | undefined;
    await store.setStep(input.name, 'backup');
    const report = progressReporter(input.name, 'backup');
    let latest = from;
    const stopBeat = keepAlive(() => latest);
    try {
      const ref = await ops.backup(input.collection, {
        backupId: input.backupId,
        migration: input.name,
        ...(from ? { from } : {}),
        ...(a ? { signal: a.cancellationSignal } : {}),
        onBatch: async (cp, total) => {
          await settings.onBatch?.({ op: 'backup', id: input.backupId, batches: cp.batches, attempt });
          latest = cp;
          a?.heartbeat(cp);
          report(cp.count, total, input.collection);
        },
      });
      logFor(input.name, 'backup').info(
        { backupId: ref.backupId, count: ref.count, resumedFrom: ref.resumedFrom, durationMs: ref.durationMs },
        'collection backed up',
      );
      return ref;
    } catch (err) {
      throw toFailure(err);
    } finally {
      stopBeat();
    }
  }

  /** Runs `up` once; a throw fails the step for good (the workflow restores rather than retry half-applied work). */
  async function applyMigration(input: { name: string }): Promise<{ changes: string[] }> {
    const m = await migration(input.name);
    await store.setStep(m.name, 'apply');
    const { ctx, stop } = contextFor(m.name, 'apply', db, false);
    try {
      await m.up(ctx);
    } catch (err) {
      throw ApplicationFailure.create({
        type: MigrationFailureTypes.upFailed,
        message: `up failed: ${messageOf(err)}`,
        nonRetryable: true,
        details: [{ changes: ctx.changes }],
      });
    } finally {
      stop();
    }
    logFor(m.name, 'apply').info({ changes: ctx.changes }, 'migration applied');
    return { changes: ctx.changes };
  }

  /** Runs `verify`; `ok: false` is an answer (the workflow restores), a throw is retried. */
  async function verifyMigration(input: { name: string }): Promise<VerifyOutcome> {
    const m = await migration(input.name);
    await store.setStep(m.name, 'verify');
    const { ctx, stop } = contextFor(m.name, 'verify', db, false);
    try {
      const v = await m.verify(ctx);
      return { ok: v.ok === true, message: String(v.message ?? '').slice(0, 1000) };
    } catch (err) {
      throw toFailure(err);
    } finally {
      stop();
    }
  }

  /** Runs `down` when the migration has one (before the backups are restored). */
  async function rollbackMigration(input: { name: string }): Promise<{ ran: boolean; changes: string[] }> {
    const m = await migration(input.name);
    await store.setStep(m.name, 'rollback');
    if (!m.down) return { ran: false, changes: [] };
    const { ctx, stop } = contextFor(m.name, 'rollback', db, false);
    try {
      await m.down(ctx);
      return { ran: true, changes: ctx.changes };
    } catch (err) {
      throw toFailure(err);
    } finally {
      stop();
    }
  }

  async function restoreBackup(input: { name?: string; backupId: string; restoreId: string }): Promise<RestoreResult> {
    const a = currentActivity();
    const attempt = a?.info.attempt ?? 1;
    const from = a?.info.heartbeatDetails as RestoreCheckpoint | undefined;
    if (input.name) await store.setStep(input.name, 'restore');
    const report = progressReporter(input.name ?? '', 'restore', !!input.name);
    let latest = from;
    const stopBeat = keepAlive(() => latest);
    try {
      const r = await ops.restore(input.backupId, {
        restoreId: input.restoreId,
        ...(from ? { from } : {}),
        ...(a ? { signal: a.cancellationSignal } : {}),
        onBatch: async (cp, total) => {
          await settings.onBatch?.({ op: 'restore', id: input.backupId, batches: cp.copy?.batches ?? 0, attempt });
          latest = cp;
          a?.heartbeat(cp);
          report(cp.copy?.count ?? 0, total, input.backupId);
        },
      });
      deps.log.info({ migration: input.name, backupId: r.backupId, count: r.count, verified: r.verified }, 'backup restored');
      // A restored collection may be the tenant registry or the sync statuses the API caches.
      await invalidator.clear(...CACHED_NAMESPACES);
      return r;
    } catch (err) {
      throw toFailure(err);
    } finally {
      stopBeat();
    }
  }

  async function finishMigration(input: { result: MigrationResult; workflowId: string }): Promise<void> {
    await store.finish(input.result.name, input.result, input.workflowId);
    // A migration (applied, failed half-way and restored, or rolled back) may have rewritten any
    // stored document, the tenant registry and sync statuses the API caches included.
    await invalidator.clear(...CACHED_NAMESPACES);
    metrics.runs.add(1, { outcome: input.result.outcome });
    metrics.duration.record(input.result.durationMs / 1000, { outcome: input.result.outcome });
  }

  /** Retention: drops backups older than `olderThanMs` (default: the configured age). The cleanup schedule runs it. */
  async function pruneMigrationBackups(input: { olderThanMs?: number } = {}): Promise<{ expired: string[]; cutoff: string }> {
    const r = await ops.prune(input.olderThanMs ?? settings.retentionMs ?? DEFAULT_BACKUP_RETENTION_MS);
    if (r.expired.length > 0) deps.log.info({ expired: r.expired.length, cutoff: r.cutoff }, 'expired migration backups removed');
    return r;
  }

  return {
    planMigrationRun,
    planMigration,
    rehearseMigration,
    backupCollection,
    applyMigration,
    verifyMigration,
    rollbackMigration,
    restoreBackup,
    finishMigration,
    pruneMigrationBackups,
  };
}

export type MigrationActivities = ReturnType<typeof createMigrationActivities>;
