import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  continueAsNew,
  executeChild,
  isCancellation,
  log,
  proxyLocalActivities,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { Activities } from '../activities';
import {
  allStepsRan,
  emptyCounts,
  MAX_RESULT_ERRORS,
  statusOf,
  type ClientStep,
  type ClientStepInput,
  type ClientUpsertError,
  type ClientUpsertInput,
  type ClientUpsertResult,
  type StepOutcome,
  type UpsertAllInput,
  type UpsertAllResult,
} from '../shared/client-upsert';
import { Operations, WorkflowIds, SearchAttributeKeys } from '../shared/constants';
import { isRetryableErrorType, isSyncErrorType, SyncErrorType } from '../shared/errors';
import { mapBounded } from '../shared/bounded';
import { LocalActivityProfiles } from './profiles';

const steps = proxyLocalActivities<Activities>(LocalActivityProfiles.clientStep);
const { planClientUpserts, recordClientUpsert } = steps;

const OperationKey = SearchAttributeKeys.Operation;
const DEFAULT_CONCURRENCY = 8;
/** Children per run before continue-as-new: keeps the parent's history far from its limits. */
const MAX_CHILDREN_PER_RUN = 500;
/** Per-client outcomes kept in the summary (counts are always complete). */
const MAX_SUMMARY_CLIENTS = 1_000;

