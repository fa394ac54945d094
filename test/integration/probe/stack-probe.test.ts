import { describe, expect, it } from 'vitest';
import { WorkflowIds } from '../../../shared/constants';
import { StackProbeNames, type StackProbeWorkflow } from '../../../shared/stack-probe';
import { Collections } from '../../../infra/mongo';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

describe('stack probe workflow (real Temporal, FerretDB and Redis)', () => {
  const stack = useStack({ worker: true });

  it('runs on the worker and writes through activities to MongoDB and Redis', async () => {
    const { deps } = stack;
    const probeId = uniqueId('probe');
    const result = await deps.temporal.client.workflow.execute<StackProbeWorkflow>(StackProbeNames.workflow, {
      taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
      workflowId: WorkflowIds.stackProbe(probeId),
      args: [probeId],
    });
    expect(result).toMatchObject({ probeId, mongoWritten: true, redisWritten: true });
    const doc = await deps.mongo.db.collection<{ _id: string; writes: number }>(Collections.stackProbes).findOne({ _id: probeId });
    expect(doc?.writes).toBe(1);
    expect(await deps.redis.get(`probe:${probeId}`)).toBe(result.at);
    const history = await deps.temporal.client.workflow.getHandle(WorkflowIds.stackProbe(probeId)).fetchHistory();
    expect(history.events?.some((e) => e.activityTaskCompletedEventAttributes)).toBe(true);
  });
});
