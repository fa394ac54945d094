import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleSummary,
} from '@temporalio/client';
import type { TemporalHandle } from '../../../infra/temporal';
import { CallDeadlines, withTimeout } from '../../../infra/timeout';
import { scheduleIdFor } from '../../../shared/cleanup';
import { AppError, DependencyUnavailableError } from '../../errors';

// The platform's schedules (cleanup, stuck-sync sweep: workers/schedules.ts creates them) over
// HTTP: list, describe, pause, unpause, trigger. A short name (`cleanup-sync-runs`) means that
// schedule on the API's task queue; a full ID (`name:queue`) is used as given.

/** Overlap policies a trigger may ask for (the SDK's names). */
export const OVERLAP_POLICIES = Object.values(ScheduleOverlapPolicy).filter((p): p is Exclude<typeof p, undefined> => p !== undefined);
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/** Thrown for a schedule ID Temporal does not know; the problem names the resolved ID. */
export class ScheduleNotFound extends AppError {
  constructor(readonly scheduleId: string) {
    super('not-found', `schedule '${scheduleId}' was not found`, { extras: { scheduleId } });
  }
}

const iso = (d: Date | undefined) => d?.toISOString() ?? '-';

export interface ScheduleRow {
  scheduleId: string;
  workflowType: string;
  paused: boolean;
  note: string;
  lastRun: string;
  nextRun: string;
}

function rowOf(s: ScheduleSummary): ScheduleRow {
  return {
    scheduleId: s.scheduleId,
    workflowType: s.action?.workflowType ?? '-',
    paused: s.state.paused,
    note: s.state.note ?? '',
    lastRun: iso(s.info.recentActions.at(-1)?.takenAt),
    nextRun: iso(s.info.nextActionTimes[0]),
  };
}

/** One schedule as an operator reads it: dates as ISO strings, counters by name. */
function viewOf(d: ScheduleDescription) {
  return {
    scheduleId: d.scheduleId,
    workflowType: d.action.workflowType,
    args: d.action.args,
    taskQueue: d.action.taskQueue,
    intervals: d.spec.intervals,
    policies: d.policies,
    state: d.state,
    memo: d.memo,
    actionsTaken: d.info.numActionsTaken,
    skippedOverlap: d.info.numActionsSkippedOverlap,
    missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
    running: d.info.runningActions.map((a) => a.workflow),
    recent: d.info.recentActions.map((a) => ({ scheduledAt: iso(a.scheduledAt), takenAt: iso(a.takenAt), workflow: a.action.workflow })),
    next: d.info.nextActionTimes.map(iso),
  };
}
export type ScheduleView = ReturnType<typeof viewOf>;

export interface SchedulesService {
  /** This task queue's schedules, or (`all`) every schedule of the namespace, by ID. */
  list(all: boolean): Promise<{ taskQueue: string; schedules: ScheduleRow[] }>;
  describe(id: string): Promise<ScheduleView>;
  setPaused(id: string, paused: boolean, note: string): Promise<{ scheduleId: string; paused: boolean }>;
  trigger(id: string, overlap: OverlapPolicy): Promise<{ scheduleId: string; triggered: true; overlap: OverlapPolicy }>;
}

export function createSchedulesService(o: { temporal?: TemporalHandle; taskQueue: string }): SchedulesService {
  const temporal = () =>
    o.temporal ?? fail(new DependencyUnavailableError('temporal', 'Schedules live in Temporal and TEMPORAL_ENABLED=false'));
  const resolve = (id: string) => (id.includes(':') ? id : scheduleIdFor(id, o.taskQueue));
  /** One call on one schedule, bounded (an unreachable server can hang); an unknown ID → 404. */
  const onSchedule = async <T>(what: string, id: string, fn: (h: ScheduleHandle) => Promise<T>) => {
    const t = temporal();
    const scheduleId = resolve(id);
    try {
      const value = await withTimeout(what, CallDeadlines.temporalMs, (signal) =>
        t.connection.withAbortSignal(signal, () => fn(t.client.schedule.getHandle(scheduleId))),
      );
      return { scheduleId, value };
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw new ScheduleNotFound(scheduleId);
      throw err;
    }
  };

  return {
    async list(all) {
      const t = temporal();
      const rows = await withTimeout('list schedules', CallDeadlines.temporalMs, (signal) =>
        t.connection.withAbortSignal(signal, async () => {
          const out: ScheduleRow[] = [];
          for await (const s of t.client.schedule.list()) if (all || s.scheduleId.endsWith(`:${o.taskQueue}`)) out.push(rowOf(s));
          return out;
        }),
      );
      rows.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
      return { taskQueue: o.taskQueue, schedules: rows };
    },
    async describe(id) {
      return viewOf((await onSchedule('describe schedule', id, (h) => h.describe())).value);
    },
    async setPaused(id, paused, note) {
      const { scheduleId } = await onSchedule(paused ? 'pause schedule' : 'unpause schedule', id, (h) =>
        paused ? h.pause(note) : h.unpause(note),
      );
      return { scheduleId, paused };
    },
    async trigger(id, overlap) {
      // The SDK's default for a trigger is ALLOW_ALL; callers pass SKIP to keep the schedule's own policy.
      const { scheduleId } = await onSchedule('trigger schedule', id, (h) => h.trigger(overlap));
      return { scheduleId, triggered: true, overlap };
    },
  };
}

const fail = (err: Error): never => {
  throw err;
};
