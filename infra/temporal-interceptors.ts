import type { WorkflowClientInterceptor } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { createWorkflowStartMetrics } from './metrics';

// Interceptors of every Temporal client we make (API, CLI, the worker's own): a client span
// around each start or update carried to the workflow in its headers, and a start counter.

function startCounter(): WorkflowClientInterceptor {
  const { starts } = createWorkflowStartMetrics();
  const count = (workflowType: string) => starts.add(1, { workflow_type: workflowType });
  return {
    async startWithDetails(input, next) {
      count(input.workflowType);
      return next(input);
    },
    async startUpdateWithStart(input, next) {
      count(input.workflowType);
      return next(input);
    },
    async signalWithStart(input, next) {
      count(input.workflowType);
      return next(input);
    },
  };
}

/** Call after startTelemetry (metric instruments made earlier stay no-op). */
export function workflowClientInterceptors(): WorkflowClientInterceptor[] {
  return [new OpenTelemetryWorkflowClientInterceptor(), startCounter()];
}
