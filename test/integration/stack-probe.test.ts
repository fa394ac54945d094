import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowIds } from '../../shared/constants';
import { Collections } from '../../infra/mongo';
import { connectTestDeps, startTestWorker, uniqueId, type TestDeps, type TestWorker } from '../helpers/stack';

describe('stack probe workflow (real Temporal, FerretDB and Redis)', () => {
  let deps: TestDeps;
  let worker: TestWorker;
  beforeAll(async () => {
    deps = await connectTestDeps();
    worker = await startTestWorker(deps);
  });
  afterAll(async () => {
    await worker?.stop();
    await deps?.close();
  });

  it('runs on the worker and writes through activities to MongoDB and Redis', async () => {
    const probeId = uniqueId('probe');
    const result = await deps.temporal.client.workflow.execute('stackProbeWorkflow', {
      taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
      workflowId: WorkflowIds.stackProbe(probeId),
      args: [probeId],
    });
    expect(result).toMatchObject({ probeId, mongoWritten: true, redisWritten: true });
    const doc = await deps.mongo.db.collection<{ _id: string; writes: number }>(Collections.stackProbes).findOne({ _id: probeId });
    expect(doc?.writes).toBe(1);
    expect(await deps.redis.get(`probe:${probeId}`)).toBe((result as { at: string }).at);
    const history = await deps.temporal.client.workflow.getHandle(WorkflowIds.stackProbe(probeId)).fetchHistory();
    expect(history.events?.some((e) => e.activityTaskCompletedEventAttributes)).toBe(true);
  });
});
