import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { TemporalHandle } from '../../../infra/temporal';
import { CallDeadlines, withTimeout } from '../../../infra/timeout';
import { workflowStateProbe, type QuotaService } from '../quotas/quotas';
import { Operations, WorkflowIds, SearchAttributeKeys } from '../../../shared/constants';
import {
  MigrationNames,
  migrationDryRunWorkflowId,
  migrationRunProgressQuery,
  migrationRunWorkflowId,
  type RunMigrationsInput,
  type RunMigrationsResult,
  type RunMigrationsWorkflow,
} from '../../../shared/migrations';
import { ConflictError, DependencyUnavailableError, NotFoundError } from '../../errors';

// Starting and reading batch migration runs. Locks are workflow IDs: `migration-run:{db}` for a
// batch (conflict policy FAIL → 409 while one runs) and `migration:{name}` for each migration.

const OperationKey = SearchAttributeKeys.Operation;

export interface MigrationRunsOptions {
  temporal: TemporalHandle;
  taskQueue: string;
  database: string;
  /** The global cap on runs at once (api/services/quotas); absent: unlimited. */
  quotas?: Pick<QuotaService, 'admitMigrations'>;
}

export function createMigrationRuns(o: MigrationRunsOptions) {
  const wf = o.temporal.client.workflow;
  const quotaProbe = workflowStateProbe(o.temporal);
  const call = <T>(what: string, fn: () => Promise<T>) =>
    withTimeout(what, CallDeadlines.temporalMs, (signal) => o.temporal.connection.withAbortSignal(signal, fn));

  /** Is `migration:{name}` running right now (started by another run, or left running by a terminated one)? */
  async function running(names: readonly string[]): Promise<string[]> {
    const found = await Promise.all(
      names.map(async (name) => {
        try {
          const d = await call('describe migration', () => wf.getHandle(WorkflowIds.migration(name)).describe());
          return d.status.name === 'RUNNING' ? name : undefined;
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) return undefined;
          throw err;
        }
      }),
    );
    return found.filter((n): n is string => !!n);
  }

  /** `delayMs`: a delayed start (Temporal startDelay); the run exists at once and begins after it. */
  async function start(input: RunMigrationsInput, toRun: readonly string[], delayMs?: number) {
    const workflowId = input.dryRun ? migrationDryRunWorkflowId(o.database, randomUUID().slice(0, 8)) : migrationRunWorkflowId(o.database);
    if (!input.dryRun) {
      const busy = await running(toRun);
      if (busy.length > 0)
        throw new ConflictError(`migration ${busy.join(', ')} is already running`, { running: busy.map((n) => WorkflowIds.migration(n)) });
    }
    // The global cap before anything starts; the slot is given back when the start fails.
    const slot = await o.quotas?.admitMigrations(workflowId, quotaProbe);
    try {
      const handle = await call('start migration run', () =>
        wf.start<RunMigrationsWorkflow>(MigrationNames.runWorkflow, {
          taskQueue: o.taskQueue,
          workflowId,
          args: [input],
          // One batch at a time per database: a second start while one runs is refused (409);
          // a finished batch's ID may be used again (each migration guards itself).
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          ...(delayMs !== undefined ? { startDelay: delayMs } : {}),
          typedSearchAttributes: [{ key: OperationKey, value: Operations.migrationRun }],
          memo: {
            what: `migration run${input.dryRun ? ' (dry run)' : ''} on ${o.database}`,
            requestedBy: input.requestedBy ?? 'unknown',
            names: input.names ?? 'all',
            ...(input.correlationId ? { correlationId: input.correlationId } : {}),
          },
        }),
      );
      return {
        workflowId,
        runId: handle.firstExecutionRunId,
        ...(delayMs !== undefined ? { notBefore: new Date(Date.now() + delayMs).toISOString() } : {}),
      };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) await slot?.release();
      if (err instanceof WorkflowExecutionAlreadyStartedError)
        throw new ConflictError(`a migration run is already in progress (${workflowId})`, { workflowId });
      throw new DependencyUnavailableError(
        'temporal',
        `Temporal did not accept the migration run: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  /** A batch run's Temporal status and its results so far (query while running, result when done). */
  async function get(workflowId: string): Promise<{ workflowId: string; status: string; result?: RunMigrationsResult }> {
    const handle = wf.getHandle<RunMigrationsWorkflow>(workflowId);
    let status: string;
    try {
      status = (await call('describe migration run', () => handle.describe())).status.name;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new NotFoundError('Migration run', workflowId);
      throw err;
    }
    let result: RunMigrationsResult | undefined;
    if (status === 'COMPLETED') result = await call('migration run result', () => handle.result());
    else if (status === 'RUNNING') {
      result = await call('migration run progress', () => handle.query(migrationRunProgressQuery)).catch(() => undefined);
    }
    return { workflowId, status, ...(result ? { result } : {}) };
  }

  return { start, get, running };
}

export type MigrationRuns = ReturnType<typeof createMigrationRuns>;
