import { defaultPayloadConverter, type Payload, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import type { Headers } from '@temporalio/common';

// Workflow interceptor module in place of @temporalio/interceptors-opentelemetry's: no tracer and
// no spans in the sandbox. It hands the trace context the client put in the run's start headers
// (the client's start or update-with-start span, as a W3C traceparent) unchanged to every
// activity, local activity, child workflow, signal and continue-as-new the run makes, so the
// activity spans made on the worker (workers/telemetry.ts) are children of the client's span.
// Workflow log lines get the trace ID.

/** Header holding the trace context: the OpenTelemetry package's TRACE_HEADER (workers/telemetry.ts checks they match). */
export const TRACE_CONTEXT_HEADER = '_tracer-data';

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The trace ID in a trace-context header (a JSON carrier `{ traceparent, tracestate? }`), if it holds a valid one. */
export function traceIdOf(header: Payload | undefined): string | undefined {
  if (header === undefined) return undefined;
  let carrier: unknown;
  try {
    carrier = defaultPayloadConverter.fromPayload(header);
  } catch {
    return undefined;
  }
  const traceparent = (carrier as { traceparent?: unknown } | null)?.traceparent;
  const traceId = typeof traceparent === 'string' ? TRACEPARENT.exec(traceparent)?.[1] : undefined;
  return traceId === undefined || /^0+$/.test(traceId) ? undefined : traceId;
}

export const interceptors: WorkflowInterceptorsFactory = () => {
  let context: Payload | undefined;
  let traceId: string | undefined;
  // A start site that set its own context keeps it.
  const carry = <T extends { headers: Headers }>(input: T): T =>
    context === undefined || input.headers[TRACE_CONTEXT_HEADER] !== undefined
      ? input
      : { ...input, headers: { ...input.headers, [TRACE_CONTEXT_HEADER]: context } };
  return {
    inbound: [
      {
        execute(input, next) {
          context = input.headers[TRACE_CONTEXT_HEADER];
          traceId = traceIdOf(context);
          return next(input);
        },
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) => next(carry(input)),
        scheduleLocalActivity: (input, next) => next(carry(input)),
        startChildWorkflowExecution: (input, next) => next(carry(input)),
        signalWorkflow: (input, next) => next(carry(input)),
        continueAsNew: (input, next) => next(carry(input)),
        getLogAttributes: (input, next) => next(traceId === undefined ? input : { traceId, ...input }),
      },
    ],
  };
};
