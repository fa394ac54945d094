import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTool, REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { freePort } from '../../../infra/dev/servers';
import { promSamples, sampleValue } from '../../../infra/dev/prom-text';
import { MetricNames, SdkMetricNames } from '../../../infra/metrics';
import { WorkflowIds } from '../../../shared/constants';
import { startQueueFor } from '../../../shared/lanes';
import { StackProbeNames, type StackProbeWorkflow } from '../../../shared/stack-probe';

import { connectTestDeps, uniqueId, type TestDeps } from '../../helpers/stack';
import { startWorkerProcess, type WorkerProcess } from '../../helpers/worker-process';

// The real worker process (workers/worker.ts) on the file's task queue runs a workflow with an
// activity; one scrape of its WORKER_METRICS_PORT then holds the Temporal SDK runtime's own
// metrics — schedule-to-start histogram, slots, pollers, named with `_total` and `_seconds` —
// next to ours, as one valid exposition (no metric family twice; promtool parses it).

/** Sample lines of `name` (exactly that name) carrying these labels. */
const samples = promSamples;
const valueOf = sampleValue;

describe('worker process: Temporal SDK metrics beside ours on one scrape target', () => {
  let deps: TestDeps;
  let worker: WorkerProcess;
  let url: string;
  let text: string;

  beforeAll(async () => {
    deps = await connectTestDeps();
    const port = await freePort();
    url = `http://127.0.0.1:${port}/metrics`;
    worker = await startWorkerProcess(deps.config, { WORKER_METRICS_PORT: String(port) });
    const probeId = uniqueId('sdk-metrics');
    await deps.temporal.client.workflow.execute<StackProbeWorkflow>(StackProbeNames.workflow, {
      taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
      workflowId: WorkflowIds.stackProbe(probeId),
      args: [probeId],
    });
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    text = await res.text();
  });
  afterAll(async () => {
    await worker?.stop();
    await deps?.close();
  });

  it('serves the SDK histogram of workflow-task schedule-to-start in seconds, for this task queue', () => {
    // The probe is interactive work: with TEMPORAL_LANES its tasks run on the interactive lane's queue.
    const q = { task_queue: startQueueFor(StackProbeNames.workflow, deps.config.TEMPORAL_TASK_QUEUE) };
    const buckets = samples(text, `${SdkMetricNames.workflowTaskScheduleToStart}_bucket`, q);
    expect(buckets.length, text.slice(0, 2000)).toBeGreaterThan(1);
    expect(buckets.some((l) => l.includes('le="+Inf"') && valueOf(l) >= 1)).toBe(true);
    expect(text).toContain(`# TYPE ${SdkMetricNames.workflowTaskScheduleToStart} histogram`);
    // Seconds, not milliseconds: one local schedule-to-start is far below a minute.
    const [sum] = samples(text, `${SdkMetricNames.workflowTaskScheduleToStart}_sum`, q);
    const [count] = samples(text, `${SdkMetricNames.workflowTaskScheduleToStart}_count`, q);
    expect(valueOf(sum!) / valueOf(count!)).toBeLessThan(60);
  });

  it('serves slots available per worker type and pollers per poller type', () => {
    const q = { task_queue: deps.config.TEMPORAL_TASK_QUEUE };
    expect(samples(text, SdkMetricNames.slotsAvailable, { ...q, worker_type: 'WorkflowWorker' })).toHaveLength(1);
    expect(samples(text, SdkMetricNames.slotsAvailable, { ...q, worker_type: 'ActivityWorker' })).toHaveLength(1);
    expect(valueOf(samples(text, SdkMetricNames.slotsAvailable, { ...q, worker_type: 'WorkflowWorker' })[0]!)).toBeGreaterThan(0);
    const pollers = samples(text, SdkMetricNames.pollers, { ...q, poller_type: 'workflow_task' });
    expect(pollers).toHaveLength(1);
    expect(valueOf(pollers[0]!)).toBeGreaterThan(0);
    // Counters carry `_total` (countersTotalSuffix), as ours do.
    const probeQueue = startQueueFor(StackProbeNames.workflow, deps.config.TEMPORAL_TASK_QUEUE);
    expect(
      samples(text, SdkMetricNames.workflowCompleted, { task_queue: probeQueue, workflow_type: StackProbeNames.workflow }),
    ).toHaveLength(1);
  });

  it('answers our own metrics in the same scrape, as one exposition', () => {
    expect(samples(text, MetricNames.workflowCompletions, { workflow_type: StackProbeNames.workflow, outcome: 'completed' })).toHaveLength(
      1,
    );
    expect(samples(text, `${MetricNames.activityDuration}_count`).length).toBeGreaterThan(0);
    expect(
      samples(text, MetricNames.eventLoopLag, { stat: 'p99' }).length + samples(text, 'process_memory_usage_bytes').length,
    ).toBeGreaterThan(0);
    const families = text
      .split('\n')
      .filter((l) => l.startsWith('# TYPE '))
      .map((l) => l.split(' ')[2]);
    expect(families.length).toBeGreaterThan(20);
    expect(families.filter((f, i) => families.indexOf(f) !== i)).toEqual([]);
    expect(text).not.toMatch(/metrics unavailable/);
  });

  it('parses as Prometheus text: promtool check metrics finds no format error (exit 1), only lint notes at most (exit 3)', async () => {
    // `make tools` built it; cached, this returns at once.
    const promtool = await ensureTool('promtool', path.resolve(REPO_ROOT, process.env.TOOLS_DIR ?? '.tools'));
    const r = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 60_000 });
    expect([0, 3], `${r.stdout}${r.stderr}`).toContain(r.status);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/parsing error/);
  });
});
