import { z } from 'zod';
import { secretsKeyProblems } from './secrets';
import { AppError } from '../shared/errors';
import { bool, csv, hostPort, int, opt } from './config-options';

// One schema for every environment variable. Each entry carries its default and its
// documentation (`opt`): the README configuration table and .env.example are generated from it
// by `npx tsx infra/dev/gen-config-docs.ts`, and test/unit/platform/env-example.test.ts keeps them in step.

const DEV_JWT_SECRET = 'dev-only-secret-change-me-0123456789abcdef';

const httpUrl = /^https?:\/\/[^\s]+$/;

export const configShape = {
  // API and worker processes
  NODE_ENV: opt(
    z.enum(['development', 'production', 'test']).default('development'),
    'process',
    'Runtime mode: development, production or test (production requires AUTH_JWT_SECRET and SECRETS_KEY).',
  ),
  LOG_LEVEL: opt(
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    'process',
    'pino level for API, worker and CLI.',
  ),
  LOG_PRETTY: opt(
    z.enum(['auto', 'true', 'false']).default('auto'),
    'process',
    'Pretty logs: `auto` = only on a TTY outside production; `true` or `false` forces them on or off.',
  ),
  WORKER_METRICS_PORT: opt(
    int(9464, 0, 65535),
    'process',
    'Worker: Prometheus metrics served at this port (`/metrics`; 0 = off). The API serves GET /health/metrics.',
  ),
  WORKER_MAX_CONCURRENT_ACTIVITIES: opt(
    int(50, 1, 10_000),
    'process',
    'Worker: activity task slots. Tasks beyond them wait in the task queue, where priority and fairness order them.',
  ),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: opt(int(40, 2, 10_000), 'process', 'Worker: workflow task slots (the SDK default is 40).'),
  WORKER_INTERACTIVE_SLOTS: opt(
    int(20, 2, 10_000),
    'process',
    "Worker: workflow-task, activity and local-activity slots of the interactive lane (a login's tenant sync, the probe), held back from other work (TEMPORAL_LANES).",
  ),
  WORKER_BULK_ACTIVITIES: opt(
    int(4, 1, 10_000),
    'process',
    'Worker: slots of the bulk lane (reconcile partition scans), so long scans never take every slot of the main queue (TEMPORAL_LANES).',
  ),
  WORKER_YIELD_TO_LOGINS_MS: opt(
    int(1_000, 0, 5_000),
    'process',
    "Worker: background work (every main- and bulk-lane activity as it starts, and each reconcile chunk) waits up to this long while a login's activities run in the same worker process, so the database and CPU serve the login first; 0 never waits. Kept under the heartbeat timeouts.",
  ),
  WORKFLOW_BUNDLE_PATH: opt(
    z.string().min(1).optional(),
    'process',
    "Worker: a workflow bundle built ahead (`npm run build:workflows`, the image does it). Unset: the worker builds it in a short-lived child process at start, so webpack never weighs on the worker's own memory.",
  ),
  WORKER_METRICS_HOST: opt(
    z.string().min(1).default('127.0.0.1'),
    'process',
    'Worker: address the metrics port binds to (loopback by default; 0.0.0.0 in a container scraped from outside).',
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: opt(
    z.string().regex(httpUrl, { message: 'must be an http:// or https:// URL' }).optional(),
    'process',
    'OTLP/HTTP collector base URL for traces (e.g. http://127.0.0.1:4318; `/v1/traces` is appended). Unset: no trace export.',
  ),
  PORT: opt(int(3000, 1, 65535), 'process', 'API listen port.'),
  HOST: opt(z.string().default('127.0.0.1'), 'process', 'API listen address (loopback by default).'),
  READY_TIMEOUT_MS: opt(int(1500, 50, 30_000), 'process', 'Readiness probe timeout per dependency (ms).'),
  SHUTDOWN_TIMEOUT_MS: opt(int(10_000, 100, 600_000), 'process', 'Graceful shutdown budget for API and worker (ms).'),
  SHUTDOWN_DRAIN_DELAY_MS: opt(
    int(0, 0, 60_000),
    'process',
    'API: on SIGTERM, /health/ready answers 503 for this long while requests are still served, then the server stops accepting and drains (ms; e.g. 5000 behind a load balancer that polls readiness). Part of SHUTDOWN_TIMEOUT_MS.',
  ),
  RECONCILE_SPILL_DIR: opt(
    z.string().min(1).default('.data/reconcile-spill'),
    'process',
    'Worker-local folder where a hashed reconcile scan spills keys and content hashes (about 60 bytes per record and side; removed when the partition finishes).',
  ),

  // MongoDB
  MONGODB_URI: opt(
    z
      .string()
      .default('mongodb://127.0.0.1:27017/')
      .refine((v) => /^mongodb(\+srv)?:\/\/[^\s]+$/.test(v), { message: 'must be a mongodb:// or mongodb+srv:// URI' }),
    'mongodb',
    'MongoDB (or FerretDB) connection string.',
  ),
  MONGODB_DB: opt(
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,38}$/, { message: 'letters, digits, _ or - (max 38)' })
      .default('sync_orchestrator'),
    'mongodb',
    'Database for platform collections (tenants, sync_runs, ...), never reachable as data by a request. ' +
      'Tenant data goes to per-tenant databases (`tenant_<id>`).',
  ),

  // Redis
  REDIS_URL: opt(
    z
      .string()
      .default('redis://127.0.0.1:6379')
      .refine((v) => /^rediss?:\/\/[^\s]+$/.test(v), { message: 'must be a redis:// or rediss:// URL' }),
    'redis',
    'Redis connection URL. In `cluster` and `sentinel` mode it still carries the credentials (user, password), TLS (`rediss://`) and, for sentinel, the database.',
  ),
  REDIS_MODE: opt(
    z.enum(['standalone', 'cluster', 'sentinel']).default('standalone'),
    'redis',
    'Redis topology: `standalone` (REDIS_URL), `cluster` (Redis Cluster, seeded from REDIS_CLUSTER_NODES) or `sentinel` (the master named REDIS_SENTINEL_NAME, found through REDIS_SENTINELS).',
  ),
  REDIS_CLUSTER_NODES: opt(
    csv(),
    'redis',
    'Cluster mode: comma-separated `host:port` seed nodes (any few; the rest are discovered). Empty: the host and port of REDIS_URL.',
  ),
  REDIS_SENTINELS: opt(csv(), 'redis', 'Sentinel mode: comma-separated `host:port` of the sentinels (required in that mode).'),
  REDIS_SENTINEL_NAME: opt(z.string().min(1).default('mymaster'), 'redis', 'Sentinel mode: the monitored master group name.'),
  REDIS_SENTINEL_PASSWORD: opt(
    z.string().optional(),
    'redis',
    'Sentinel mode: the password the sentinels themselves ask for (unset: none; the data nodes use the one in REDIS_URL).',
  ),
  REDIS_COMMAND_TIMEOUT_MS: opt(
    int(1_000, 0, 60_000),
    'redis',
    'A Redis command with no answer after this long fails (ms; 0 = wait): a stalled Redis then costs a login at most this per command (rate limits and the cache skip it) instead of its whole deadline.',
  ),
  CACHE_ENABLED: opt(
    bool(true),
    'redis',
    "API and worker: cache tenant entries (both) and sync status (the API's login path): in-process L1, Redis L2, invalidated across processes over Redis.",
  ),
  CACHE_TENANT_TTL_MS: opt(
    int(60_000, 1_000, 86_400_000),
    'redis',
    'How long a cached tenant entry lives (ms). Registrations through the API invalidate it at once; the TTL bounds writes that bypass it (migrations, secret rotation).',
  ),
  CACHE_STATUS_TTL_MS: opt(
    int(10_000, 500, 3_600_000),
    'redis',
    "How long a cached sync status lives (ms). A recorded run invalidates it at once; the TTL bounds a read racing a run's write.",
  ),

  // Auth
  AUTH_JWT_SECRET: opt(
    z.string().optional(),
    'auth',
    'HS256 secret for bearer JWTs (min 32 characters). Required in production and whenever HOST is not a loopback address; ' +
      'otherwise a built-in development secret applies.',
    { notes: ['Generate one with: openssl rand -hex 32'], shownDefault: 'dev secret outside production' },
  ),
  AUTH_TOKEN_TTL_S: opt(int(3600, 60, 31_536_000), 'auth', 'Token lifetime for `cli token` (seconds).'),

  // Secrets at rest and outbound calls
  SECRETS_KEY: opt(
    z.string().optional(),
    'secrets',
    'Key for secrets at rest (tenant source tokens and URIs, reconcile URIs), AES-256-GCM: `<keyId>:<base64 of 32 random bytes>`; ' +
      'several comma-separated = the first encrypts, all decrypt. Required in production; unset = a built-in development key.',
    {
      notes: [
        'Rotation: put the new key first, run `npm run cli -- secrets rotate`, then drop the old one (README: Security model).',
        'Generate one with: echo "k$(date +%Y%m%d):$(openssl rand -base64 32)"',
      ],
      shownDefault: 'dev key outside production',
    },
  ),
  RECONCILE_ALLOWED_URIS: opt(
    csv(),
    'secrets',
    'Operator allowlist of external MongoDB URIs a reconcile may name (comma-separated, compared by host list; empty = none). ' +
      'Admin on a `"*"` token only.',
  ),
  SOURCE_ALLOWED_HOSTS: opt(
    csv(),
    'secrets',
    'Hosts HTTP sources may call (comma-separated host or host:port; empty = any host except link-local and cloud-metadata ' +
      'addresses such as 169.254.169.254, which must be listed).',
  ),
  SOURCE_MAX_PAGE_BYTES: opt(
    int(16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    'secrets',
    'Largest response body read for one page from an HTTP source (bytes; default 16 MiB).',
  ),
  SOURCE_MAX_PAGE_RECORDS: opt(int(10_000, 1, 1_000_000), 'secrets', 'Most records accepted in one page from a source.'),
  SOURCE_MAX_PAGES: opt(
    int(100_000, 1, 100_000_000),
    'secrets',
    'Most pages read for one collection in one sync (a bound against endless cursors).',
  ),

  // Temporal and the login-sync feature flag
  TEMPORAL_ENABLED: opt(bool(true), 'temporal', 'Master switch: does this deployment talk to Temporal at all.'),
  TEMPORAL_PRIORITY: opt(
    bool(true),
    'temporal',
    'Task-queue priority and fairness on every start (shared/priorities.ts): logins first, tenant as fairness key. Needs the server dynamic config in infra/temporal-dynamic-config.ts; false starts everything without (FIFO).',
  ),
  TEMPORAL_LANES: opt(
    bool(true),
    'temporal',
    'Lanes (shared/lanes.ts): logins and the probe start on an interactive task queue and reconcile scans run on a bulk one, each with worker slots of its own. Workers poll the lanes when true; API processes start on them when true.',
  ),
  TEMPORAL_ADDRESS: opt(hostPort().default('127.0.0.1:7233'), 'temporal', 'Temporal frontend host:port.'),
  TEMPORAL_NAMESPACE: opt(z.string().min(1).default('default'), 'temporal', 'Temporal namespace.'),
  TEMPORAL_TLS: opt(
    bool(false),
    'temporal',
    'Connect to Temporal over TLS (on by itself with TEMPORAL_API_KEY or a client certificate). Temporal Cloud: true.',
  ),
  TEMPORAL_TLS_CERT_PATH: opt(
    z.string().min(1).optional(),
    'temporal',
    'mTLS: file of the client certificate (PEM) presented to Temporal; with TEMPORAL_TLS_KEY_PATH.',
  ),
  TEMPORAL_TLS_KEY_PATH: opt(
    z.string().min(1).optional(),
    'temporal',
    'mTLS: file of the client private key (PEM); with TEMPORAL_TLS_CERT_PATH.',
  ),
  TEMPORAL_TLS_CA_PATH: opt(
    z.string().min(1).optional(),
    'temporal',
    "File of the CA certificate (PEM) that signed the server's certificate (unset: the system's trusted CAs).",
  ),
  TEMPORAL_TLS_SERVER_NAME: opt(
    z.string().min(1).optional(),
    'temporal',
    'Server name checked against its certificate (unset: the host of TEMPORAL_ADDRESS).',
  ),
  TEMPORAL_API_KEY: opt(
    z.string().min(1).optional(),
    'temporal',
    'API key sent as a bearer token on every Temporal call (Temporal Cloud API-key auth; implies TLS). Never logged.',
  ),
  TEMPORAL_TASK_QUEUE: opt(
    z.string().min(1).default('sync-orchestrator'),
    'temporal',
    'Task queue the worker polls and the API starts workflows on.',
  ),
  USE_TEMPORAL_FOR_AUTH: opt(bool(false), 'temporal', 'Use the Temporal workflow for login sync (false: direct in-process sync).'),
  TEMPORAL_AUTH_TIMEOUT_MS: opt(
    int(60_000, 1, 600_000),
    'temporal',
    'Login-path deadline for Temporal before falling back to direct sync (ms).',
  ),
  LOGIN_DEADLINE_MS: opt(
    int(0, 0, 600_000),
    'temporal',
    'Bound on a whole login (ensure) call (ms; 0 = none): past it the login answers 503 dependency-unavailable with Retry-After while its sync goes on, and the next login sees the result. E.g. TEMPORAL_AUTH_TIMEOUT_MS + 500 to bound logins when MongoDB or Redis stall.',
  ),
  LOGIN_HEDGE: opt(
    bool(true),
    'temporal',
    'Hedged fallback: when Temporal has not answered a login within the hedge delay (2 × p99 of the last 256 healthy Temporal logins, bounded by LOGIN_HEDGE_MIN_MS / LOGIN_HEDGE_MAX_MS), the direct sync of the essential collections starts beside it and the login takes whichever answers first (fallbackReason hedged when direct won; the workflow carries on). false waits for Temporal up to TEMPORAL_AUTH_TIMEOUT_MS.',
  ),
  LOGIN_HEDGE_MIN_MS: opt(int(150, 1, 600_000), 'temporal', 'Hedged fallback: the shortest hedge delay (ms).'),
  LOGIN_HEDGE_MAX_MS: opt(
    int(1_500, 1, 600_000),
    'temporal',
    'Hedged fallback: the longest hedge delay (ms), also the delay until 20 healthy Temporal logins were seen; a delay at or past TEMPORAL_AUTH_TIMEOUT_MS is no hedge.',
  ),
  WORKER_PRESENCE_TTL_MS: opt(
    int(5_000, 0, 300_000),
    'temporal',
    'How long the API trusts its last DescribeTaskQueue of the login task queue (ms): with no worker polling it, logins go direct at once (fallbackReason no_worker) and /health/ready shows Temporal degraded. 0 = not checked.',
  ),
  TEMPORAL_TENANTS: opt(
    csv(),
    'temporal',
    'Only these tenants (comma-separated IDs) use Temporal at login (empty: all, when USE_TEMPORAL_FOR_AUTH=true).',
  ),
  TEMPORAL_BREAKER_FAILURES: opt(
    int(5, 1, 10_000),
    'temporal',
    'Circuit breaker: it opens after this many consecutive failed Temporal login calls (timeout, unavailable, error), or after this many within TEMPORAL_BREAKER_WINDOW_MS whatever succeeded between them; a gRPC UNAVAILABLE opens it at once.',
  ),
  TEMPORAL_BREAKER_WINDOW_MS: opt(
    int(30_000, 1_000, 3_600_000),
    'temporal',
    'Circuit breaker: sliding window in which TEMPORAL_BREAKER_FAILURES failed calls open it, successes between them notwithstanding (ms).',
  ),
  TEMPORAL_BREAKER_RESET_MS: opt(
    int(15_000, 100, 3_600_000),
    'temporal',
    'Circuit breaker: time open before it goes half-open: the next login probes Temporal (success closes it, failure re-opens it) while others go direct (ms).',
  ),
  SYNC_FRESHNESS_MS: opt(
    int(30_000, 0, 86_400_000),
    'temporal',
    'A tenant whose last sync finished within this window answers at once (ms; 0 forces a sync every login).',
  ),
  SYNC_CONCURRENCY: opt(int(4, 1, 32), 'temporal', 'Collections synced in parallel within one tenant sync.'),
  SYNC_PAGE_SIZE: opt(int(500, 1, 5000), 'temporal', 'Records per page read from an upstream source.'),
  SYNC_STUCK_AFTER_MS: opt(
    int(900_000, 1_000, 86_400_000),
    'temporal',
    'A running sync with no progress (no page, collection start or end, or heartbeat) for this long counts as stuck: ' +
      '/api/sync/health and the stuck-sync sweep (ms). An old sync that progresses is never stuck.',
  ),
  DIRECT_SYNC_LOCK_TTL_MS: opt(
    int(120_000, 1_000, 3_600_000),
    'temporal',
    'Longest a direct sync holds the MongoDB lease that single-flights direct syncs of one tenant across API processes, ' +
      'and longest another login waits on it (ms); the lease itself expires 20 s after its holder stops renewing it.',
  ),

  // Client configuration upsert
  CLIENTS_DIR: opt(
    z.string().min(1).default('clients'),
    'clientUpsert',
    "Folder of client config files (`<key>.json`), read by the worker's client-upsert activities.",
  ),
  CLIENT_UPSERT_CONCURRENCY: opt(int(8, 1, 64), 'clientUpsert', 'Clients upserted in parallel by one client-upsert run.'),
  CLIENT_UPSERT_ON_START: opt(bool(true), 'clientUpsert', 'The worker starts (or joins) the upsert of every client when it starts.'),

  // API hardening
  IDEMPOTENCY_TTL_S: opt(
    int(86_400, 1, 2_592_000),
    'hardening',
    'How long a completed Idempotency-Key keeps its stored answer (seconds; IETF draft suggests ≥ 24 h).',
  ),
  RATE_LIMIT_PER_SUBJECT: opt(
    int(6_000, 1, 10_000_000),
    'hardening',
    'Requests per subject (token `sub`, else client IP) per RATE_LIMIT_WINDOW_MS.',
  ),
  RATE_LIMIT_PER_TENANT: opt(
    int(3_000, 1, 10_000_000),
    'hardening',
    'Requests per tenant (routes with a tenant in the path) per RATE_LIMIT_WINDOW_MS.',
  ),
  RATE_LIMIT_WINDOW_MS: opt(int(60_000, 1_000, 86_400_000), 'hardening', 'Rate-limit window (ms).'),
  CORS_ORIGINS: opt(csv(), 'hardening', 'Comma-separated origins allowed by CORS (empty: CORS off).'),
  QUOTA_ENSURE_PER_MINUTE: opt(
    int(1_200, 0, 1_000_000),
    'quotas',
    'Login-sync ensure calls per tenant per clock minute (tenant override: quotas.ensurePerMinute). 429 quota-exceeded beyond it.',
  ),
  QUOTA_RECONCILE_CONCURRENT_BATCHES: opt(
    int(4, 0, 10_000),
    'quotas',
    'Reconcile batches of one tenant running at once (tenant override: quotas.reconcileConcurrentBatches).',
  ),
  QUOTA_RECONCILE_STARTS_PER_HOUR: opt(
    int(60, 0, 1_000_000),
    'quotas',
    'Reconcile batches one tenant may start per clock hour (tenant override: quotas.reconcileStartsPerHour).',
  ),
  QUOTA_RECONCILE_CONCURRENT: opt(int(16, 0, 10_000), 'quotas', 'Reconcile batches running at once over all tenants and namespaces.'),
  QUOTA_MIGRATIONS_CONCURRENT: opt(int(2, 0, 100), 'quotas', 'Migration runs (real and dry) at once.'),

  // Migrations
  MIGRATION_BATCH_SIZE: opt(
    int(1000, 10, 10_000),
    'migrations',
    'Documents per batch when a migration backs up, restores or rewrites a collection.',
  ),
  MIGRATION_BACKUP_RETENTION_MS: opt(
    int(604_800_000, 60_000, 31_536_000_000),
    'migrations',
    'Migration backups older than this are removed by the cleanup schedule (ms; default 7 days).',
  ),

  // Schedules: cleanup and stuck-sync detection
  SCHEDULES_ON_START: opt(bool(true), 'schedules', 'The worker creates or updates the cleanup and stuck-sync schedules when it starts.'),
  CLEANUP_INTERVAL_MS: opt(
    int(86_400_000, 60_000, 31_536_000_000),
    'schedules',
    'How often each cleanup schedule runs (ms; default daily).',
  ),
  CLEANUP_BATCH_SIZE: opt(
    int(1000, 10, 1000),
    'schedules',
    'Documents deleted per batch by a cleanup (10 to 1000; FerretDB: keep `$in` lists at most 1000).',
  ),
  SYNC_RUN_RETENTION_MS: opt(
    int(2_592_000_000, 60_000, 31_536_000_000),
    'schedules',
    'Finished sync runs (and closed stuck-sync findings) older than this are removed by the cleanup schedule (ms; default 30 days).',
  ),
  RECONCILE_RETENTION_MS: opt(
    int(2_592_000_000, 60_000, 31_536_000_000),
    'schedules',
    'Finished reconcile batches older than this are removed with their chunks, errors and staged repairs (ms; default 30 days).',
  ),
  CLIENT_UPSERT_RESULT_RETENTION_MS: opt(
    int(2_592_000_000, 60_000, 31_536_000_000),
    'schedules',
    "Client-upsert results older than this are removed, except each client's latest (ms; default 30 days).",
  ),
  SCHEDULE_CATCHUP_WINDOW_MS: opt(
    int(3_600_000, 10_000, 31_536_000_000),
    'schedules',
    'Every schedule: actions missed while Temporal was down are taken late only within this window (ms; min 10 s).',
  ),
  STUCK_SYNC_SWEEP_INTERVAL_MS: opt(int(300_000, 10_000, 86_400_000), 'schedules', 'How often the stuck-sync sweep runs (ms).'),
  SYNC_STUCK_ACTION: opt(
    z.enum(['report', 'terminate', 'restart']).default('terminate'),
    'schedules',
    'What the sweep does with a sync that made no progress for SYNC_STUCK_AFTER_MS: `report` it, `terminate` it, ' +
      'or `restart` it (terminate and start it again).',
  ),

  // Dev stack
  TEMPORAL_UI_PORT: opt(int(8233, 1, 65535), 'devStack', 'Dev stack: Temporal Web UI port.'),
  DATA_DIR: opt(z.string().default('.data'), 'devStack', 'Dev stack: where servers keep their data (Temporal SQLite, FerretDB, Redis).'),
  FIXTURE_UPSTREAM_PORT: opt(
    int(4010, 1, 65535),
    'devStack',
    "Dev stack: port of the fixture upstream that serves the demo tenants' data.",
  ),
  TOOLS_DIR: opt(z.string().default('.tools'), 'devStack', 'Dev stack: where Go-built tools (temporal, ferretdb) are cached.'),
};

