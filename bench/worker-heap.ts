// npm run bench:worker-heap -- (env N=1500; NO_TEL=1 without telemetry)
// Does the worker keep memory per workflow run? Runs N stack-probe workflows (one activity
// each) through an in-process worker with the full interceptor set and prints the heap after a
// forced GC every 300 runs: flat means RSS growth is allocator headroom, not retained state.

import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { startBenchStack } from './harness';
import { loadConfig } from '../infra/config';
import { createLogger } from '../infra/logger';
import { connectMongo } from '../infra/mongo';
import { createRedis } from '../infra/redis';
import { activityDepsFromConfig, activitySettingsFromConfig } from '../activities/settings-from-config';
import { createTemporalClient } from '../infra/temporal';
import { startTelemetry } from '../infra/telemetry';
import { createWorker } from '../workers/create-worker';
import { StackProbeNames, type StackProbeWorkflow } from '../shared/stack-probe';

const say = (m: string) => process.stderr.write(`[worker-heap] ${m}\n`);
const bench = await startBenchStack(say);
const config = loadConfig({ ...bench.env, LOG_LEVEL: 'silent', TEMPORAL_TASK_QUEUE: 'worker-heap' });
const log = createLogger({ name: 'worker-heap', level: 'silent' });
if (!process.env.NO_TEL) await startTelemetry({ serviceName: 'worker-heap' });
Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
const mongo = await connectMongo(config, log);
const redis = createRedis(config, log);
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const deps = activityDepsFromConfig(config, { mongo, redis, log });
const settings = activitySettingsFromConfig(config);
const worker = await createWorker({ connection, namespace: 'default', taskQueue: 'worker-heap', deps, settings });
const running = worker.run();
const temporal = createTemporalClient(config);
const N = Number(process.env.N ?? 1500);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:worker-heap does)');
const gcNow = () => {
  gc();
  gc();
  return Math.round(process.memoryUsage().heapUsed / 1e6);
};
for (let i = 1; i <= N; i++) {
  const probe = { taskQueue: 'worker-heap', workflowId: `worker-heap-${i}`, args: [`p${i}`] as [string] };
  await temporal.client.workflow.execute<StackProbeWorkflow>(StackProbeNames.workflow, probe);
  if (i % 300 === 0) say(`${i} runs: heapUsed after GC ${gcNow()} MB, rss ${Math.round(process.memoryUsage().rss / 1e6)} MB`);
}
worker.shutdown();
await running;
await connection.close();
await temporal.close();
await mongo.close();
redis.disconnect();
await bench.close();
process.exit(0);
