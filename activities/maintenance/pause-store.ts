import type { Db } from 'mongodb';
import { Collections } from '../../infra/mongo';
import type { WorkKind, WorkPause } from '../../shared/work';

// work_pauses: one document per paused kind of work. Stored in MongoDB, so every API process and
// worker sees the same state (and it survives restarts); read at each start of a pausable kind.

interface PauseDoc {
  _id: WorkKind;
  pausedBy: string;
  reason: string;
  pausedAt: Date;
}

const view = (d: PauseDoc): WorkPause => ({ kind: d._id, pausedBy: d.pausedBy, reason: d.reason, pausedAt: d.pausedAt.toISOString() });

export function createPauseStore(db: Db) {
  const col = db.collection<PauseDoc>(Collections.workPauses);
  return {
    /** The pause of a kind, if any. */
    async get(kind: WorkKind): Promise<WorkPause | undefined> {
      const d = await col.findOne({ _id: kind });
      return d ? view(d) : undefined;
    },
    async list(): Promise<WorkPause[]> {
      return (await col.find({}).sort({ _id: 1 }).toArray()).map(view);
    },
    /** Pauses a kind; pausing a paused kind keeps the first pause (who and when) and answers it. */
    async pause(kind: WorkKind, pausedBy: string, reason: string, now = new Date()): Promise<{ pause: WorkPause; created: boolean }> {
      const res = await col.updateOne({ _id: kind }, { $setOnInsert: { pausedBy, reason, pausedAt: now } }, { upsert: true });
      const d = await col.findOne({ _id: kind });
      return { pause: view(d!), created: res.upsertedCount === 1 };
    },
    /** Resumes a kind; answers the pause it lifted (undefined: it was not paused). */
    async resume(kind: WorkKind): Promise<WorkPause | undefined> {
      const d = await col.findOneAndDelete({ _id: kind });
      return d ? view(d) : undefined;
    },
  };
}

export type PauseStore = ReturnType<typeof createPauseStore>;