/** Every variable the platform reads, in documentation order (.env.example and the README table). */
export const CONFIG_KEYS = Object.keys(configShape) as ConfigKey[];

export type ConfigKey = keyof typeof configShape;

export const configSchema = z
  .object(configShape)
  .superRefine((c, ctx) => {
    if (c.AUTH_JWT_SECRET !== undefined && c.AUTH_JWT_SECRET.length < 32) {
      ctx.addIssue({ code: 'custom', path: ['AUTH_JWT_SECRET'], message: 'must be at least 32 characters' });
    }
    if (c.AUTH_JWT_SECRET === undefined && c.NODE_ENV === 'production') {
      ctx.addIssue({ code: 'custom', path: ['AUTH_JWT_SECRET'], message: 'is required in production' });
    }
    if (c.SECRETS_KEY === undefined && c.NODE_ENV === 'production') {
      ctx.addIssue({ code: 'custom', path: ['SECRETS_KEY'], message: 'is required in production' });
    }
    for (const message of c.SECRETS_KEY === undefined ? [] : secretsKeyProblems(c.SECRETS_KEY)) {
      ctx.addIssue({ code: 'custom', path: ['SECRETS_KEY'], message });
    }
    if (c.LOGIN_HEDGE_MIN_MS > c.LOGIN_HEDGE_MAX_MS) {
      ctx.addIssue({ code: 'custom', path: ['LOGIN_HEDGE_MIN_MS'], message: 'must not exceed LOGIN_HEDGE_MAX_MS' });
    }
    if ((c.TEMPORAL_TLS_CERT_PATH === undefined) !== (c.TEMPORAL_TLS_KEY_PATH === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['TEMPORAL_TLS_CERT_PATH'],
        message: 'and TEMPORAL_TLS_KEY_PATH are set together (the mTLS pair)',
      });
    }
    for (const [key, nodes] of [
      ['REDIS_CLUSTER_NODES', c.REDIS_CLUSTER_NODES],
      ['REDIS_SENTINELS', c.REDIS_SENTINELS],
    ] as const) {
      const bad = nodes.filter((n) => !/^[^\s:/]+:\d{1,5}$/.test(n));
      if (bad.length) ctx.addIssue({ code: 'custom', path: [key], message: `must be host:port entries (not ${bad.join(', ')})` });
    }
    if (c.REDIS_MODE === 'sentinel' && c.REDIS_SENTINELS.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['REDIS_SENTINELS'], message: 'is required when REDIS_MODE=sentinel' });
    }
    if (c.USE_TEMPORAL_FOR_AUTH && !c.TEMPORAL_ENABLED) {
      ctx.addIssue({ code: 'custom', path: ['USE_TEMPORAL_FOR_AUTH'], message: 'needs TEMPORAL_ENABLED=true' });
    }
  })
  .transform((c) => ({ ...c, AUTH_JWT_SECRET: c.AUTH_JWT_SECRET ?? DEV_JWT_SECRET, usingDevJwtSecret: c.AUTH_JWT_SECRET === undefined }));

export type AppConfig = z.output<typeof configSchema>;

/** Thrown when the environment does not validate; lists every problem at once. */
export class ConfigError extends AppError {
  constructor(readonly problems: readonly string[]) {
    super('config-invalid', `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Validates the environment; throws ConfigError naming all problems. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const input: Record<string, string> = {};
  for (const key of CONFIG_KEYS) {
    const v = env[key];
    if (v !== undefined && v !== '') input[key] = v;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  return parsed.data;
}

/** Is this listen address reachable only from this machine? */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

/** Problems that stop the API from listening (beyond the schema): the built-in dev JWT secret on a non-loopback address. */
export function apiListenProblems(c: Pick<AppConfig, 'HOST' | 'usingDevJwtSecret'>): string[] {
  if (c.usingDevJwtSecret && !isLoopbackHost(c.HOST)) {
    return [
      `AUTH_JWT_SECRET: is required when HOST (${c.HOST}) is not a loopback address: the built-in development secret would let anyone mint tokens`,
    ];
  }
  return [];
}

/** Entry-point helper: validate or print every problem and exit non-zero. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): AppConfig {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}
