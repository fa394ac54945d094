import type { Logger } from '../../../infra/logger';
import type { PauseStore } from '../../../activities/maintenance/pause-store';
import { AppError } from '../../../shared/errors';
import type { WorkKind, WorkPause } from '../../../shared/work';
import { ScheduleNotFound, type SchedulesService } from './schedules';
import { ScheduleNames, scheduleIdFor } from '../../../shared/cleanup';

// Pause and resume a kind of work. The pause is stored (MongoDB), so every API process refuses
// new starts of that kind while it lasts — with a 503 naming the pause and who set it — and
// running executions finish. Pausing `cleanup` also pauses this task queue's schedules (marked by
// their note, so resuming unpauses only those the pause paused, never one an operator paused).

/** Thrown when a start of a paused kind of work is asked for; nothing was started. */
export class WorkPausedError extends AppError {
  constructor(readonly pause: WorkPause) {
    super('work-paused', `${pause.kind} is paused by ${pause.pausedBy} since ${pause.pausedAt}: ${pause.reason}`, {
      extras: { ...pause },
      headers: { 'Retry-After': '60' },
    });
  }
}

/** The note a pause leaves on the schedules it paused. */
export const PAUSE_NOTE_PREFIX = 'paused with work kind';

/** Which kinds own schedules (workers/schedules.ts makes only cleanup and sweep schedules). */
const KINDS_WITH_SCHEDULES: ReadonlySet<WorkKind> = new Set(['cleanup']);

export interface PauseServiceOptions {
  store: PauseStore;
  /** The task queue's schedules; absent: Temporal off (nothing to pause there). */
  schedules?: SchedulesService;
  /** Whose schedules (workers/schedules.ts names them by task queue). */
  taskQueue: string;
  log: Logger;
}

export function createPauseService(o: PauseServiceOptions) {
  async function setSchedules(kind: WorkKind, paused: boolean, note: string): Promise<string[]> {
    if (!o.schedules || !KINDS_WITH_SCHEDULES.has(kind)) return [];
    // The list comes from visibility, which lags (a schedule made a moment ago may be missing, a
    // state may be stale): the IDs are ours by name plus whatever it lists; describe gives each state.
    const listed = (await o.schedules.list(false)).schedules.map((s) => s.scheduleId);
    const ids = [...new Set([...Object.values(ScheduleNames).map((n) => scheduleIdFor(n, o.taskQueue)), ...listed])].sort();
    const touched: string[] = [];
    for (const scheduleId of ids) {
      let state;
      try {
        ({ state } = await o.schedules.describe(scheduleId));
      } catch (err) {
        if (err instanceof ScheduleNotFound) continue;
        throw err;
      }
      const ours = (state.note ?? '').startsWith(`${PAUSE_NOTE_PREFIX} ${kind}`);
      if (paused ? state.paused : !(state.paused && ours)) continue;
      await o.schedules.setPaused(scheduleId, paused, note);
      touched.push(scheduleId);
    }
    return touched;
  }

  return {
    list: () => o.store.list(),
    get: (kind: WorkKind) => o.store.get(kind),
    /** Throws WorkPausedError when `kind` is paused. Call before anything of that kind is written or started. */
    async assertNotPaused(kind: WorkKind): Promise<void> {
      const p = await o.store.get(kind);
      if (p) throw new WorkPausedError(p);
    },
    async pause(kind: WorkKind, pausedBy: string, reason: string) {
      const { pause, created } = await o.store.pause(kind, pausedBy, reason);
      const schedules = await setSchedules(kind, true, `${PAUSE_NOTE_PREFIX} ${kind} by ${pause.pausedBy}: ${pause.reason}`);
      o.log.warn({ kind, pausedBy, reason, created, schedules }, 'work paused: new starts of this kind are refused');
      return { ...pause, created, schedules };
    },
    async resume(kind: WorkKind, resumedBy: string) {
      const lifted = await o.store.resume(kind);
      const schedules = await setSchedules(kind, false, `resumed by ${resumedBy}`);
      o.log.warn({ kind, resumedBy, wasPaused: lifted !== undefined, schedules }, 'work resumed');
      return { kind, resumed: lifted !== undefined, schedules };
    },
  };
}

export type PauseService = ReturnType<typeof createPauseService>;