function errorOf(err: unknown, clientKey: string, operation: ClientUpsertError['operation']): ClientUpsertError {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++, e = (e as { cause?: unknown }).cause) {
    if (e instanceof ApplicationFailure) {
      const d = e.details?.[0] as ClientUpsertError | undefined;
      if (d && typeof d === 'object' && 'errorType' in d) return { ...d, operation };
      const errorType = isSyncErrorType(e.type) ? e.type : SyncErrorType.UNKNOWN_ERROR;
      return { clientKey, operation, errorType, retryable: isRetryableErrorType(errorType), message: e.message };
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return { clientKey, operation, errorType: SyncErrorType.UNKNOWN_ERROR, retryable: true, message };
}

/**
 * client-upsert:{clientKey} — the steps in the seed's order. A failed step is recorded and the
 * later ones still run (graceful degradation); a failed route step is compensated first, so the
 * client keeps its previous routes rather than a mix (saga). Only a failed client document stops
 * the rest: everything else hangs off it.
 */
export async function clientUpsertWorkflow(input: ClientUpsertInput): Promise<ClientUpsertResult> {
  const info = workflowInfo();
  const started = Date.now();
  const ref: ClientStepInput = { clientKey: input.clientKey, configHash: input.configHash, runId: info.runId };
  const pending = () => ({ status: 'pending' as const, counts: emptyCounts(), durationMs: 0 });
  const result: ClientUpsertResult = {
    clientKey: input.clientKey,
    workflowId: info.workflowId,
    runId: info.runId,
    correlationId: input.correlationId,
    configHash: input.configHash,
    status: 'running',
    operation: 'none',
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    steps: { client: pending(), routes: pending(), menus: pending(), components: pending(), users: pending() },
    errors: [],
    errorsTruncated: 0,
  };
  const addErrors = (errors: readonly ClientUpsertError[]) => {
    for (const e of errors)
      if (result.errors.length < MAX_RESULT_ERRORS) result.errors.push(e);
      else result.errorsTruncated += 1;
  };

  // Saga: a step that can leave data half-written pushes its compensation before it runs; a
  // step that completes pops it; a failure unwinds the stack (in reverse), even under cancellation.
  const compensations: Array<{ step: ClientStep; undo: () => Promise<unknown> }> = [];
  const unwind = async () => {
    while (compensations.length > 0) {
      const c = compensations.pop()!;
      try {
        await CancellationScope.nonCancellable(c.undo);
        result.steps[c.step].status = 'compensated';
      } catch (err) {
        addErrors([errorOf(err, input.clientKey, 'compensation')]);
      }
    }
  };
  const run = async (
    name: ClientStep,
    act: (i: ClientStepInput) => Promise<StepOutcome>,
    undo?: (i: ClientStepInput) => Promise<unknown>,
  ): Promise<StepOutcome | undefined> => {
    const t0 = Date.now();
    const hash = input.sections?.[name];
    // Incremental per step: a section applied cleanly before, with the same hash, is left alone.
    if (hash && input.applied?.[name] === hash) {
      const counts = { ...emptyCounts(), unchanged: input.items?.[name] ?? 0 };
      result.steps[name] = { status: 'unchanged', counts, durationMs: 0, hash };
      return { counts, errors: [], operation: 'unchanged', durationMs: 0 };
    }
    if (undo) compensations.push({ step: name, undo: () => undo(ref) });
    try {
      const out = await act(ref);
      if (undo) compensations.pop();
      result.steps[name] = { status: 'ok', counts: out.counts, durationMs: out.durationMs, ...(hash ? { hash } : {}) };
      addErrors(out.errors);
      return out;
    } catch (err) {
      result.steps[name] = { status: 'failed', counts: emptyCounts(), durationMs: Date.now() - t0 };
      addErrors([errorOf(err, input.clientKey, name)]);
      await unwind();
      if (isCancellation(err)) throw err;
      return undefined;
    }
  };

  try {
    const client = await run('client', steps.upsertClientDocument);
    if (!client) {
      for (const s of ['routes', 'menus', 'components', 'users'] as const) result.steps[s].status = 'skipped';
    } else {
      result.operation = client.operation === 'create' ? 'create' : 'update';
      await run('routes', steps.syncClientRoutes, steps.restoreClientRoutes);
      await run('menus', steps.syncClientMenus);
      await run('components', steps.installClientComponents);
      await run('users', steps.createClientUsers);
    }
  } finally {
    result.status = CancellationScope.current().consideredCancelled ? 'failed' : statusOf(result.steps, result.errors);
    result.finishedAt = new Date().toISOString();
    result.durationMs = Date.now() - started;
    // Recorded even when cancelled, so the API shows what happened.
    await CancellationScope.nonCancellable(() =>
      recordClientUpsert({ result, applied: result.status !== 'failed' && allStepsRan(result.steps) }),
    );
  }
  log.info('client upsert finished', { clientKey: input.clientKey, status: result.status, durationMs: result.durationMs });
  return result;
}

const emptySummary = (correlationId: string): UpsertAllResult => ({
  correlationId,
  total: 0,
  upserted: 0,
  unchanged: 0,
  invalid: 0,
  failed: 0,
  partial: 0,
  deduplicated: 0,
  notFound: [],
  durationMs: 0,
  planMs: 0,
  clients: [],
});

/**
 * client-upsert-all (or client-upsert-batch:{hash}) — plans with one hash compare per client,
 * then upserts the changed clients as child workflows with bounded concurrency. A client whose
 * upsert is already running elsewhere is not started twice (its workflow ID is taken).
 */
export async function upsertAllClientsWorkflow(input: UpsertAllInput): Promise<UpsertAllResult> {
  const started = Date.now();
  const summary = input.carry ?? emptySummary(input.correlationId);
  const note = (clientKey: string, outcome: UpsertAllResult['clients'][number]['outcome'], durationMs?: number) => {
    if (summary.clients.length < MAX_SUMMARY_CLIENTS)
      summary.clients.push(durationMs === undefined ? { clientKey, outcome } : { clientKey, outcome, durationMs });
  };
  const plan = await planClientUpserts({ keys: input.keys, force: input.force, correlationId: input.correlationId });
  summary.total += plan.toUpsert.length + plan.unchanged.length + plan.invalid.length;
  summary.unchanged += plan.unchanged.length;
  summary.invalid += plan.invalid.length;
  summary.notFound.push(...plan.notFound);
  summary.planMs += plan.durationMs;
  for (const c of plan.invalid) note(c.clientKey, 'invalid');

  const now = plan.toUpsert.slice(0, MAX_CHILDREN_PER_RUN);
  const later = plan.toUpsert.slice(MAX_CHILDREN_PER_RUN);
  summary.total -= later.length;
  await mapBounded(now, Math.max(1, Math.min(input.concurrency ?? DEFAULT_CONCURRENCY, 64)), async (c) => {
    try {
      const r = await executeChild(clientUpsertWorkflow, {
        workflowId: WorkflowIds.clientUpsert(c.clientKey),
        args: [
          {
            clientKey: c.clientKey,
            configHash: c.configHash,
            correlationId: input.correlationId,
            sections: c.sections,
            items: c.items,
            applied: c.applied,
          },
        ],
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        // Cancelling the parent cancels the children, which compensate before they stop.
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        typedSearchAttributes: [{ key: OperationKey, value: Operations.clientUpsert }],
        memo: { what: `client upsert of ${c.clientKey}`, startedBy: workflowInfo().workflowId, correlationId: input.correlationId },
      });
      if (r.status === 'completed') summary.upserted += 1;
      else if (r.status === 'partial') summary.partial += 1;
      else summary.failed += 1;
      note(c.clientKey, r.status, r.durationMs);
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        summary.deduplicated += 1;
        note(c.clientKey, 'deduplicated');
        return;
      }
      if (isCancellation(err)) throw err;
      summary.failed += 1;
      note(c.clientKey, 'failed');
      log.warn('client upsert workflow failed', { clientKey: c.clientKey, err: err instanceof Error ? err.message : String(err) });
    }
  });
  summary.durationMs += Date.now() - started;
  if (later.length > 0)
    return continueAsNew<typeof upsertAllClientsWorkflow>({ ...input, keys: later.map((c) => c.clientKey), carry: summary });
  log.info('client upsert of all finished', {
    total: summary.total,
    upserted: summary.upserted,
    unchanged: summary.unchanged,
    invalid: summary.invalid,
    failed: summary.failed,
    partial: summary.partial,
    durationMs: summary.durationMs,
  });
  return summary;
}
