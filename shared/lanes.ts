import { StackProbeNames } from './stack-probe';
import { TenantSyncNames } from './tenant-sync';

// Lanes: capacity held back per kind of work (TEMPORAL_LANES). Priority and fairness order a
// task queue's backlog, but never free a slot a long task holds; a lane is a task queue of its
// own, polled by the same worker process with a slot pool of its own:
//   - main:        everything else (migrations, client upsert, reconcile control, cleanups);
//   - interactive: work a caller waits on (a login's tenant sync, the readiness probe) — its
//                  workflow tasks, activities and local activities never wait behind bulk work;
//   - bulk:        long data scans (reconcile partitions), at most WORKER_BULK_ACTIVITIES at a
//                  time, so they can never take every slot of the main queue.
// A lane's queue is the deployment's queue name with a suffix, so namespaces stay shareable.
// Pure (no node modules): the client interceptor, workflows and the API use it.

export type Lane = 'main' | 'interactive' | 'bulk';
export const LANES: readonly Lane[] = ['main', 'interactive', 'bulk'];

/** Suffix joining the deployment's queue and the lane (task-queue names are free-form strings). */
const SEP = '--';

/** The task queue of `lane` for the deployment whose queue is `base`. */
export function laneQueue(base: string, lane: Lane): string {
  return lane === 'main' ? base : `${base}${SEP}${lane}`;
}

/** Every lane's task queue of the deployment `base`, main first. */
export function laneQueues(base: string): Record<Lane, string> {
  return { main: base, interactive: laneQueue(base, 'interactive'), bulk: laneQueue(base, 'bulk') };
}

/** The queues the deployment's workflows run on (bulk runs activities only), main first. */
export function workflowQueuesOf(base: string): string[] {
  return [base, laneQueue(base, 'interactive')];
}

/** The deployment's queue a lane queue belongs to (itself when it is no lane queue). */
export function baseQueueOf(queue: string): string {
  for (const lane of LANES) {
    const suffix = `${SEP}${lane}`;
    if (lane !== 'main' && queue.endsWith(suffix)) return queue.slice(0, -suffix.length);
  }
  return queue;
}

/** The workflow types whose whole run (workflow tasks and activities) has the interactive lane. */
export const INTERACTIVE_WORKFLOWS: ReadonlySet<string> = new Set([TenantSyncNames.workflow, StackProbeNames.workflow]);

/** The queue a start of `workflowType` goes to when lanes are on; `queue` is the start's own. */
export function startQueueFor(workflowType: string, queue: string): string {
  return INTERACTIVE_WORKFLOWS.has(workflowType) && baseQueueOf(queue) === queue ? laneQueue(queue, 'interactive') : queue;
}
