import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import {
  type ActivityInterceptorsFactory,
  DefaultLogger,
  type NativeConnection,
  type State,
  Worker,
  bundleWorkflowCode,
  type WorkflowBundle,
} from '@temporalio/worker';
import { createActivities, type ActivityDeps, type ActivitySettings } from '../activities';
import type { AppConfig } from '../infra/config';
import { createWorkerMetrics } from '../infra/metrics';
import { workflowClientInterceptors } from '../infra/temporal-interceptors';
import { laneQueues, type Lane } from '../shared/lanes';
import { createInteractiveGate, type InteractiveGate } from './interactive-gate';
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

export interface LaneSettings {
  /** Workflow-task, activity and local-activity slots of the interactive lane (WORKER_INTERACTIVE_SLOTS). @default 20 */
  interactiveSlots?: number;
  /** Slots of the bulk lane (WORKER_BULK_ACTIVITIES). @default 4 */
  bulkActivities?: number;
  /** Longest wait of a background activity or reconcile chunk for this process's interactive work (WORKER_YIELD_TO_LOGINS_MS). @default 1000 */
  yieldToLoginsMs?: number;
}

/** The lanes a worker process polls, from config (false: TEMPORAL_LANES=false). */
export function laneSettingsFromConfig(
  c: Pick<AppConfig, 'TEMPORAL_LANES' | 'WORKER_INTERACTIVE_SLOTS' | 'WORKER_BULK_ACTIVITIES' | 'WORKER_YIELD_TO_LOGINS_MS'>,
): LaneSettings | false {
  if (!c.TEMPORAL_LANES) return false;
  return {
    interactiveSlots: c.WORKER_INTERACTIVE_SLOTS,
    bulkActivities: c.WORKER_BULK_ACTIVITIES,
    yieldToLoginsMs: c.WORKER_YIELD_TO_LOGINS_MS,
  };
}

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** The deployment's queue: the main lane; the other lanes' queues derive from it (shared/lanes.ts). */
  taskQueue: string;
  deps: ActivityDeps;
  /** Activity tuning from config (page size …). */
  settings?: ActivitySettings;
  /** Prebuilt bundle (workers/workflow-bundle.ts); without it this process bundles from source once, for every lane. */
  workflowBundle?: WorkflowBundle;
  /** Extra or replacement activities (tests inject failures here). */
  activityOverrides?: Record<string, (...args: never[]) => Promise<unknown>>;
  /** How long in-flight activities get to finish on shutdown (ms, or a duration such as '2 seconds'). @default 10000 */
  shutdownGraceTime?: `${number} second${'' | 's'}` | number;
  /** Priority and fairness on the starts its activities make (TEMPORAL_PRIORITY). @default true */
  priority?: boolean;
  /** Task slots of the main lane (WORKER_MAX_CONCURRENT_*). @default { activities: 50, workflowTasks: 40 } */
  slots?: { activities?: number; workflowTasks?: number };
  /** Poll the interactive and bulk lanes too (TEMPORAL_LANES); false: the main queue only. @default {} (on) */
  lanes?: LaneSettings | false;
}

/** The workers of one process, one per lane, run and stopped together. */
export interface WorkerGroup {
  /** The main lane's worker. */
  main: Worker;
  /** Every worker by lane (lanes off: main only). */
  lanes: Partial<Record<Lane, Worker>>;
  /** Interactive activities running in this process (the bulk lane yields to them). */
  gate: InteractiveGate;
  /** Runs every lane; when one fails, the others are shut down and its error is thrown. */
  run(): Promise<void>;
  shutdown(): void;
  /** RUNNING while any lane runs, else the main lane's state. */
  getState(): State;
}

/** Background activities (main and bulk lanes) wait while this process runs interactive ones. */
function yieldInterceptor(gate: InteractiveGate, maxMs: number): ActivityInterceptorsFactory {
  return () => ({
    inbound: {
      async execute(input, next) {
        await gate.idle(maxMs);
        return next(input);
      },
    },
  });
}

/** Counts the interactive lane's activities (regular and local) into the gate. */
function gateInterceptor(gate: InteractiveGate): ActivityInterceptorsFactory {
  return () => ({
    inbound: {
      async execute(input, next) {
        gate.enter();
        try {
          return await next(input);
        } finally {
          gate.leave();
        }
      },
    },
  });
}

