import { laneQueue } from '../../../shared/lanes';
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import type { TemporalHandle } from '../../../infra/temporal';
import { CallDeadlines, DeadlineExceededError, withTimeout } from '../../../infra/timeout';
import { Operations, SearchAttributeKeys, WorkflowIds } from '../../../shared/constants';
import { redactConnectionDetails } from '../../../shared/redact';
import { StackProbeNames, type ProbeResult, type StackProbeWorkflow } from '../../../shared/stack-probe';
import { DependencyUnavailableError } from '../../errors';

// The stack probe (`health --deep`, POST /api/probe): one workflow on the API's task queue whose
// activity writes to MongoDB and Redis, so a 200 proves Temporal, a polling worker and the
// worker's own connections work together. Bounded end to end: a probe nobody picks up answers
// 503 at the deadline, and its workflow times out on the server at the same moment.

/** Default bound on one probe, start to result. */
export const STACK_PROBE_TIMEOUT_MS = 20_000;

export interface StackProbeOptions {
  temporal: TemporalHandle;
  taskQueue: string;
  /** Bound on the whole probe. @default STACK_PROBE_TIMEOUT_MS */
  timeoutMs?: number;
  /** Who asked (kept in the memo). */
  startedBy: string;
  correlationId?: string;
}

export interface StackProbeAnswer {
  ok: true;
  latencyMs: number;
  workflowId: string;
  /** What the probe's activity wrote. */
  result: ProbeResult;
}

const messageOf = (err: unknown): string => {
  // A failed workflow's own message is generic; its cause (the activity's failure) says what broke.
  const root = err instanceof WorkflowFailedError && err.cause ? err.cause : err;
  const text = root instanceof Error ? root.message : String(root);
  return redactConnectionDetails(text).slice(0, 300);
};

/** Starts the probe and waits for it; throws DependencyUnavailableError (503) when it cannot finish in time. */
export async function runStackProbe(o: StackProbeOptions): Promise<StackProbeAnswer> {
  const timeoutMs = o.timeoutMs ?? STACK_PROBE_TIMEOUT_MS;
  const probeId = randomUUID();
  const workflowId = WorkflowIds.stackProbe(probeId);
  const t0 = performance.now();
  const wf = o.temporal.client.workflow;
  let handle;
  try {
    handle = await withTimeout('start stack probe', Math.min(timeoutMs, CallDeadlines.temporalMs), (signal) =>
      o.temporal.connection.withAbortSignal(signal, () =>
        wf.start<StackProbeWorkflow>(StackProbeNames.workflow, {
          taskQueue: o.taskQueue,
          workflowId,
          args: [probeId],
          // The server ends a probe no worker picked up at the deadline: nothing lingers.
          workflowExecutionTimeout: timeoutMs,
          typedSearchAttributes: [{ key: SearchAttributeKeys.Operation, value: Operations.stackProbe }],
          memo: {
            what: 'stack probe (health --deep)',
            startedBy: o.startedBy,
            ...(o.correlationId ? { correlationId: o.correlationId } : {}),
          },
        }),
      ),
    );
  } catch (err) {
    throw new DependencyUnavailableError('temporal', `Temporal did not accept the stack probe: ${messageOf(err)}`);
  }
  const left = Math.max(1, timeoutMs - (performance.now() - t0));
  let result: ProbeResult;
  try {
    result = await withTimeout('stack probe', left, (signal) => o.temporal.connection.withAbortSignal(signal, () => handle.result()));
  } catch (err) {
    if (err instanceof DeadlineExceededError)
      throw new DependencyUnavailableError(
        'worker',
        `The stack probe did not finish within ${timeoutMs} ms: is a worker polling task queue '${o.taskQueue}' (with TEMPORAL_LANES, its interactive lane '${laneQueue(o.taskQueue, 'interactive')}')?`,
      );
    throw new DependencyUnavailableError('worker', `The stack probe failed: ${messageOf(err)}`);
  }
  return { ok: true, latencyMs: Math.round(performance.now() - t0), workflowId, result };
}
