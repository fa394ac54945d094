import type { Sink, Sinks } from '@temporalio/workflow';

// What the workflow interceptors (workflows/interceptors.ts) and the worker share: the header
// that carries the correlation ID from a workflow to its activities and children, and the sink
// through which sandboxed workflow code reports how a run closed. Pure: in the workflow bundle.

/** Temporal header (a JSON payload) holding the correlation ID. */
export const CORRELATION_HEADER = 'correlation-id';

export type WorkflowOutcome = 'completed' | 'failed' | 'cancelled' | 'continued_as_new';

export interface WorkflowMetricsSink extends Sink {
  /** A run closed (or continued as new); called once per run, never during replay. */
  closed(outcome: WorkflowOutcome): void;
}

export interface TelemetrySinks extends Sinks {
  workflowMetrics: WorkflowMetricsSink;
}
