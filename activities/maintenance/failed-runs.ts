import { baseQueueOf, workflowQueuesOf } from '../../shared/lanes';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { defaultPayloadConverter, encodeWorkflowIdConflictPolicy, encodeWorkflowIdReusePolicy } from '@temporalio/common';
import { mapBounded } from '../../shared/bounded';
import { SearchAttributes } from '../../shared/constants';
import { ValidationError } from '../../shared/errors';
import { ReconcileNames } from '../../shared/reconcile';

// The dead-letter view of Temporal: failed workflow runs found by a visibility query, and their
// bulk retry — reset to the first workflow task (same run history, new run) or restart with the
// original input. Only a workflow whose newest run is still failed is listed or acted on.

/** Visibility names of the closed states that count as failed. */
export const FAILED_STATUSES = ['Failed', 'TimedOut', 'Terminated'] as const;
export type FailedStatus = (typeof FAILED_STATUSES)[number];

/** The SDK's status names for the same states. */
const STATUS_NAMES: Record<string, FailedStatus> = { FAILED: 'Failed', TIMED_OUT: 'TimedOut', TERMINATED: 'Terminated' };

/**
 * Types whose ID reuse policy forbids a second run of an ID: restart refuses them, reset (which
 * continues the same execution chain) does not.
 */
const RESTART_FORBIDDEN: ReadonlyMap<string, string> = new Map([
  [ReconcileNames.workflow, 'a reconcile batch runs once (ID reuse policy REJECT_DUPLICATE)'],
]);

export interface FailedRunsFilter {
  /** Workflow type, e.g. `tenantSyncWorkflow`. @default every type */
  type?: string;
  /** The TenantId search attribute. @default every tenant */
  tenantId?: string;
  /** Only runs of this task queue. @default every queue */
  taskQueue?: string;
  /** Only runs that closed after this instant. @default no bound */
  since?: Date;
  /** @default all of FAILED_STATUSES */
  statuses?: readonly FailedStatus[];
  /** At most this many workflows, newest first. @default 100 */
  limit?: number;
}

export interface FailedRun {
  workflowId: string;
  runId: string;
  type: string;
  taskQueue: string;
  status: FailedStatus;
  tenantId?: string;
  operation?: string;
  startTime: string;
  closeTime?: string;
}

