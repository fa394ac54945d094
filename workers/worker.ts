import { NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfigOrExit } from '../infra/config';
import { loggerFromConfig } from '../infra/logger';
import { connectMongo } from '../infra/mongo';
import { createRedis } from '../infra/redis';
import { temporalConnectionOptions } from '../infra/temporal';
import { onShutdownSignal } from '../infra/shutdown';
import { startTelemetry } from '../infra/telemetry';
import { activityDepsFromConfig, activitySettingsFromConfig } from '../activities/settings-from-config';
import { createWorker, laneSettingsFromConfig } from './create-worker';
import { loadWorkflowBundle } from './workflow-bundle';
import { cacheFromConfig } from '../infra/cache/cache';
import { upsertClientsOnStart } from './client-upsert-on-start';
import { createPauseStore } from '../activities/maintenance/pause-store';
import { ensureSchedulesOnStart } from './schedules';
import { freeLoopbackPort, runtimeLoggerTo, sdkMetricsExporter, sdkMetricsSource } from './telemetry';

// Worker entry point: telemetry first (metrics on WORKER_METRICS_PORT, traces over OTLP when
// configured), the Temporal runtime's own metrics joined to that answer, its logs through pino;
// SIGINT/SIGTERM drain gracefully.

const config = loadConfigOrExit();
const log = loggerFromConfig(config, 'worker');

// Built (or read) while the connections below are made (workers/workflow-bundle.ts).
const bundling = loadWorkflowBundle({ prebuilt: config.WORKFLOW_BUNDLE_PATH, log });
bundling.catch(() => undefined); // awaited below; a failure surfaces there
const telemetry = await startTelemetry({
  serviceName: 'worker',
  metricsPort: config.WORKER_METRICS_PORT,
  metricsHost: config.WORKER_METRICS_HOST,
  otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
});
// The SDK's exporter listens on loopback only: it is read through the worker's /metrics.
const sdkMetrics = telemetry.metricsUrl ? `127.0.0.1:${await freeLoopbackPort()}` : undefined;
Runtime.install({
  logger: runtimeLoggerTo(log),
  shutdownSignals: [],
  ...(sdkMetrics ? { telemetryOptions: { metrics: sdkMetricsExporter(sdkMetrics) } } : {}),
});
if (sdkMetrics) telemetry.addMetricsSource(sdkMetricsSource(sdkMetrics));
if (telemetry.metricsUrl) log.info({ url: telemetry.metricsUrl }, 'worker metrics served (with the Temporal SDK metrics)');

const mongo = await connectMongo(config, log);
const redis = createRedis(config, log, 'worker');
// The read cache the API's login path has (infra/cache): a login's collection syncs read their
// tenant through it; the API's tenant writes reach it over the cache bus.
const cache = cacheFromConfig(config, { redis, scope: mongo.db.databaseName, log });
const connection = await NativeConnection.connect(temporalConnectionOptions(config));
const worker = await createWorker({
  connection,
  workflowBundle: await bundling.catch((err: unknown) => {
    log.fatal({ err: err instanceof Error ? err.message : String(err) }, 'no workflow bundle: the worker cannot start');
    process.exit(1);
  }),
  namespace: config.TEMPORAL_NAMESPACE,
  taskQueue: config.TEMPORAL_TASK_QUEUE,
  deps: activityDepsFromConfig(config, { mongo, redis, log, cache }),
  settings: activitySettingsFromConfig(config),
  priority: config.TEMPORAL_PRIORITY,
  slots: { activities: config.WORKER_MAX_CONCURRENT_ACTIVITIES, workflowTasks: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS },
  lanes: laneSettingsFromConfig(config),
  // Activities get the shutdown budget to finish; onShutdownSignal allows 5 s more for the rest.
  shutdownGraceTime: config.SHUTDOWN_TIMEOUT_MS,
});

onShutdownSignal(log, config.SHUTDOWN_TIMEOUT_MS + 5_000, async () => {
  worker.shutdown();
  await running;
  await connection.close();
  await cache.close();
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
