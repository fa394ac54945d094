import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig, type AppConfig } from '../../infra/config';
import { createLogger, type Logger } from '../../infra/logger';
import { connectMongo } from '../../infra/mongo';
import { createRedis } from '../../infra/redis';
import { createTemporalClient, type TemporalHandle } from '../../infra/temporal';
import { workflowQueuesOf } from '../../shared/lanes';
import { expectedRuntimeNotice } from '../../workers/telemetry';
import { createWorker, laneSettingsFromConfig, type CreateWorkerOptions, type WorkerGroup } from '../../workers/create-worker';
import type { ActivityDeps } from '../../activities';
import { activityDepsFromConfig, activitySettingsFromConfig } from '../../activities/settings-from-config';

// Real clients for the stack the global setup started. Fails loudly when it is missing.

export function stackInfo() {
  const s = inject('stack');
  if (!s?.temporalAddress) throw new Error('The integration stack is not running: run through `make test` (vitest --project integration)');
  return s;
}

/** What a child process (API, worker, CLI) needs to reach the servers, database and task queue `c` names. */
export function serverEnv(
  c: Pick<AppConfig, 'MONGODB_URI' | 'MONGODB_DB' | 'REDIS_URL' | 'TEMPORAL_ADDRESS' | 'TEMPORAL_TASK_QUEUE' | 'AUTH_JWT_SECRET'>,
): Record<string, string> {
  return {
    MONGODB_URI: c.MONGODB_URI,
    MONGODB_DB: c.MONGODB_DB,
    REDIS_URL: c.REDIS_URL,
    TEMPORAL_ADDRESS: c.TEMPORAL_ADDRESS,
    TEMPORAL_TASK_QUEUE: c.TEMPORAL_TASK_QUEUE,
    AUTH_JWT_SECRET: c.AUTH_JWT_SECRET,
  };
}

export const uniqueId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

export interface TestDeps extends ActivityDeps {
  config: AppConfig;
  temporal: TemporalHandle;
  close(): Promise<void>;
}

/** Config + clients for one test file: its own platform database and task queue. */
export async function connectTestDeps(env: Record<string, string> = {}, log?: Logger): Promise<TestDeps> {
  const s = stackInfo();
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    MONGODB_URI: s.mongoUri,
    MONGODB_DB: uniqueId('test').replace(/-/g, '_').slice(0, 38),
    REDIS_URL: s.redisUrl,
    TEMPORAL_ADDRESS: s.temporalAddress,
    TEMPORAL_TASK_QUEUE: uniqueId('tq'),
    AUTH_JWT_SECRET: 'test-secret-0123456789abcdef0123456789',
    // Tests that assert which path answered must not race a hedge on a loaded machine (a cold
    // Temporal login can pass the hedge's 1.5 s bound); the hedge has tests of its own, which turn it on.
    LOGIN_HEDGE: 'false',
    ...env,
  });
  const logger = log ?? createLogger({ name: 'test', level: 'silent' });
  const mongo = await connectMongo(config, logger);
  const redis = createRedis(config, logger, 'test');
  const temporal = createTemporalClient(config);
  return {
    config,
    temporal,
    ...activityDepsFromConfig(config, { mongo, redis, log: logger }),
    async close() {
      await mongo.db.dropDatabase().catch(() => undefined);
      await Promise.allSettled([mongo.close(), redis.quit(), temporal.close()]);
    },
  };
}

let bundleCode: string | undefined;
let runtimeInstalled = false;

/** The SDK's runtime logs only warnings in tests (one runtime per process). */
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    const warnings = new DefaultLogger('WARN');
    Runtime.install({
      logger: new DefaultLogger('WARN', (entry) => {
        if (!expectedRuntimeNotice(entry)) warnings.log(entry.level, entry.message, entry.meta);
      }),
      shutdownSignals: [],
    });
  } catch {
    // already installed by an earlier file in this process
  }
}

export interface TestWorker {
  worker: WorkerGroup;
  stop(): Promise<void>;
}

/**
 * Runs a worker in this process on the file's task queue, from the bundle built once. Its
 * activity settings come from `deps.config` as the real worker's do; `extra.settings` merge in.
 */
export async function startTestWorker(deps: TestDeps, extra: Partial<CreateWorkerOptions> = {}): Promise<TestWorker> {
  quietRuntime();
  bundleCode ??= readFileSync(stackInfo().bundlePath, 'utf8');
  const connection = await NativeConnection.connect({ address: deps.config.TEMPORAL_ADDRESS });
  const worker = await createWorker({
    connection,
    namespace: deps.config.TEMPORAL_NAMESPACE,
    taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
    deps,
    workflowBundle: { code: bundleCode },
    shutdownGraceTime: '2 seconds',
    lanes: laneSettingsFromConfig(deps.config),
    ...extra,
    settings: activitySettingsFromConfig(deps.config, extra.settings),
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

/** A visibility clause for every queue the deployment `base` runs workflows on (main and its interactive lane). */
export function queuesClause(base: string): string {
  return `(${workflowQueuesOf(base)
    .map((q) => `TaskQueue = '${q}'`)
    .join(' OR ')})`;
}