/** Thrown when a filter value cannot be put into a visibility query. */
export class FailedRunsQueryError extends ValidationError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A visibility string literal. The server's SQLite visibility matches no value holding `"` or `\`, so those are refused. */
function literal(field: string, value: string): string {
  if (!value) throw new FailedRunsQueryError(field, 'must not be empty');
  if (/["\\\p{Cc}]/u.test(value)) throw new FailedRunsQueryError(field, `'${value}' holds a quote, backslash or control character`);
  return `'${value.replace(/'/g, "\\'")}'`;
}

/** The visibility query for a filter (what an operator can also paste into the UI's filter). */
export function failedRunsQuery(f: FailedRunsFilter = {}): string {
  const statuses = f.statuses?.length ? f.statuses : FAILED_STATUSES;
  for (const s of statuses)
    if (!FAILED_STATUSES.includes(s))
      throw new FailedRunsQueryError('statuses', `'${String(s)}' is not one of ${FAILED_STATUSES.join(', ')}`);
  const parts = [`ExecutionStatus IN (${statuses.map((s) => `'${s}'`).join(',')})`];
  if (f.type !== undefined) parts.push(`WorkflowType = ${literal('type', f.type)}`);
  if (f.tenantId !== undefined) parts.push(`${SearchAttributes.TenantId} = ${literal('tenantId', f.tenantId)}`);
  // A deployment's queue stands for its lanes too (interactive runs live on their own queue).
  if (f.taskQueue !== undefined) {
    const queues = baseQueueOf(f.taskQueue) === f.taskQueue ? workflowQueuesOf(f.taskQueue) : [f.taskQueue];
    parts.push(`(${queues.map((q) => `TaskQueue = ${literal('taskQueue', q)}`).join(' OR ')})`);
  }
  if (f.since !== undefined) {
    if (Number.isNaN(f.since.getTime())) throw new FailedRunsQueryError('since', 'is not a valid date');
    parts.push(`CloseTime > '${f.since.toISOString()}'`);
  }
  return parts.join(' AND ');
}

const keyword = (v: unknown): string | undefined => (Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined);

function failedRunOf(w: Omit<WorkflowExecutionInfo, 'raw'>, status: FailedStatus): FailedRun {
  const tenantId = keyword(w.searchAttributes[SearchAttributes.TenantId]);
  const operation = keyword(w.searchAttributes[SearchAttributes.Operation]);
  return {
    workflowId: w.workflowId,
    runId: w.runId,
    type: w.type,
    taskQueue: w.taskQueue,
    status,
    ...(tenantId ? { tenantId } : {}),
    ...(operation ? { operation } : {}),
    startTime: w.startTime.toISOString(),
    ...(w.closeTime ? { closeTime: w.closeTime.toISOString() } : {}),
  };
}

/** Is this still the workflow's newest run, and still failed (else a newer run superseded it)? */
async function stillFailed(client: Client, run: FailedRun): Promise<boolean> {
  const d = await client.workflow.getHandle(run.workflowId).describe();
  return d.runId === run.runId && d.status.name in STATUS_NAMES;
}

/** Workflows whose newest run failed, timed out or was terminated (in `statuses`), newest first. */
export async function listFailedRuns(o: FailedRunsFilter & { client: Client }): Promise<FailedRun[]> {
  const limit = o.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1) throw new FailedRunsQueryError('limit', 'must be a whole number ≥ 1');
  const query = failedRunsQuery(o);
  const wanted = new Set<string>(o.statuses?.length ? o.statuses : FAILED_STATUSES);
  const seen = new Set<string>();
  const out: FailedRun[] = [];
  let batch: string[] = [];
  // Visibility lists runs; what counts is each workflow's newest run, so every workflow found is
  // described (in small batches, so a long list stops at `limit`) and kept if that run failed.
  const confirm = async () => {
    const newest = await mapBounded(batch, 8, (id) => o.client.workflow.getHandle(id).describe());
    for (const d of newest) {
      const status = STATUS_NAMES[d.status.name];
      if (status && wanted.has(status)) out.push(failedRunOf(d, status));
    }
    batch = [];
  };
  for await (const w of o.client.workflow.list({ query })) {
    if (seen.has(w.workflowId)) continue; // another run of a workflow already found
    seen.add(w.workflowId);
    batch.push(w.workflowId);
    if (batch.length >= 25) await confirm();
    if (out.length >= limit) break;
  }
  if (batch.length > 0 && out.length < limit) await confirm();
  return out.slice(0, limit);
}

export type RetryMode = 'reset' | 'restart';

export interface RetryOptions extends FailedRunsFilter {
  client: Client;
  /** `reset`: a new run replaying the history up to the first workflow task; `restart`: a fresh run with the original input. */
  mode: RetryMode;
  /** Count and list only. */
  dryRun: boolean;
  /** Runs acted on at once. @default 4 */
  concurrency?: number;
  /** Recorded in the reset event / the new run's memo. @default 'bulk retry of failed runs' */
  reason?: string;
  /** Called once the runs to act on are known, then after each (progress bars). */
  onListed?: (runs: readonly FailedRun[]) => void;
  onResult?: (r: RetryResult) => void;
}

export type RetryResult = { run: FailedRun; ok: true; newRunId: string } | { run: FailedRun; ok: false; error: string };

export interface RetrySummary {
  dryRun: boolean;
  mode: RetryMode;
  /** Failed workflows matched by the filter. */
  count: number;
  runs: FailedRun[];
  /** One per run acted on (empty on a dry run). */
  results: RetryResult[];
  succeeded: number;
  failed: number;
}

async function* historyEvents(client: Client, run: FailedRun) {
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId: run.workflowId, runId: run.runId },
      maximumPageSize: 100,
      nextPageToken,
    });
    yield* page.history?.events ?? [];
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
}

