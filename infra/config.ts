import { z } from 'zod';
import { secretsKeyProblems } from './secrets';

// One schema for every environment variable. Each entry: default + one line of explanation
// (the README configuration table mirrors these descriptions).

const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .default(String(def))
    .refine((v) => /^\d+$/.test(v.trim()), { message: 'must be a whole number' })
    .transform((v) => Number(v.trim()))
    .refine((n) => n >= min && n <= max, { message: `must be between ${min} and ${max}` });

const csv = z
  .string()
  .default('')
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

const hostPort = z
  .string()
  .regex(/^[^\s:/]+:\d{1,5}$/, { message: 'must look like host:port' });

const DEV_JWT_SECRET = 'dev-only-secret-change-me-0123456789abcdef';

const configShape = {
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    /** pino level for API, worker and CLI. */
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Force pretty logs (default: pretty only on a TTY outside production). */
    LOG_PRETTY: z.enum(['auto', 'true', 'false']).default('auto'),
    /** Worker: Prometheus metrics served on 127.0.0.1 at this port (`/metrics`; 0 = off). The API serves GET /health/metrics. */
    WORKER_METRICS_PORT: int(9464, 0, 65535),
    /** Worker: address the metrics port binds to (loopback by default; 0.0.0.0 in a container scraped from outside). */
    WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
    /** OTLP/HTTP collector base URL for traces (e.g. http://127.0.0.1:4318; `/v1/traces` is appended). Unset: no trace export. */
    OTEL_EXPORTER_OTLP_ENDPOINT: z.string().regex(/^https?:\/\/[^\s]+$/, { message: 'must be an http:// or https:// URL' }).optional(),
    /** API listen port. */
    PORT: int(3000, 1, 65535),
    /** API listen address (loopback by default). */
    HOST: z.string().default('127.0.0.1'),
    /** MongoDB (or FerretDB) connection string. */
    MONGODB_URI: z
      .string()
      .default('mongodb://127.0.0.1:27017/')
      .refine((v) => /^mongodb(\+srv)?:\/\/[^\s]+$/.test(v), { message: 'must be a mongodb:// or mongodb+srv:// URI' }),
    /** Database for platform collections (tenants, sync_runs, ...). Tenant data goes to per-tenant databases. */
    MONGODB_DB: z.string().regex(/^[A-Za-z0-9_-]{1,38}$/, { message: 'letters, digits, _ or - (max 38)' }).default('sync_orchestrator'),
    /** Redis connection URL. */
    REDIS_URL: z
      .string()
      .default('redis://127.0.0.1:6379')
      .refine((v) => /^rediss?:\/\/[^\s]+$/.test(v), { message: 'must be a redis:// or rediss:// URL' }),
    /** HS256 secret for bearer JWTs (min 32 characters; a dev default applies outside production). */
    AUTH_JWT_SECRET: z.string().optional(),
    /** Token lifetime for `cli token` (seconds). */
    AUTH_TOKEN_TTL_S: int(3600, 60, 31_536_000),
    /** Master switch: does this deployment talk to Temporal at all. */
    TEMPORAL_ENABLED: bool(true),
    /** Temporal frontend host:port. */
    TEMPORAL_ADDRESS: hostPort.default('127.0.0.1:7233'),
    /** Temporal namespace. */
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    /** Task queue the worker polls and the API starts workflows on. */
    TEMPORAL_TASK_QUEUE: z.string().min(1).default('sync-orchestrator'),
    /** Use the Temporal workflow for login sync (false: direct in-process sync). */
    USE_TEMPORAL_FOR_AUTH: bool(false),
    /** Login-path deadline for Temporal before falling back to direct sync (ms). */
    TEMPORAL_AUTH_TIMEOUT_MS: int(60_000, 1, 600_000),
    /** Only these tenants use Temporal at login (empty: all, when USE_TEMPORAL_FOR_AUTH=true). */
    TEMPORAL_TENANTS: csv,
    /** A tenant whose last sync finished within this window answers at once (ms; 0 forces a sync every login). */
    SYNC_FRESHNESS_MS: int(30_000, 0, 86_400_000),
    /** Collections synced in parallel within one tenant sync. */
    SYNC_CONCURRENCY: int(4, 1, 32),
    /** Records per page read from an upstream source. */
    SYNC_PAGE_SIZE: int(500, 1, 5000),
    /** A running sync with no progress (no page, collection start or end, or heartbeat) for this long counts as stuck: /api/sync/health and the stuck-sync sweep (ms). */
    SYNC_STUCK_AFTER_MS: int(900_000, 1_000, 86_400_000),
    /** Expiry of the Redis lock that single-flights direct syncs of one tenant across API processes (ms). */
    DIRECT_SYNC_LOCK_TTL_MS: int(120_000, 1_000, 3_600_000),
    /** Folder of client config files (`<key>.json`), read by the worker's client-upsert activities. */
    CLIENTS_DIR: z.string().min(1).default('clients'),
    /** Clients upserted in parallel by one client-upsert run. */
    CLIENT_UPSERT_CONCURRENCY: int(8, 1, 64),
    /** The worker starts (or joins) the upsert of every client when it starts. */
    CLIENT_UPSERT_ON_START: bool(true),
    /** Circuit breaker: failed Temporal login calls within the rolling window before it opens. */
    TEMPORAL_BREAKER_FAILURES: int(5, 1, 10_000),
    /** Circuit breaker: rolling window in which failures are counted (ms). */
    TEMPORAL_BREAKER_WINDOW_MS: int(30_000, 1_000, 3_600_000),
    /** Circuit breaker: cool-down before a half-open probe is let through (ms). */
    TEMPORAL_BREAKER_RESET_MS: int(15_000, 100, 3_600_000),
    /** How long a completed Idempotency-Key keeps its stored answer (seconds; IETF draft suggests ≥ 24 h). */
    IDEMPOTENCY_TTL_S: int(86_400, 1, 2_592_000),
    /** Requests per subject (token `sub`, else client IP) per RATE_LIMIT_WINDOW_MS. */
    RATE_LIMIT_PER_SUBJECT: int(6_000, 1, 10_000_000),
    /** Requests per tenant (routes with a tenant in the path) per RATE_LIMIT_WINDOW_MS. */
    RATE_LIMIT_PER_TENANT: int(3_000, 1, 10_000_000),
    /** Rate-limit window (ms). */
    RATE_LIMIT_WINDOW_MS: int(60_000, 1_000, 86_400_000),
    /** Comma-separated origins allowed by CORS (empty: CORS off). */
    CORS_ORIGINS: csv,
    /** Documents per batch when a migration backs up, restores or rewrites a collection. */
    MIGRATION_BATCH_SIZE: int(1000, 10, 10_000),
    /** Migration backups older than this are removed by the cleanup schedule (ms; default 7 days). */
    MIGRATION_BACKUP_RETENTION_MS: int(604_800_000, 60_000, 31_536_000_000),
    /** The worker creates or updates the cleanup and stuck-sync schedules when it starts. */
    SCHEDULES_ON_START: bool(true),
    /** How often each cleanup schedule runs (ms; default daily). */
    CLEANUP_INTERVAL_MS: int(86_400_000, 60_000, 31_536_000_000),
    /** Documents deleted per batch by a cleanup (FerretDB: keep `$in` lists at most 1000). */
    CLEANUP_BATCH_SIZE: int(1000, 10, 1000),
    /** Finished sync runs (and stuck-sync findings) older than this are removed by the cleanup schedule (ms; default 30 days). */
    SYNC_RUN_RETENTION_MS: int(2_592_000_000, 60_000, 31_536_000_000),
    /** Finished reconcile batches older than this are removed with their chunks, errors and staged repairs (ms; default 30 days). */
    RECONCILE_RETENTION_MS: int(2_592_000_000, 60_000, 31_536_000_000),
    /** Client-upsert results older than this are removed, except each client's latest (ms; default 30 days). */
    CLIENT_UPSERT_RESULT_RETENTION_MS: int(2_592_000_000, 60_000, 31_536_000_000),
    /** Schedules: actions missed while Temporal was down are taken late only within this window (ms; min 10 s). */
    SCHEDULE_CATCHUP_WINDOW_MS: int(3_600_000, 10_000, 31_536_000_000),
    /** How often the stuck-sync sweep runs (ms). */
    STUCK_SYNC_SWEEP_INTERVAL_MS: int(300_000, 10_000, 86_400_000),
    /** What the sweep does with a sync that made no progress for SYNC_STUCK_AFTER_MS: report it, terminate it, or terminate and start it again. */
    SYNC_STUCK_ACTION: z.enum(['report', 'terminate', 'restart']).default('terminate'),
    /** Readiness probe timeout per dependency (ms). */
    READY_TIMEOUT_MS: int(1500, 50, 30_000),
    /** Graceful shutdown budget for API and worker (ms). */
    SHUTDOWN_TIMEOUT_MS: int(10_000, 100, 600_000),
    /** Operator allowlist of external MongoDB URIs a reconcile may name (comma-separated, compared by host list; empty = none). Admin tokens only. */
    RECONCILE_ALLOWED_URIS: csv,
    /** Key for secrets at rest (tenant source tokens/URIs, reconcile URIs): `<keyId>:<base64 of 32 bytes>`, or several comma-separated (the first encrypts, all decrypt). Required in production; a dev key otherwise. */
    SECRETS_KEY: z.string().optional(),
    /** HTTP sources may only call these hosts (comma-separated host or host:port; empty = any host except link-local and cloud-metadata addresses, which need listing). */
    SOURCE_ALLOWED_HOSTS: csv,
    /** Largest response body read for one page from an HTTP source (bytes; default 16 MiB). */
    SOURCE_MAX_PAGE_BYTES: int(16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    /** Most records accepted in one page from a source. */
    SOURCE_MAX_PAGE_RECORDS: int(10_000, 1, 1_000_000),
    /** Most pages read for one collection in one sync (a bound against endless cursors). */
    SOURCE_MAX_PAGES: int(100_000, 1, 100_000_000),
    /** Dev stack: Temporal Web UI port. */
    TEMPORAL_UI_PORT: int(8233, 1, 65535),
    /** Dev stack: where servers keep their data (Temporal SQLite, FerretDB, Redis). */
    DATA_DIR: z.string().default('.data'),
    /** Dev stack: port of the fixture upstream that serves the demo tenants' data. */
    FIXTURE_UPSTREAM_PORT: int(4010, 1, 65535),
    /** Where Go-built tools (temporal, ferretdb) are cached. */
    TOOLS_DIR: z.string().default('.tools'),
};

/** Every variable the platform reads (for .env.example and docs). */
export const CONFIG_KEYS = Object.keys(configShape);

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
    if (c.USE_TEMPORAL_FOR_AUTH && !c.TEMPORAL_ENABLED) {
      ctx.addIssue({ code: 'custom', path: ['USE_TEMPORAL_FOR_AUTH'], message: 'needs TEMPORAL_ENABLED=true' });
    }
  })
  .transform((c) => ({ ...c, AUTH_JWT_SECRET: c.AUTH_JWT_SECRET ?? DEV_JWT_SECRET, usingDevJwtSecret: c.AUTH_JWT_SECRET === undefined }));

export type AppConfig = z.output<typeof configSchema>;

/** Thrown when the environment does not validate; lists every problem at once. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
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
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

/** Problems that stop the API from listening (beyond the schema): the built-in dev JWT secret on a non-loopback address. */
export function apiListenProblems(c: Pick<AppConfig, 'HOST' | 'usingDevJwtSecret'>): string[] {
  if (c.usingDevJwtSecret && !isLoopbackHost(c.HOST)) {
    return [`AUTH_JWT_SECRET: is required when HOST (${c.HOST}) is not a loopback address: the built-in development secret would let anyone mint tokens`];
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
