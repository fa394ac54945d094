import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type ActivityDeps, type ActivitySettings } from '../activities';

export const WORKFLOWS_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workflows/index.ts');

/** Bundles the workflow code once (the test setup writes it to disk and every worker reuses it). */
export async function bundleWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
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
}

export async function createWorker(o: CreateWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: { ...createActivities(o.deps, o.settings), ...o.activityOverrides },
    // In-flight activities get this long to finish on shutdown, then are cancelled and retried elsewhere.
    shutdownGraceTime: (o.shutdownGraceTime ?? '10 seconds') as `${number} seconds`,
    maxConcurrentActivityTaskExecutions: 50,
  });
}