export async function createWorker(o: CreateWorkerOptions): Promise<WorkerGroup> {
  const metrics = createWorkerMetrics();
  const gate = createInteractiveGate();
  const lanes = o.lanes === false ? undefined : (o.lanes ?? {});
  const yieldMs = lanes?.yieldToLoginsMs ?? 1_000;
  const userBeforeChunk = o.settings?.reconcile?.beforeChunk;
  const settings: ActivitySettings | undefined =
    lanes && yieldMs > 0
      ? {
          ...o.settings,
          reconcile: {
            ...o.settings?.reconcile,
            beforeChunk: async (c) => {
              await gate.idle(yieldMs);
              await userBeforeChunk?.(c);
            },
          },
        }
      : o.settings;
  // One set of activities for every lane; activities that act on other workflows (the
  // stuck-sync sweep) get a client over the worker's connection.
  const activities = {
    ...createActivities(
      {
        temporalClient: new Client({
          connection: o.connection,
          namespace: o.namespace,
          interceptors: { workflow: workflowClientInterceptors({ priority: o.priority, lanes: lanes !== undefined }) },
        }),
        ...o.deps,
      },
      settings,
    ),
    ...o.activityOverrides,
  };
  // Bundled once for every lane (Worker.create with a workflowsPath would run webpack per lane).
  const workflows = { workflowBundle: o.workflowBundle ?? (await bundleWorkflows()) };
  const common = {
    connection: o.connection,
    namespace: o.namespace,
    activities,
    // In-flight activities get this long to finish on shutdown, then are cancelled and retried elsewhere.
    shutdownGraceTime: o.shutdownGraceTime ?? 10_000,
  };
  const withWorkflows = {
    // The bundle holds the workflow interceptor modules (bundleWorkflows).
    ...workflows,
    // Run outcomes reported from the sandbox → the worker's metrics (no spans are made there).
    sinks: workflowSinks(metrics),
  };
  const activityOnly = (extra: ActivityInterceptorsFactory[] = []) => ({ activity: [...extra, ...activityInterceptors(metrics)] });
  // Lanes on: background lanes yield to the interactive one as each activity starts.
  const background = lanes && yieldMs > 0 ? [yieldInterceptor(gate, yieldMs)] : [];
  const queues = laneQueues(o.taskQueue);

  const main = await Worker.create({
    ...common,
    ...withWorkflows,
    taskQueue: queues.main,
    interceptors: activityOnly(background),
    maxConcurrentActivityTaskExecutions: o.slots?.activities ?? 50,
    maxConcurrentWorkflowTaskExecutions: o.slots?.workflowTasks ?? 40,
  });
  const byLane: Partial<Record<Lane, Worker>> = { main };
  if (lanes) {
    const slots = lanes.interactiveSlots ?? 20;
    byLane.interactive = await Worker.create({
      ...common,
      ...withWorkflows,
      taskQueue: queues.interactive,
      interceptors: activityOnly([gateInterceptor(gate)]),
      maxConcurrentActivityTaskExecutions: slots,
      maxConcurrentWorkflowTaskExecutions: Math.max(2, slots),
      maxConcurrentLocalActivityExecutions: slots,
      // Logins are short: a small cache of their own beside the main lane's.
      maxCachedWorkflows: Math.max(10, slots * 5),
    });
    // Activities only: no workflow is ever started on the bulk lane.
    byLane.bulk = await Worker.create({
      ...common,
      taskQueue: queues.bulk,
      interceptors: activityOnly(background),
      maxConcurrentActivityTaskExecutions: lanes.bulkActivities ?? 4,
    });
  }
  const workers = Object.values(byLane);
  return {
    main,
    lanes: byLane,
    gate,
    async run() {
      const runs = workers.map((w) => w.run());
      try {
        await Promise.all(runs);
      } catch (err) {
        for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
        await Promise.allSettled(runs);
        throw err;
      }
    },
    shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    },
    getState() {
      return workers.some((w) => w.getState() === 'RUNNING') ? 'RUNNING' : main.getState();
    },
  };
}
