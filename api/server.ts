import { apiListenProblems, ConfigError, loadConfigOrExit } from '../infra/config';
import { loggerFromConfig } from '../infra/logger';
import { connectMongo } from '../infra/mongo';
import { createRedis } from '../infra/redis';
import { createTemporalClient } from '../infra/temporal';
import { onShutdownSignal } from '../infra/shutdown';
import { startTelemetry } from '../infra/telemetry';
import { buildApp } from './app';

// API entry point: build deps, listen, shut down gracefully on SIGINT/SIGTERM.

const config = loadConfigOrExit();
const listenProblems = apiListenProblems(config);
if (listenProblems.length > 0) {
  process.stderr.write(`${new ConfigError(listenProblems).message}\n`);
  process.exit(78); // EX_CONFIG
}
const log = loggerFromConfig(config, 'api');
if (config.usingDevJwtSecret) log.warn('AUTH_JWT_SECRET is not set: using the development secret (never in production)');

// Before anything makes a Temporal client or a metric instrument (they bind to the global providers).
const telemetry = await startTelemetry({ serviceName: 'api', otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
const mongo = await connectMongo(config, log);
const redis = createRedis(config, log);
const temporal = config.TEMPORAL_ENABLED ? createTemporalClient(config) : undefined;
// Created here, owned by the app: its mongo/redis/temporal plugins close them in onClose (closeClients).
let draining = false;
const app = await buildApp({ config, log, mongo, redis, temporal, telemetry, closeClients: true, draining: () => draining });

// Readiness turns 503 first; after SHUTDOWN_DRAIN_DELAY_MS the server stops accepting, answers
// what is in flight and closes its clients (fastify's close; idle keep-alive sockets are closed).
onShutdownSignal(log, config.SHUTDOWN_TIMEOUT_MS, async () => {
  draining = true;
  if (config.SHUTDOWN_DRAIN_DELAY_MS > 0) await new Promise((r) => setTimeout(r, config.SHUTDOWN_DRAIN_DELAY_MS));
  await app.close();
  await telemetry.shutdown();
});

await app.listen({ host: config.HOST, port: config.PORT });
log.info({ url: `http://${config.HOST}:${config.PORT}`, useTemporalForAuth: config.USE_TEMPORAL_FOR_AUTH }, 'api listening');
