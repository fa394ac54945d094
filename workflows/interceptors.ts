import {
  ContinueAsNew,
  TemporalFailure,
  defaultPayloadConverter,
  isCancellation,
  proxySinks,
  workflowInfo,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';
import type { Headers } from '@temporalio/common';
import { inheritedPriority } from '../shared/priorities';
import { CORRELATION_HEADER, type TelemetrySinks, type WorkflowOutcome } from '../shared/telemetry';

// Workflow interceptor module (bundled after workflows/trace-context.ts, see workers/telemetry.ts):
// carries the run's correlation ID to its activities and children in a header, puts it on every
// workflow log line (trace-context.ts adds the trace ID), and reports how the run closed through
// a sink (metrics are the worker's business; sinks are not called during replay, so each run
// counts once).
// It also gives every activity and child the run's fairness key and weight, and a child its own
// priority class (shared/priorities.ts), unless the start site set one.

const { workflowMetrics } = proxySinks<TelemetrySinks>();

function correlationFrom(headers: Headers, args: unknown[]): string | undefined {
  const h = headers[CORRELATION_HEADER];
  if (h) return defaultPayloadConverter.fromPayload<string>(h);
  const first = args[0] as { correlationId?: unknown } | undefined;
  if (typeof first?.correlationId === 'string') return first.correlationId;
  const memo = workflowInfo().memo?.correlationId;
  return typeof memo === 'string' ? memo : undefined;
}

function outcomeOf(err: unknown): WorkflowOutcome | undefined {
  if (err instanceof ContinueAsNew) return 'continued_as_new';
  if (isCancellation(err)) return 'cancelled';
  // Anything else fails the workflow task (retried), not the run: not a close.
  return err instanceof TemporalFailure ? 'failed' : undefined;
}

export const interceptors: WorkflowInterceptorsFactory = () => {
  let correlationId: string | undefined;
  const withCorrelation = <T extends { headers: Headers }>(input: T): T =>
    correlationId === undefined
      ? input
      : { ...input, headers: { ...input.headers, [CORRELATION_HEADER]: defaultPayloadConverter.toPayload(correlationId) } };
  return {
    inbound: [
      {
        async execute(input, next) {
          correlationId = correlationFrom(input.headers, input.args);
          try {
            const result = await next(input);
            workflowMetrics.closed('completed');
            return result;
          } catch (err) {
            const outcome = outcomeOf(err);
            if (outcome) workflowMetrics.closed(outcome);
            throw err;
          }
        },
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) =>
          next(withCorrelation({ ...input, options: { priority: inheritedPriority(workflowInfo().priority), ...input.options } })),
        scheduleLocalActivity: (input, next) => next(withCorrelation(input)),
        startChildWorkflowExecution: (input, next) =>
          next(
            withCorrelation({
              ...input,
              options: { priority: inheritedPriority(workflowInfo().priority, input.workflowType), ...input.options },
            }),
          ),
        continueAsNew: (input, next) => next(withCorrelation(input)),
        getLogAttributes: (input, next) => next(correlationId === undefined ? input : { ...input, correlationId }),
      },
    ],
  };
};
