import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { CompiledWorkflowOptions } from '@temporalio/client/lib/workflow-options';
import { TypedSearchAttributes } from '@temporalio/common';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { SearchAttributeKeys, SearchAttributes } from '../shared/constants';
import { startQueueFor } from '../shared/lanes';
import { priorityFor } from '../shared/priorities';
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

/** The tenant a start is about: its TenantId search attribute (typed or legacy form). */
export function tenantOfStart(o: Pick<CompiledWorkflowOptions, 'typedSearchAttributes' | 'searchAttributes'>): string | undefined {
  const typed = o.typedSearchAttributes;
  if (typed instanceof TypedSearchAttributes) return typed.get(SearchAttributeKeys.TenantId);
  const pair = typed?.find((p) => p.key.name === SearchAttributes.TenantId);
  if (typeof pair?.value === 'string') return pair.value;
  const legacy = o.searchAttributes?.[SearchAttributes.TenantId]?.[0];
  return typeof legacy === 'string' ? legacy : undefined;
}

/**
 * Every start gets its priority class (shared/priorities.ts, by workflow type) and the tenant as
 * fairness key, filling what the start site left out (a site that knows the tenant's weight sets
 * it). Off (TEMPORAL_PRIORITY=false): every start goes without, as before priorities existed.
 */
function priorities(enabled: boolean): WorkflowClientInterceptor {
  const apply = <O extends CompiledWorkflowOptions>(workflowType: string, o: O): O =>
    enabled ? { ...o, priority: priorityFor(workflowType, tenantOfStart(o), o.priority) } : { ...o, priority: undefined };
  return {
    async startWithDetails(input, next) {
      return next({ ...input, options: apply(input.workflowType, input.options) });
    },
    async startUpdateWithStart(input, next) {
      return next({ ...input, workflowStartOptions: apply(input.workflowType, input.workflowStartOptions) });
    },
    async signalWithStart(input, next) {
      return next({ ...input, options: apply(input.workflowType, input.options) });
    },
  };
}

/**
 * Starts of interactive workflow types (shared/lanes.ts) go to the interactive lane's queue of
 * the queue the start site named, wherever it starts them (API, stuck-sync restarts, CLI).
 */
function lanes(): WorkflowClientInterceptor {
  const apply = <O extends CompiledWorkflowOptions>(workflowType: string, o: O): O => ({
    ...o,
    taskQueue: startQueueFor(workflowType, o.taskQueue),
  });
  return {
    async startWithDetails(input, next) {
      return next({ ...input, options: apply(input.workflowType, input.options) });
    },
    async startUpdateWithStart(input, next) {
      return next({ ...input, workflowStartOptions: apply(input.workflowType, input.workflowStartOptions) });
    },
    async signalWithStart(input, next) {
      return next({ ...input, options: apply(input.workflowType, input.options) });
    },
  };
}

export interface ClientInterceptorOptions {
  /** Task-queue priority and fairness on every start. @default true */
  priority?: boolean;
  /** Interactive starts on their lane's queue (TEMPORAL_LANES). @default true */
  lanes?: boolean;
}

/** Call after startTelemetry (metric instruments made earlier stay no-op). */
export function workflowClientInterceptors(o: ClientInterceptorOptions = {}): WorkflowClientInterceptor[] {
  return [
    priorities(o.priority ?? true),
    ...((o.lanes ?? true) ? [lanes()] : []),
    new OpenTelemetryWorkflowClientInterceptor(),
    startCounter(),
  ];
}
