import type { AppConfig } from '../../infra/config';
import { startEntryProcess, type EntryProcess } from './entry-process';
import { stackInfo } from './stack';

// The real worker entry point (node --import tsx workers/worker.ts) as its own process over the file's servers,
// database and task queue: what only a process of its own has (the Temporal runtime, installed
// once per process, and its metrics exporter) is seen as operators see it.

export type WorkerProcess = Omit<EntryProcess, 'child'>;

const ENV_KEYS = ['MONGODB_URI', 'MONGODB_DB', 'REDIS_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_TASK_QUEUE', 'AUTH_JWT_SECRET'] as const;

/**
 * Starts the worker and resolves once it logs `worker running` (within 90 s). It reads the bundle
 * the test setup built (WORKFLOW_BUNDLE_PATH) unless `env` names another; `WORKFLOW_BUNDLE_PATH: ''`
 * leaves it unset, so the worker builds its own in a child process as `npm run worker` does.
 */
export async function startWorkerProcess(config: AppConfig, env: Record<string, string> = {}): Promise<WorkerProcess> {
  const { WORKFLOW_BUNDLE_PATH: bundle = stackInfo().bundlePath, ...rest } = env;
  const p = await startEntryProcess({
    entry: 'workers/worker.ts',
    env: {
      ...process.env,
      ...Object.fromEntries(ENV_KEYS.map((k) => [k, String(config[k])])),
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
      SCHEDULES_ON_START: 'false',
      CLIENT_UPSERT_ON_START: 'false',
      ...rest,
      ...(bundle ? { WORKFLOW_BUNDLE_PATH: bundle } : {}),
    },
    readyText: '"worker running"',
    keepChars: 20_000,
  });
  return { output: p.output, kill: p.kill, exited: p.exited, stop: p.stop };
}
