import { createTenantSyncState } from '../activities/tenant-sync/state';
import { createRemoteInvalidator } from '../infra/cache-bus';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AppConfig } from '../infra/config';
import type { Logger } from '../infra/logger';
import { Collections, type Mongo } from '../infra/mongo';
import type { LeaseDoc } from '../infra/mongo-lease';
import type { Redis } from '../infra/redis';
import type { TemporalHandle } from '../infra/temporal';
import requestContext, { correlationIdFrom } from './plugins/request-context';
import errorHandler from './plugins/error-handler';
import auth from './plugins/auth';
import helmet from '@fastify/helmet';
import cors from '@fastify/cors';
import openapi from './plugins/openapi';
import metrics from './plugins/metrics';
import type { Telemetry } from '../infra/telemetry';
import idempotency from './plugins/idempotency';
import rateLimit from './plugins/rate-limit';
import mongoPlugin from './plugins/mongo';
import redisPlugin from './plugins/redis';
import temporalPlugin from './plugins/temporal';
import healthRoutes from './routes/health';
import tenantRoutes from './routes/tenants';
import syncRoutes from './routes/sync';
import reconcileRoutes from './routes/reconcile';
import { laneQueue } from '../shared/lanes';
import { createReconcileService } from './services/reconcile/service';
import { createQuotaService, quotaSettingsFromConfig } from './services/quotas/quotas';
import clientRoutes from './routes/clients';
import migrationRoutes from './routes/migrations';
import { createBackupService } from './services/migrations/backups';
import secretsRoutes from './routes/secrets';
import { createSecretsService } from './services/maintenance/secrets';
import maintenanceRoutes from './routes/maintenance';
import pauseRoutes from './routes/pauses';
import { createPauseService } from './services/maintenance/pauses';
import { createSchedulesService } from './services/maintenance/schedules';
import { createPauseStore } from '../activities/maintenance/pause-store';
import probeRoutes from './routes/probe';
import workRoutes from './routes/work';
import { createWorkView } from './services/maintenance/work-view';
import type { MigrationRegistry } from '../activities/migrations/registry';
import { createClientStore } from '../activities/client-upsert/store';
import { createTenantRepository, type TenantRepository } from '../activities/tenant-sync/registry';
import type { Keyring } from '../infra/secrets';
import { createSyncStore, type SyncStore } from '../activities/tenant-sync/store';
import { createTenantSyncActivities } from '../activities/tenant-sync/activities';
import { activityDepsFromConfig, activitySettingsFromConfig } from '../activities/settings-from-config';
import { createDirectSync } from './services/tenant-sync/direct-sync';
import { createTemporalLogin } from './services/tenant-sync/temporal-login';
import { createLoginSync } from './services/tenant-sync/login-sync';
import { createWorkerPresence, describeWorkflowPollers, loginQueueOf } from './services/tenant-sync/worker-presence';
import { cacheFromConfig } from '../infra/cache/cache';
import { cachedSyncStore, cachedTenantRepository } from '../activities/tenant-sync/cached-stores';
import cacheRoutes from './routes/cache';
import { platformGaugeReaders, registerPlatformGauges } from './services/maintenance/platform-gauges';
import dashboardRoutes from './routes/dashboard';
import { createDashboard } from './services/dashboard/dashboard';

/** Everything the API needs, created by the entry point (or a test) and closed by it. */
export interface AppDeps {
  config: AppConfig;
  log: Logger;
  mongo: Mongo;
  redis: Redis;
  /** Absent when TEMPORAL_ENABLED=false. */
  temporal?: TemporalHandle;
  /** Migrations known to the API (default: the files in migrations/). */
  migrations?: MigrationRegistry;
  /** The process's telemetry (GET /health/metrics); absent: that route answers 404. */
  telemetry?: Telemetry;
  /** Seals and reveals stored secrets. @default the keyring of `config.SECRETS_KEY` */
  secrets?: Keyring;
  /** Redis of the login-path cache (infra/cache). @default redis */
  cacheRedis?: Redis;
  /** True once the process is shutting down: /health/ready answers 503 (api/server.ts). @default never */
  draining?: () => boolean;
  /** Hand mongo, redis and temporal over: app.close() closes them (api/server.ts). @default false (the caller closes them) */
  closeClients?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    registeredRoutes: ReadonlyArray<{ method: string; url: string }>;
    /** The one tenant registry: tenant routes, the direct path's activities and reconcile share it. */
    tenants: TenantRepository;
    /** The one sync store: sync routes, login sync, the direct path and its activities share it. */
    syncStore: SyncStore;
  }
}

