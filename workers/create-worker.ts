import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { DefaultLogger, type NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type ActivityDeps, type ActivitySettings } from '../activities';
import { createWorkerMetrics } from '../infra/metrics';
import { currentTelemetry } from '../infra/telemetry';
import { workflowClientInterceptors } from '../infra/temporal-interceptors';
import { activityInterceptors, workflowSinks, WORKFLOW_INTERCEPTOR_MODULES } from './telemetry';

export const WORKFLOWS_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workflows/index.ts');

/** Bundles the workflow code once (the test setup writes it to disk and every worker reuses it). */
export async function bundleWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: new DefaultLogger('WARN'),
  });
}

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** Activity tuning from config (page size …). */
  settings?: ActivitySettings;
  /** Prebuilt bundle; without it the worker bundles from source at start. */
  workflowBundle?: WorkflowBundle;
  /** Extra or replacement activities (tests inject failures here). */
  activityOverrides?: Record<string, (...args: never[]) => Promise<unknown>>;
  shutdownGraceTime?: string;
  /** Priority and fairness on the starts its activities make (TEMPORAL_PRIORITY). @default true */
  priority?: boolean;
  /** Task slots (WORKER_MAX_CONCURRENT_*). @default { activities: 50, workflowTasks: 40 } */
  slots?: { activities?: number; workflowTasks?: number };
}

export async function createWorker(o: CreateWorkerOptions): Promise<Worker> {
  const metrics = createWorkerMetrics();
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    // Activities that act on other workflows (the stuck-sync sweep) get a client over the worker's connection.
    activities: {
      ...createActivities(
        {
          temporalClient: new Client({
            connection: o.connection,
            namespace: o.namespace,
            interceptors: { workflow: workflowClientInterceptors({ priority: o.priority }) },
          }),
          ...o.deps,
        },
        o.settings,
      ),
      ...o.activityOverrides,
    },
    // A prebuilt bundle already holds the workflow interceptor modules (bundleWorkflows).
    interceptors: {
      activity: activityInterceptors(metrics),
      ...(o.workflowBundle ? {} : { workflowModules: WORKFLOW_INTERCEPTOR_MODULES }),
    },
    // Workflow spans go to the process's telemetry, when started (before the worker is created).
    sinks: workflowSinks(currentTelemetry(), metrics),
    // In-flight activities get this long to finish on shutdown, then are cancelled and retried elsewhere.
    shutdownGraceTime: (o.shutdownGraceTime ?? '10 seconds') as `${number} seconds`,
    maxConcurrentActivityTaskExecutions: o.slots?.activities ?? 50,
    maxConcurrentWorkflowTaskExecutions: o.slots?.workflowTasks ?? 40,
  });
}
