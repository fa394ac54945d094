import type { temporal } from '@temporalio/proto';
import type { AppConfig } from '../../../infra/config';
import type { Logger } from '../../../infra/logger';
import type { TemporalHandle } from '../../../infra/temporal';
import { withTimeout } from '../../../infra/timeout';
import { startQueueFor } from '../../../shared/lanes';
import { redactConnectionDetails } from '../../../shared/redact';
import { TenantSyncNames } from '../../../shared/tenant-sync';
import { pollersOf, type Poller } from '../maintenance/work-view';

// Worker presence: does any worker poll the task queue a login starts on? One DescribeTaskQueue
// (workflow task queue type) answers it, cached for WORKER_PRESENCE_TTL_MS. A login never waits
// on a describe for long: callers share one describe in flight, a stale answer is used while the
// next one is fetched in the background, and only the first login waits, bounded, for the first.
// "unknown" (describe failed or too slow) counts as present: an outage of the describe API alone
// never sends every login direct (the breaker handles Temporal outages).

/** How long a login may wait for the very first answer (ms). */
export const FIRST_ANSWER_WAIT_MS = 200;
/**
 * A poller whose last poll started longer ago than this is gone (the server lists pollers for
 * minutes). An idle worker's poll is held up to 60 s (the server's long-poll expiry) and its time
 * is when it started, so a live worker's age reaches 60 s before it polls again: 90 s leaves margin.
 */
export const POLLER_RECENT_MS = 90_000;
/** Deadline of one describe (ms): well under the readiness and login deadlines. */
export const DESCRIBE_TIMEOUT_MS = 2_000;
/** DescribeTaskQueue's TASK_QUEUE_TYPE_WORKFLOW: the pollers of workflow tasks (a login's first task). */
const WORKFLOW_TASKS = 1 satisfies temporal.api.enums.v1.TaskQueueType;

export type PresenceState = 'present' | 'absent' | 'unknown';

export interface PresenceAnswer {
  state: PresenceState;
  /** Pollers seen within POLLER_RECENT_MS; absent when unknown. */
  pollers?: number;
  taskQueue: string;
  /** When the answer was made (epoch ms of `now`). */
  checkedAt: number;
  /** Why the answer is unknown. */
  error?: string;
}

export interface WorkerPresenceOptions {
  /** The pollers of the queue's workflow tasks; rejects when Temporal did not answer. */
  describe: () => Promise<readonly Pick<Poller, 'lastAccessTime'>[]>;
  taskQueue: string;
  /** How long an answer stays fresh (ms). @default 5000 */
  ttlMs?: number;
  /** How long the first login waits for the first answer (ms). @default FIRST_ANSWER_WAIT_MS */
  firstWaitMs?: number;
  /** Pollers count when their last poll is this recent (ms). @default POLLER_RECENT_MS */
  recentMs?: number;
  /** Logs when the answer changes. @default none (nothing logged) */
  log?: Pick<Logger, 'info' | 'warn'>;
  /** @default Date.now */
  now?: () => number;
}

/** The queue a login's tenant sync starts on (the interactive lane's with TEMPORAL_LANES). */
export function loginQueueOf(config: Pick<AppConfig, 'TEMPORAL_TASK_QUEUE' | 'TEMPORAL_LANES'>): string {
  const q = config.TEMPORAL_TASK_QUEUE;
  return config.TEMPORAL_LANES ? startQueueFor(TenantSyncNames.workflow, q) : q;
}

/** Pollers whose last poll is within `recentMs` of `now`; one the server sent no time for counts. */
export function recentPollers(pollers: readonly Pick<Poller, 'lastAccessTime'>[], now: number, recentMs: number): number {
  return pollers.filter((p) => p.lastAccessTime === null || now - Date.parse(p.lastAccessTime) <= recentMs).length;
}

/** DescribeTaskQueue of `taskQueue`'s workflow tasks, bounded and aborted at `timeoutMs`. */
export function describeWorkflowPollers(t: TemporalHandle, taskQueue: string, timeoutMs = DESCRIBE_TIMEOUT_MS) {
  return async (): Promise<Poller[]> => {
    const r = await withTimeout(`describe task queue ${taskQueue}`, timeoutMs, (signal) =>
      t.connection.withAbortSignal(signal, () =>
        t.client.workflowService.describeTaskQueue({
          namespace: t.client.options.namespace,
          taskQueue: { name: taskQueue },
          taskQueueType: WORKFLOW_TASKS,
        }),
      ),
    );
    return pollersOf(r);
  };
}

export function createWorkerPresence(o: WorkerPresenceOptions) {
  const now = o.now ?? Date.now;
  const ttlMs = o.ttlMs ?? 5_000;
  const firstWaitMs = o.firstWaitMs ?? FIRST_ANSWER_WAIT_MS;
  const recentMs = o.recentMs ?? POLLER_RECENT_MS;
  let last: PresenceAnswer | undefined;
  let inFlight: Promise<PresenceAnswer> | undefined;

  const isFresh = (a: PresenceAnswer | undefined): a is PresenceAnswer => !!a && now() - a.checkedAt < ttlMs;

  async function ask(): Promise<PresenceAnswer> {
    try {
      const pollers = recentPollers(await o.describe(), now(), recentMs);
      return { state: pollers > 0 ? 'present' : 'absent', pollers, taskQueue: o.taskQueue, checkedAt: now() };
    } catch (err) {
      const error = redactConnectionDetails(err instanceof Error ? err.message : String(err)).slice(0, 200);
      return { state: 'unknown', taskQueue: o.taskQueue, checkedAt: now(), error };
    }
  }

  /** Starts a describe, or joins the one in flight; never rejects. */
  function refresh(): Promise<PresenceAnswer> {
    inFlight ??= ask().then((a) => {
      if (last?.state !== a.state) {
        const fields = { taskQueue: o.taskQueue, pollers: a.pollers, error: a.error };
        if (a.state === 'absent') o.log?.warn(fields, 'no worker polls the login task queue: logins go direct');
        else o.log?.info(fields, `worker presence on the login task queue: ${a.state}`);
      }
      last = a;
      inFlight = undefined;
      return a;
    });
    return inFlight;
  }

  const unknown = (error: string): PresenceAnswer => ({ state: 'unknown', taskQueue: o.taskQueue, checkedAt: now(), error });

  /** Resolves with `p`, or with an unknown answer after `ms` (`p` carries on and is cached). */
  async function within(p: Promise<PresenceAnswer>, ms: number): Promise<PresenceAnswer> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<PresenceAnswer>((resolve) => {
      timer = setTimeout(() => resolve(unknown(`no answer within ${ms} ms`)), ms);
      timer.unref();
    });
    try {
      return await Promise.race([p, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    taskQueue: o.taskQueue,
    /**
     * The answer a login routes by: the last known one (a stale one starts a refresh in the
     * background); before any, the first describe, waited for at most `firstWaitMs`.
     */
    async forLogin(): Promise<PresenceAnswer> {
      if (!last) return within(refresh(), firstWaitMs);
      if (!isFresh(last)) void refresh();
      return last;
    },
    /**
     * The answer readiness reports: a fresh "present" as it is; otherwise a new describe (shared
     * with any in flight), waited for at most `waitMs`, so a worker that just started is seen.
     */
    async check(waitMs: number): Promise<PresenceAnswer> {
      if (isFresh(last) && last.state === 'present') return last;
      return within(refresh(), waitMs);
    },
    /** The last answer, without asking (undefined before the first). */
    last: (): PresenceAnswer | undefined => last,
  };
}

export type WorkerPresence = ReturnType<typeof createWorkerPresence>;
