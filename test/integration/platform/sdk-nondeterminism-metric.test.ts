import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { tsEntry } from '../../../infra/dev/ts-entry';
import { SdkMetricNames } from '../../../infra/metrics';
import { stackInfo, uniqueId } from '../../helpers/stack';

// Alert NonDeterminismFailures reads the SDK's workflow-task failure counter with
// failure_reason="NonDeterminismError", summed by workflow_type. Here the real SDK (in a child
// process, with the worker's exporter settings) fails a workflow task on replay against changed
// code, and its exporter shows exactly that series.

function run(env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const [cmd, args] = tsEntry(path.join(REPO_ROOT, 'test/fixtures/nondeterminism/run.ts'));
    const child = spawn(cmd, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`non-determinism run exited ${String(code)}:\n${out.slice(-4000)}`));
    });
  });
}

describe('Temporal SDK metrics: a non-determinism failure', () => {
  it('is counted under failure_reason="NonDeterminismError" with its workflow type', async () => {
    const taskQueue = uniqueId('nd');
    const out = await run({ TEMPORAL_ADDRESS: stackInfo().temporalAddress, TASK_QUEUE: taskQueue, WORKFLOW_ID: uniqueId('nd-wf') });
    const text = out.split('---metrics---\n')[1]?.split('\n---end---')[0] ?? '';
    const failures = text
      .split('\n')
      .filter((l) => l.startsWith(`${SdkMetricNames.workflowTaskFailed}{`) && l.includes(`task_queue="${taskQueue}"`));
    const nd = failures.filter((l) => l.includes('failure_reason="NonDeterminismError"'));
    expect(nd, out.slice(-3000)).toHaveLength(1);
    expect(nd[0]).toContain('workflow_type="ndWorkflow"');
    expect(Number(nd[0]!.slice(nd[0]!.lastIndexOf(' ') + 1))).toBeGreaterThanOrEqual(1);
  }, 120_000);
});