async function reset(client: Client, run: FailedRun, reason: string): Promise<string> {
  let completed;
  for await (const e of historyEvents(client, run)) {
    if (e.workflowTaskCompletedEventAttributes) {
      completed = e;
      break;
    }
  }
  if (!completed?.eventId) throw new Error('no workflow task ever completed (no worker picked it up?): nothing to reset to — use restart');
  const res = await client.workflowService.resetWorkflowExecution({
    namespace: client.options.namespace,
    workflowExecution: { workflowId: run.workflowId, runId: run.runId },
    workflowTaskFinishEventId: completed.eventId,
    reason,
    // Stable per failed run: repeating the command cannot reset the same run twice.
    requestId: `reset-${run.runId}`,
  });
  return res.runId ?? '';
}

async function restart(client: Client, run: FailedRun, reason: string): Promise<string> {
  const forbidden = RESTART_FORBIDDEN.get(run.type);
  if (forbidden) throw new Error(`restart refused: ${forbidden} — use reset`);
  const first = (await historyEvents(client, run).next()).value;
  const a = first?.workflowExecutionStartedEventAttributes;
  if (!a) throw new Error('the first history event is not WorkflowExecutionStarted');
  const memo = {
    ...(a.memo?.fields ?? {}),
    retriedFrom: defaultPayloadConverter.toPayload(run.runId),
    retryReason: defaultPayloadConverter.toPayload(reason),
  };
  const res = await client.workflowService.startWorkflowExecution({
    namespace: client.options.namespace,
    workflowId: run.workflowId,
    workflowType: a.workflowType,
    taskQueue: a.taskQueue,
    input: a.input,
    header: a.header,
    workflowExecutionTimeout: a.workflowExecutionTimeout,
    workflowRunTimeout: a.workflowRunTimeout,
    workflowTaskTimeout: a.workflowTaskTimeout,
    retryPolicy: a.retryPolicy,
    searchAttributes: a.searchAttributes,
    memo: { fields: memo },
    identity: client.options.identity,
    requestId: `restart-${run.runId}`,
    // The server re-checks what we checked: only after a failed last run, never beside a running one.
    workflowIdReusePolicy: encodeWorkflowIdReusePolicy('ALLOW_DUPLICATE_FAILED_ONLY'),
    workflowIdConflictPolicy: encodeWorkflowIdConflictPolicy('FAIL'),
  });
  return res.runId ?? '';
}

/** Lists the failed runs of the filter and, unless `dryRun`, resets or restarts each (bounded concurrency). */
export async function retryFailedRuns(o: RetryOptions): Promise<RetrySummary> {
  if (o.mode !== 'reset' && o.mode !== 'restart') throw new FailedRunsQueryError('mode', `'${String(o.mode)}' is not reset or restart`);
  const runs = await listFailedRuns(o);
  const summary: RetrySummary = { dryRun: o.dryRun, mode: o.mode, count: runs.length, runs, results: [], succeeded: 0, failed: 0 };
  if (o.dryRun) return summary;
  o.onListed?.(runs);
  const reason = o.reason ?? 'bulk retry of failed runs';
  summary.results = await mapBounded(runs, o.concurrency ?? 4, async (run): Promise<RetryResult> => {
    let r: RetryResult;
    try {
      // Listed a moment ago; someone may have retried it since.
      if (!(await stillFailed(o.client, run))) throw new Error('no longer failed (a newer run exists): left alone');
      const newRunId = o.mode === 'reset' ? await reset(o.client, run, reason) : await restart(o.client, run, reason);
      r = { run, ok: true, newRunId };
    } catch (err) {
      r = { run, ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    o.onResult?.(r);
    return r;
  });
  summary.succeeded = summary.results.filter((r) => r.ok).length;
  summary.failed = summary.results.length - summary.succeeded;
  return summary;
}
