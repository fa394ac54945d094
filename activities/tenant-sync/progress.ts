import type { Collection, Db } from 'mongodb';
import { Collections } from '../../infra/mongo';
import type { Logger } from '../../infra/logger';

// sync_progress: one small document per tenant, the last time any of its syncs moved (a
// collection started or finished, a page was written). Both paths write it — the workflow's
// activities and the API's direct path run the same syncCollection — throttled per tenant in
// each process; by `_id` in a collection of one document per tenant, so cheap on FerretDB.
// The stuck-sync sweep and /api/sync/health read it: "stuck" means no progress for
// SYNC_STUCK_AFTER_MS (a run with no mark at all: since it started), never merely old.

export interface SyncProgressDoc {
  /** The tenant ID. */
  _id: string;
  at: Date;
  /** correlationId of the sync that moved last, and where. */
  runId: string;
  collection: string;
}

/** Spacing of one tenant's progress writes in one process (ms). */
export const PROGRESS_EVERY_MS = 5_000;

/** A spacing that marks a progressing sync several times per stuck threshold. */
export const progressEveryFor = (stuckAfterMs: number) => Math.max(50, Math.min(PROGRESS_EVERY_MS, Math.floor(stuckAfterMs / 5)));

export interface ProgressMark {
  tenantId: string;
  correlationId: string;
  collection: string;
  /**
   * When the sync making the mark began (epoch ms): within `everyMs` of it a mark says nothing a
   * stuck check does not know already (the start counts as movement), so it is not written — a
   * warm login's collection sync, done in a few hundred ms, writes none.
   */
  startedAt?: number;
}

/** The writer: `touch(mark)` at most every `everyMs` per tenant, `touch(mark, true)` always. */
export const progressCollection = (db: Db) => db.collection<SyncProgressDoc>(Collections.syncProgress);

export function createProgressWriter(db: Db, everyMs: number = PROGRESS_EVERY_MS, log?: Logger) {
  const col = progressCollection(db);
  const last = new Map<string, number>();
  return async function touch(m: ProgressMark, force = false): Promise<void> {
    const now = Date.now();
    const prev = last.get(m.tenantId);
    if (!force && prev !== undefined && now - prev < everyMs) return;
    if (!force && m.startedAt !== undefined && now - m.startedAt < everyMs) return;
    last.set(m.tenantId, now);
    try {
      await col.updateOne(
        { _id: m.tenantId },
        { $set: { at: new Date(now), runId: m.correlationId, collection: m.collection } },
        { upsert: true },
      );
    } catch (err) {
      // A mark is advisory: a failed one never fails the sync (the next page writes again).
      log?.debug({ err: err instanceof Error ? err.message : String(err), tenantId: m.tenantId }, 'sync progress not recorded');
    }
  };
}

export type ProgressTouch = ReturnType<typeof createProgressWriter>;

const POINT_READS_MAX = 16;

/** A tenant's last mark: when, and by which sync (its correlation ID). */
export interface ProgressMarkSeen {
  at: Date;
  runId: string;
}

/** Last progress per tenant: point reads by `_id` for a few, one read of the small collection for many. */
export async function lastProgressOf(
  col: Collection<SyncProgressDoc>,
  tenantIds: Iterable<string>,
): Promise<Map<string, ProgressMarkSeen>> {
  const ids = [...new Set(tenantIds)];
  const projection = { at: 1, runId: 1 } as const;
  const docs =
    ids.length <= POINT_READS_MAX
      ? (await Promise.all(ids.map((_id) => col.findOne({ _id }, { projection })))).filter((d) => d !== null)
      : await col.find({ _id: { $in: ids } }, { projection }).toArray();
  return new Map(docs.map((d) => [d._id, { at: d.at, runId: d.runId }]));
}

/**
 * The tenant's mark, when the run it came from is this one: a later sync of the same tenant is
 * no progress of an older run left behind. A direct fallback's run ID is the login's
 * correlation ID + ':fallback', and its pages mark under that correlation ID.
 */
export function progressOfRun(mark: ProgressMarkSeen | undefined, runId: string | undefined): Date | undefined {
  if (!mark || runId === undefined) return undefined;
  return runId === mark.runId || runId.startsWith(`${mark.runId}:`) ? mark.at : undefined;
}

/** When a run last moved: its start, or any later mark (progress document, activity heartbeat). */
export function lastMovedAt(startedAt: Date, ...marks: Array<Date | undefined>): Date {
  return new Date(Math.max(startedAt.getTime(), ...marks.map((m) => m?.getTime() ?? 0)));
}
