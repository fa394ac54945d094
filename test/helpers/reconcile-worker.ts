import { readFileSync } from 'node:fs';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig } from '../../infra/config';
import { createLogger } from '../../infra/logger';
import { connectMongo } from '../../infra/mongo';
import { createRedis } from '../../infra/redis';
import { activityDepsFromConfig, activitySettingsFromConfig } from '../../activities/settings-from-config';
import { createWorker } from '../../workers/create-worker';

// A worker in its own process for the kill test: the stack's workflow bundle, the test's task
// queue, a name on every chunk it records, and an optional pause before each chunk so that a
// SIGKILL lands mid-run. Env: MONGODB_URI, MONGODB_DB, REDIS_URL, TEMPORAL_ADDRESS,
// TEMPORAL_TASK_QUEUE, BUNDLE_PATH, WORKER_ID, CHUNK_DELAY_MS.

const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent', NODE_ENV: 'test' });
const log = createLogger({ name: 'reconcile-test-worker', level: 'silent' });
Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
const delay = Number(process.env.CHUNK_DELAY_MS ?? 0);

const mongo = await connectMongo(config, log);
const redis = createRedis(config, log, 'worker');
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const worker = await createWorker({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  taskQueue: config.TEMPORAL_TASK_QUEUE,
  deps: activityDepsFromConfig(config, { mongo, redis, log }),
  workflowBundle: { code: readFileSync(process.env.BUNDLE_PATH!, 'utf8') },
  settings: activitySettingsFromConfig(config, {
    reconcile: { workerId: process.env.WORKER_ID, beforeChunk: delay > 0 ? () => new Promise((r) => setTimeout(r, delay)) : undefined },
  }),
  shutdownGraceTime: '1 second',
});
const running = worker.run();
process.stdout.write('worker ready\n');
await running;
