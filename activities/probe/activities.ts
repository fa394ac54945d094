import { Collections } from '../../infra/mongo';
import type { ProbeResult } from '../../shared/stack-probe';
import type { ActivityDeps } from '../deps';

/** A round trip through every real part: the workflow runs on Temporal and writes to MongoDB and Redis. */
export function createStackProbeActivities({ mongo, redis }: ActivityDeps) {
  return {
    async writeProbe(probeId: string): Promise<ProbeResult> {
      const at = new Date();
      const res = await mongo.db
        .collection<{ _id: string; createdAt: Date; writes: number }>(Collections.stackProbes)
        .updateOne({ _id: probeId }, { $set: { createdAt: at }, $inc: { writes: 1 } }, { upsert: true });
      const set = await redis.set(`probe:${probeId}`, at.toISOString(), 'EX', 3600);
      return { probeId, mongoWritten: res.acknowledged, redisWritten: set === 'OK', at: at.toISOString() };
    },
  };
}
