import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowIds } from '../../../shared/constants';
import { StackProbeNames, type StackProbeWorkflow } from '../../../shared/stack-probe';
import { connectTestDeps, uniqueId, type TestDeps } from '../../helpers/stack';
import { startWorkerProcess } from '../../helpers/worker-process';

// The worker's workflow bundle (workers/workflow-bundle.ts): without WORKFLOW_BUNDLE_PATH the
// real worker entry builds it in a child process, once for every lane, and runs workflows from
// it; a WORKFLOW_BUNDLE_PATH that is not there stops the start with a message saying how to build
// it, instead of a worker that polls and cannot run anything.

describe('worker process: the workflow bundle', () => {
  let deps: TestDeps;
  beforeAll(async () => {
    deps = await connectTestDeps();
  });
  afterAll(async () => {
    await deps?.close();
  });

  it('without WORKFLOW_BUNDLE_PATH: built once in a child process, and workflows run from it', async () => {
    const worker = await startWorkerProcess(deps.config, { WORKFLOW_BUNDLE_PATH: '' });
    try {
      const out = worker.output();
      const built = out.split('\n').filter((l) => l.includes('"workflow bundle built in a child process"'));
      // One build for both workflow lanes (main and interactive), not one per Worker.create.
      expect(built, out.slice(-3000)).toHaveLength(1);
      expect(JSON.parse(built[0]!)).toMatchObject({ kb: expect.any(Number), ms: expect.any(Number) });
      const probeId = uniqueId('bundle');
      const result = await deps.temporal.client.workflow.execute<StackProbeWorkflow>(StackProbeNames.workflow, {
        taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
        workflowId: WorkflowIds.stackProbe(probeId),
        args: [probeId],
      });
      expect(result).toMatchObject({ probeId, mongoWritten: true, redisWritten: true });
    } finally {
      await worker.stop();
    }
  });

  it('a WORKFLOW_BUNDLE_PATH that does not exist: the worker exits 1 and says how to build one', async () => {
    const missing = `/tmp/${uniqueId('no-bundle')}.js`;
    const started = startWorkerProcess(deps.config, { WORKFLOW_BUNDLE_PATH: missing });
    const err = await started.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/exited \(1\)/);
    expect(err?.message).toContain(missing);
    expect(err?.message).toContain('npm run build:workflows');
  });
});
