import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  executeChild,
  log,
  proxyActivities,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import { Operations, WorkflowIds, SearchAttributeKeys } from '../shared/constants';
import {
  dryRunChildWorkflowId,
  migrationProgressQuery,
  migrationRunProgressQuery,
  type BackupRef,
  type MigrationInput,
  type MigrationResult,
  type MigrationStep,
  type RestoreResult,
  type RunMigrationsInput,
  type RunMigrationsResult,
} from '../shared/migrations';
import { MigrationProfiles } from './profiles';

const { planMigrationRun, planMigration, finishMigration } = proxyActivities<Activities>(MigrationProfiles.state);
const { backupCollection } = proxyActivities<Activities>(MigrationProfiles.copy);
const { restoreBackup } = proxyActivities<Activities>(MigrationProfiles.restore);
const { applyMigration, rollbackMigration } = proxyActivities<Activities>(MigrationProfiles.apply);
const { verifyMigration, rehearseMigration } = proxyActivities<Activities>(MigrationProfiles.verify);

const OperationKey = SearchAttributeKeys.Operation;

/** The innermost failure's message (ActivityFailure → ApplicationFailure → …). */
function rootMessage(err: unknown): string {
  let e: unknown = err;
  for (let d = 0; d < 5 && (e as { cause?: unknown })?.cause; d++) e = (e as { cause: unknown }).cause;
  return (e instanceof Error ? e.message : String(e)).slice(0, 1000);
}

/** Details an activity or child attached to its ApplicationFailure. */
function detailsOf<T>(err: unknown): T | undefined {
  for (let e: unknown = err, d = 0; e && d < 5; d++, e = (e as { cause?: unknown }).cause) {
    if (e instanceof ApplicationFailure && e.details?.[0] && typeof e.details[0] === 'object') return e.details[0] as T;
  }
  return undefined;
}

/**
 * migration:{name} — the workflow ID is the lock. Plan, back up every declared collection,
 * apply `up`, `verify`; when up or verify fails (or the run is cancelled), run `down` if
 * declared and restore every backup, verified by count and checksum. Ends failed when the
 * migration failed, so ALLOW_DUPLICATE_FAILED_ONLY lets it be run again and nothing else.
 */
export async function migrationWorkflow(input: MigrationInput): Promise<MigrationResult> {
  const { workflowId } = workflowInfo();
  const started = Date.now();
  let step: MigrationStep = 'plan';
  const result: MigrationResult = { name: input.name, outcome: 'pending', workflowId, durationMs: 0 };
  setHandler(migrationProgressQuery, () => ({ ...result, step }));

  const plan = await planMigration({ ...input, workflowId });
  if (plan.skip) return { ...result, outcome: 'skipped', reason: plan.skip, durationMs: Date.now() - started };

  if (input.dryRun) {
    step = 'dry-run';
    const report = await rehearseMigration({ name: input.name, scratchId: uuid4().replace(/-/g, '').slice(0, 10) });
    const ok = report.verify.ok && !report.error;
    return {
      ...result,
      outcome: ok ? 'dry-run' : 'failed',
      dryRun: report,
      changes: report.changes,
      verify: report.verify,
      ...(ok ? {} : { error: { step: 'dry-run' as const, message: report.error ?? report.verify.message } }),
      durationMs: Date.now() - started,
    };
  }

  const backups: BackupRef[] = [];
  const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
  try {
    step = 'backup';
    for (const c of plan.collections)
      backups.push(await backupCollection({ name: input.name, collection: c, backupId: `backup__${c}__${stamp}_${uuid4().slice(0, 6)}` }));
    step = 'apply';
    result.changes = (await applyMigration({ name: input.name })).changes;
    step = 'verify';
    result.verify = await verifyMigration({ name: input.name });
    if (!result.verify.ok)
      throw ApplicationFailure.create({
        type: 'MIGRATION_VERIFY_FAILED',
        message: `verify failed: ${result.verify.message}`,
        nonRetryable: true,
      });
  } catch (err) {
    result.outcome = 'failed';
    result.error = { step, message: rootMessage(err) };
    result.backups = backups;
    result.changes ??= detailsOf<{ changes?: string[] }>(err)?.changes ?? [];
    log.warn('migration failed', { migration: input.name, step, error: result.error.message });
    // Compensation runs even when the workflow was cancelled.
    await CancellationScope.nonCancellable(async () => {
      if (step !== 'backup') await rollBack(input.name, plan.hasDown, backups, result);
      result.durationMs = Date.now() - started;
      await finishMigration({ result, workflowId });
    });
    const undone =
      step === 'backup'
        ? 'nothing was changed'
        : result.restoreFailed
          ? `ROLLBACK FAILED: ${result.restoreFailed}`
          : `restored ${result.restored?.length ?? 0} collection(s)`;
    throw ApplicationFailure.create({
      type: 'MIGRATION_FAILED',
      message: `migration ${input.name} failed at ${step}: ${result.error.message} (${undone})`,
      nonRetryable: true,
      details: [result],
    });
  }
  result.outcome = 'completed';
  result.backups = backups;
  result.durationMs = Date.now() - started;
  await finishMigration({ result, workflowId });
  return result;
}

