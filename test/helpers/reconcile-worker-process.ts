import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../../infra/dev/ensure-tools';
import { tsEntry } from '../../infra/dev/ts-entry';
import type { AppConfig } from '../../infra/config';
import { stackInfo } from './stack';

// test/helpers/reconcile-worker.ts as one node process (no tsx wrapper, so a SIGKILL kills the
// worker itself): the kill tests' worker, on the test's task queue, its name on every chunk.

export interface ReconcileWorkerOptions {
  taskQueue: string;
  workerId: string;
  /** Pause before each chunk (ms), so that a kill lands mid-run. */
  chunkDelayMs: number;
  /** Where a hashed scan spills (RECONCILE_SPILL_DIR). */
  spillDir?: string;
}

/** Spawns the worker and resolves once it polls; `track` receives the child before it is ready. */
export function spawnReconcileWorker(
  config: Pick<AppConfig, 'MONGODB_URI' | 'MONGODB_DB' | 'REDIS_URL' | 'TEMPORAL_ADDRESS'>,
  o: ReconcileWorkerOptions,
  track: (c: ChildProcess) => void = () => undefined,
): Promise<ChildProcess> {
  const [cmd, args] = tsEntry(path.join(REPO_ROOT, 'test/helpers/reconcile-worker.ts'));
  const child = spawn(cmd, args, {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      MONGODB_URI: config.MONGODB_URI,
      MONGODB_DB: config.MONGODB_DB,
      REDIS_URL: config.REDIS_URL,
      TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: o.taskQueue,
      BUNDLE_PATH: stackInfo().bundlePath,
      WORKER_ID: o.workerId,
      CHUNK_DELAY_MS: String(o.chunkDelayMs),
      ...(o.spillDir ? { RECONCILE_SPILL_DIR: o.spillDir } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-2000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${o.workerId} not ready:\n${err}`)), 45_000);
    child.stdout!.on('data', (b: Buffer) => {
      if (b.toString().includes('worker ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => reject(new Error(`worker ${o.workerId} exited (${code}):\n${err}`)));
  });
}
