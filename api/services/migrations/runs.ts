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
import { ConflictError, DependencyUnavailableError, NotFoundError, ValidationError } from '../../errors';
import { encodeCursor, type Page, type PageRequest } from '../../../shared/paging';

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

/** A row of GET /api/migrations/runs: one batch run (real or dry) as Temporal visibility has it. */
export interface MigrationRunRow {
  workflowId: string;
  runId: string;
  status: string;
  dryRun: boolean;
  requestedBy: string;
  names: string[] | 'all';
  startedAt: string | null;
  closedAt: string | null;
}

/** Visibility's status codes by number (the SDK's WorkflowExecutionStatusName). */
const STATUS_NAMES = [
  'UNSPECIFIED',
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TERMINATED',
  'CONTINUED_AS_NEW',
  'TIMED_OUT',
  'PAUSED',
];

const tsIso = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): string | null =>
  t?.seconds === undefined || t.seconds === null
    ? null
    : new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();

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
  async function get(
    workflowId: string,
  ): Promise<{ workflowId: string; status: string; requestedBy: string; result?: RunMigrationsResult }> {
    const handle = wf.getHandle<RunMigrationsWorkflow>(workflowId);
    let status: string;
    let requestedBy = 'unknown';
    try {
      const d = await call('describe migration run', () => handle.describe());
      status = d.status.name;
      if (typeof d.memo?.requestedBy === 'string') requestedBy = d.memo.requestedBy;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new NotFoundError('Migration run', workflowId);
      throw err;
    }
    let result: RunMigrationsResult | undefined;
    if (status === 'COMPLETED') result = await call('migration run result', () => handle.result());
    else if (status === 'RUNNING') {
      result = await call('migration run progress', () => handle.query(migrationRunProgressQuery)).catch(() => undefined);
    }
    return { workflowId, status, requestedBy, ...(result ? { result } : {}) };
  }

  /**
   * Batch runs of this queue, newest first, from Temporal visibility (the migration store keeps
   * one state per migration, not per run). The cursor wraps visibility's page token; one extra
   * probe of a single row makes `hasNext` exact.
   */
  async function list(req: PageRequest): Promise<Page<MigrationRunRow>> {
    const svc = o.temporal.client.workflowService;
    const namespace = o.temporal.client.options.namespace;
    const query = `WorkflowType = '${MigrationNames.runWorkflow}' AND TaskQueue = '${o.taskQueue}'`;
    const token = typeof req.after === 'string' ? Buffer.from(req.after, 'base64') : undefined;
    const fromPayload = wf.options.loadedDataConverter.payloadConverter;
    const page = await call('list migration runs', () =>
      svc.listWorkflowExecutions({ namespace, query, pageSize: req.limit, ...(token ? { nextPageToken: token } : {}) }),
    ).catch((err: unknown) => {
      // A well-formed cursor around a token visibility does not accept (3 = INVALID_ARGUMENT): the caller's fault.
      if (token && (err as { code?: number }).code === 3)
        throw new ValidationError('cursor: not a cursor from a previous page of this list');
      throw err;
    });
    const next = page.nextPageToken?.length ? page.nextPageToken : undefined;
    const more = next
      ? (await call('probe migration runs', () => svc.listWorkflowExecutions({ namespace, query, pageSize: 1, nextPageToken: next })))
          .executions.length > 0
      : false;
    const items = page.executions.map((e): MigrationRunRow => {
      const memo = (k: string): unknown => {
        const p = e.memo?.fields?.[k];
        return p ? fromPayload.fromPayload(p) : undefined;
      };
      const who = memo('requestedBy');
      const names = memo('names');
      const workflowId = e.execution?.workflowId ?? '';
      return {
        workflowId,
        runId: e.execution?.runId ?? '',
        status: STATUS_NAMES[Number(e.status ?? 0)] ?? 'UNKNOWN',
        dryRun: workflowId.startsWith('migration-dry-run:'),
        requestedBy: typeof who === 'string' ? who : 'unknown',
        names: Array.isArray(names) ? names.map(String) : 'all',
        startedAt: tsIso(e.startTime),
        closedAt: tsIso(e.closeTime),
      };
    });
    return {
      items,
      page: {
        limit: req.limit,
        nextCursor: more && next ? encodeCursor(Buffer.from(next).toString('base64')) : null,
        hasNext: more,
        hasPrev: req.after !== undefined,
      },
    };
  }

  return { start, get, running, list };
}

export type MigrationRuns = ReturnType<typeof createMigrationRuns>;
