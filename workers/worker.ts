import { NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfigOrExit } from '../infra/config';
import { loggerFromConfig } from '../infra/logger';
import { connectMongo } from '../infra/mongo';
import { createRedis } from '../infra/redis';
import { onShutdownSignal } from '../infra/shutdown';
import { startTelemetry } from '../infra/telemetry';
import { activityDepsFromConfig, activitySettingsFromConfig } from '../activities/settings-from-config';
import { createWorker, laneSettingsFromConfig } from './create-worker';
import { upsertClientsOnStart } from './client-upsert-on-start';
import { createPauseStore } from '../activities/maintenance/pause-store';
import { ensureSchedulesOnStart } from './schedules';
import { runtimeLoggerTo } from './telemetry';

// Worker entry point: telemetry first (metrics on WORKER_METRICS_PORT, traces over OTLP when
// configured), Temporal runtime logs through pino; SIGINT/SIGTERM drain gracefully.

const config = loadConfigOrExit();
const log = loggerFromConfig(config, 'worker');

const telemetry = await startTelemetry({
  serviceName: 'worker',
  metricsPort: config.WORKER_METRICS_PORT,
  metricsHost: config.WORKER_METRICS_HOST,
  otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
});
if (telemetry.metricsUrl) log.info({ url: telemetry.metricsUrl }, 'worker metrics served');
Runtime.install({ logger: runtimeLoggerTo(log), shutdownSignals: [] });

const mongo = await connectMongo(config, log);
const redis = createRedis(config, log, 'worker');
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const worker = await createWorker({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  taskQueue: config.TEMPORAL_TASK_QUEUE,
  deps: activityDepsFromConfig(config, { mongo, redis, log }),
  settings: activitySettingsFromConfig(config),
  priority: config.TEMPORAL_PRIORITY,
  slots: { activities: config.WORKER_MAX_CONCURRENT_ACTIVITIES, workflowTasks: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS },
  lanes: laneSettingsFromConfig(config),
});

onShutdownSignal(log, config.SHUTDOWN_TIMEOUT_MS + 5_000, async () => {
  worker.shutdown();
  await running;
  await connection.close();
  await Promise.allSettled([mongo.close(), redis.quit(), telemetry.shutdown()]);
});

log.info(
  {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    lanes: Object.fromEntries(Object.entries(worker.lanes).map(([l, w]) => [l, w.options.taskQueue])),
    namespace: config.TEMPORAL_NAMESPACE,
  },
  'worker running',
);
const running = worker.run();
if (config.CLIENT_UPSERT_ON_START) void upsertClientsOnStart({ connection, config, log, pauses: createPauseStore(mongo.db) });
if (config.SCHEDULES_ON_START) void ensureSchedulesOnStart({ connection, config, log });
await running;