/** `down` (when declared), then every backup restored in reverse order; failures are recorded, not thrown. */
async function rollBack(name: string, hasDown: boolean, backups: readonly BackupRef[], result: MigrationResult): Promise<void> {
  if (hasDown) {
    try {
      result.rolledBack = (await rollbackMigration({ name })).ran;
    } catch (err) {
      result.rolledBack = false;
      if (backups.length === 0) result.restoreFailed = `down failed: ${rootMessage(err)}`;
      log.warn('down failed; restoring backups', { migration: name, error: rootMessage(err) });
    }
  }
  const restored: RestoreResult[] = [];
  for (const b of [...backups].reverse()) {
    try {
      restored.push(await restoreBackup({ name, backupId: b.backupId, restoreId: uuid4().slice(0, 8) }));
    } catch (err) {
      result.restoreFailed = `restore of ${b.backupId} failed: ${rootMessage(err)}`;
    }
  }
  result.restored = restored;
}

/**
 * migration-run:{db} — runs the selected migrations in name order, each as its own child
 * `migration:{name}` (abandoned, not terminated, if this run is: a migration always finishes its
 * own rollback). With stopOnError the first failure leaves the rest pending.
 */
export async function runMigrationsWorkflow(input: RunMigrationsInput): Promise<RunMigrationsResult> {
  const { workflowId } = workflowInfo();
  const out: RunMigrationsResult = { dryRun: !!input.dryRun, stopOnError: !!input.stopOnError, state: 'running', results: [] };
  setHandler(migrationRunProgressQuery, () => out);
  const plan = await planMigrationRun({ ...(input.names ? { names: input.names } : {}), force: !!input.force, dryRun: !!input.dryRun });
  out.results = plan.map((p): MigrationResult => ({
    name: p.name,
    outcome: p.action === 'skip' ? 'skipped' : 'pending',
    durationMs: 0,
    ...(p.reason ? { reason: p.reason } : {}),
  }));
  let stopped = false;
  for (const [i, p] of plan.entries()) {
    if (p.action === 'skip') continue;
    if (stopped) {
      out.results[i] = { ...out.results[i]!, reason: 'not run: an earlier migration failed (stopOnError)' };
      continue;
    }
    const childId = input.dryRun ? dryRunChildWorkflowId(p.name, uuid4().slice(0, 8)) : WorkflowIds.migration(p.name);
    out.results[i] = { name: p.name, outcome: 'pending', workflowId: childId, reason: 'running', durationMs: 0 };
    try {
      out.results[i] = await executeChild(migrationWorkflow, {
        workflowId: childId,
        args: [{ name: p.name, dryRun: !!input.dryRun, force: !!input.force, runWorkflowId: workflowId }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        // A completed migration:{name} is never started again unless forced; a failed one may be.
        workflowIdReusePolicy: input.force ? 'ALLOW_DUPLICATE' : 'ALLOW_DUPLICATE_FAILED_ONLY',
        typedSearchAttributes: [{ key: OperationKey, value: Operations.migration }],
        // The correlation ID reaches the child in a header (workflows/interceptors.ts); the memo shows it in the UI.
        memo: {
          what: `migration ${p.name}${input.dryRun ? ' (dry run)' : ''}`,
          startedBy: workflowId,
          requestedBy: input.requestedBy ?? 'unknown',
          ...(input.correlationId ? { correlationId: input.correlationId } : {}),
        },
      });
    } catch (err) {
      const message =
        err instanceof WorkflowExecutionAlreadyStartedError
          ? `${childId} is running (or already completed): not started again`
          : rootMessage(err);
      out.results[i] = detailsOf<MigrationResult>(err) ?? {
        name: p.name,
        outcome: 'failed',
        workflowId: childId,
        durationMs: 0,
        error: { step: 'plan', message },
      };
    }
    if (out.results[i]!.outcome === 'failed' && input.stopOnError) stopped = true;
  }
  out.state = out.results.some((r) => r.outcome === 'failed') ? 'failed' : 'completed';
  log.info('migration run finished', { state: out.state, results: out.results.map((r) => `${r.name}:${r.outcome}`).join(' ') });
  return out;
}