/** Fastify factory: plugins, then routes. Only api/server.ts listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Request logs are our own (request-context plugin): redacted, hashed users, one line each way.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'correlationId' }),
    genReqId: correlationIdFrom,
    bodyLimit: 256 * 1024,
    // Long IDs must reach the schema (400), not fall through to 404.
    routerOptions: { maxParamLength: 16_384 },
    trustProxy: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Every route as registered (the OpenAPI test checks each one is documented).
  const registeredRoutes: Array<{ method: string; url: string }> = [];
  app.decorate('registeredRoutes', registeredRoutes);
  app.addHook('onRoute', (r) => {
    for (const method of Array.isArray(r.method) ? r.method : [r.method]) registeredRoutes.push({ method, url: r.url });
  });
  // Resources first (fastify/demo's plugins/external): each decorates the instance; closed with it only when handed over.
  const close = deps.closeClients ?? false;
  await app.register(mongoPlugin, { mongo: deps.mongo, close });
  await app.register(redisPlugin, { redis: deps.redis, close });
  await app.register(temporalPlugin, { temporal: deps.temporal, close });
  await app.register(requestContext);
  await app.register(errorHandler);
  await app.register(helmet, { global: true });
  if (deps.config.CORS_ORIGINS.length > 0) await app.register(cors, { origin: deps.config.CORS_ORIGINS });
  await app.register(openapi);
  // After openapi: /health/metrics is documented like every route.
  await app.register(metrics, { telemetry: deps.telemetry });
  await app.register(auth, { secret: deps.config.AUTH_JWT_SECRET });
  await app.register(rateLimit, {
    redis: app.redis,
    perSubject: deps.config.RATE_LIMIT_PER_SUBJECT,
    perTenant: deps.config.RATE_LIMIT_PER_TENANT,
    windowMs: deps.config.RATE_LIMIT_WINDOW_MS,
  });
  // After the rate limits: the Idempotency-Key is claimed by the last preHandler.
  await app.register(idempotency, { redis: app.redis, ttlSeconds: deps.config.IDEMPOTENCY_TTL_S });

  const { config, log } = deps;
  const { mongo, redis, temporal } = app;
  // Every store and service once, handed to whatever needs it.
  // The direct path runs the worker's own tenant-sync activities, built from config the same way.
  const activityDeps = activityDepsFromConfig(config, { mongo, redis, log, secrets: deps.secrets });
  const { secrets, outbound } = activityDeps;
  const repo = createTenantRepository(mongo.db, secrets);
  const store = createSyncStore(mongo.db);
  app.decorate('tenants', repo);
  app.decorate('syncStore', store);
  // The login path reads its tenant and freshness status through the cache (one per app).
  const cache = cacheFromConfig(config, { redis: deps.cacheRedis ?? redis, scope: mongo.db.databaseName, log });
  app.addHook('onClose', async () => cache.close());
  // Draining (SIGTERM): every answer closes its connection, so keep-alive clients reconnect to
  // another process and the server's close is not held open by sockets that were busy when it began.
  if (deps.draining) {
    const draining = deps.draining;
    app.addHook('onSend', async (_req, reply) => {
      if (draining()) void reply.header('connection', 'close');
    });
  }
  const loginTenants = cachedTenantRepository(repo, cache);
  const loginStore = cachedSyncStore(store, cache);
  const activities = createTenantSyncActivities(activityDeps, activitySettingsFromConfig(config).tenantSync, {
    tenants: loginTenants,
    store: loginStore,
  });
  const lockTtlMs = config.DIRECT_SYNC_LOCK_TTL_MS;
  const states = (tenantId: string, names: readonly string[]) => createTenantSyncState(mongo.tenantDb(tenantId)).getMany(names);
  const leases = mongo.db.collection<LeaseDoc>(Collections.leases);
  const direct = createDirectSync({ activities, store: loginStore, leases, log, concurrency: config.SYNC_CONCURRENCY, lockTtlMs, states });
  // A direct run records itself and lets go of its lease after its login's answer: closing waits for that.
  app.addHook('onClose', async () => direct.settle());
  const temporalLogin = temporal
    ? createTemporalLogin({
        temporal,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        timeoutMs: config.TEMPORAL_AUTH_TIMEOUT_MS,
        breaker: {
          failures: config.TEMPORAL_BREAKER_FAILURES,
          windowMs: config.TEMPORAL_BREAKER_WINDOW_MS,
          resetMs: config.TEMPORAL_BREAKER_RESET_MS,
        },
        log,
      })
    : undefined;
  // Start quotas, one per app, counted in Redis per task queue (deployments sharing a Redis stay apart).
  const quotas = createQuotaService({ redis, scope: config.TEMPORAL_TASK_QUEUE, settings: quotaSettingsFromConfig(config), log });
  // Does a worker poll the queue logins start on? Asked lazily (the first login or readiness probe).
  const loginQueue = loginQueueOf(config);
  const presence =
    temporal && config.WORKER_PRESENCE_TTL_MS > 0
      ? createWorkerPresence({
          describe: describeWorkflowPollers(temporal, loginQueue),
          taskQueue: loginQueue,
          ttlMs: config.WORKER_PRESENCE_TTL_MS,
          log,
        })
      : undefined;
  const loginSync = createLoginSync({
    config,
    log,
    tenants: loginTenants,
    store: loginStore,
    direct,
    temporal: temporalLogin,
    quotas,
    presence,
  });
  app.addHook('onClose', async () => temporalLogin?.shutdown());

  await app.register(healthRoutes, { deps, presence });
  const taskQueue = config.TEMPORAL_TASK_QUEUE;
  // Work pauses (stored, so every API process honours them) and the schedules they pause.
  const schedules = createSchedulesService({ temporal, taskQueue });
  const pauses = createPauseService({ store: createPauseStore(mongo.db), schedules: temporal ? schedules : undefined, taskQueue, log });
  const allowedUris = config.RECONCILE_ALLOWED_URIS;
  const partitionQueue = config.TEMPORAL_LANES ? laneQueue(taskQueue, 'bulk') : undefined;
  const reconcile = createReconcileService({
    mongo,
    temporal,
    taskQueue,
    partitionQueue,
    log,
    secrets,
    tenants: repo,
    allowedUris,
    quotas,
    pauses,
  });
  const onTenantChanged = (tenantId: string) => cache.namespace('tenants').invalidate(tenantId);
  await app.register(tenantRoutes, { repo, platformDb: mongo.db.databaseName, outbound, onTenantChanged });
  await app.register(syncRoutes, { loginSync, store, stuckAfterMs: config.SYNC_STUCK_AFTER_MS, pauses, presence });
  await app.register(reconcileRoutes, { service: reconcile });
  const clientStore = createClientStore(mongo.db);
  await app.register(clientRoutes, { store: clientStore, temporal, taskQueue, concurrency: config.CLIENT_UPSERT_CONCURRENCY, log, pauses });
  const backups = createBackupService({
    db: mongo.db,
    batchSize: config.MIGRATION_BATCH_SIZE,
    retentionMs: config.MIGRATION_BACKUP_RETENTION_MS,
  });
  await app.register(migrationRoutes, { mongo, temporal, taskQueue, registry: deps.migrations, backups, quotas, pauses });
  await app.register(secretsRoutes, {
    service: createSecretsService({
      db: mongo.db,
      keyring: secrets,
      invalidator: createRemoteInvalidator(redis, mongo.db.databaseName, log),
    }),
  });
  await app.register(maintenanceRoutes, { temporal, taskQueue, schedules, pauses });
  await app.register(pauseRoutes, { pauses });
  await app.register(probeRoutes, { temporal, taskQueue });
  const workView = createWorkView({ temporal, taskQueue, lanes: config.TEMPORAL_LANES, db: mongo.db, quotas: quotas.settings });
  await app.register(workRoutes, { view: workView });
  // Gauges the alert rules read (syncs, reconcile batches, dead letters, worker presence): with telemetry only.
  if (deps.telemetry) {
    const readers = platformGaugeReaders({ store, stuckAfterMs: config.SYNC_STUCK_AFTER_MS, reconcile, temporal, taskQueue, presence });
    const gauges = registerPlatformGauges(readers, { log });
    app.addHook('onClose', async () => gauges.close());
  }
  await app.register(cacheRoutes, { cache });
  const dashboard = createDashboard({
    mongo,
    store,
    stuckAfterMs: config.SYNC_STUCK_AFTER_MS,
    loginSync,
    reconcile,
    workView: temporal ? workView : undefined,
    pauses,
    quotas: quotas.settings,
    cache,
    log,
  });
  await app.register(dashboardRoutes, { dashboard });
  await app.ready();
  return app;
}
