import { readFileSync } from 'node:fs';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfigOrExit } from '../infra/config';
import { createLogger } from '../infra/logger';
import { connectMongo } from '../infra/mongo';
import { createRedis } from '../infra/redis';
import { activityDepsFromConfig, activitySettingsFromConfig } from '../activities/settings-from-config';
import { createWorker } from '../workers/create-worker';

// The benchmark's worker process: workers/worker.ts without bundling at start (the bundle is
// built once by the benchmark, BUNDLE_PATH), so that its peak RSS measures the work, not webpack.

const config = loadConfigOrExit();
const log = createLogger({ name: 'bench-worker', level: config.LOG_LEVEL, pretty: 'false' });
Runtime.install({ logger: new DefaultLogger('WARN', (e) => log.warn({ ...e.meta }, e.message)), shutdownSignals: [] });
const mongo = await connectMongo(config, log);
const redis = createRedis(config, log, 'worker');
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const worker = await createWorker({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  taskQueue: config.TEMPORAL_TASK_QUEUE,
  deps: activityDepsFromConfig(config, { mongo, redis, log }),
  settings: activitySettingsFromConfig(config),
  workflowBundle: { code: readFileSync(process.env.BUNDLE_PATH!, 'utf8') },
});
const stop = () => worker.shutdown();
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
if (process.env.BENCH_MEMLOG) {
  const mb = (n: number) => Math.round(n / 1048576);
  setInterval(() => {
    const m = process.memoryUsage();
    process.stderr.write(
      `mem rss ${mb(m.rss)} heapUsed ${mb(m.heapUsed)} heapTotal ${mb(m.heapTotal)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)}\n`,
    );
  }, 2_000).unref();
}
process.stdout.write('worker running\n');
await worker.run();
await connection.close();
await Promise.allSettled([mongo.close(), redis.quit()]);
