import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Scopes } from '../../infra/auth-token';
import type { Mongo } from '../../infra/mongo';
import type { TemporalHandle } from '../../infra/temporal';
import { loadMigrations, type MigrationRegistry } from '../../activities/migrations/registry';
import { createMigrationStore } from '../../activities/migrations/store';
import { MIGRATION_NAME_PATTERN, MIGRATION_RUN_ID_PATTERN } from '../../shared/migrations';
import { DependencyUnavailableError, ValidationError } from '../errors';
import { problemResponses } from '../schemas';
import { pageRequestOf } from '../../shared/paging';
import { PageQueryFields, PageSchema } from '../paging';
import { createMigrationRuns } from '../services/migrations/runs';
import type { QuotaService } from '../services/quotas/quotas';
import type { PauseService } from '../services/maintenance/pauses';
import { MAX_START_DELAY_MS, startDelayOf } from '../../shared/start-delay';
import { BACKUP_COLLECTION_PATTERN, BACKUP_ID_PATTERN, type BackupService } from '../services/migrations/backups';

// Migration state and batch runs. Migrations rewrite the platform database every tenant depends
// on, so they are platform operations: the admin scope and a token for all tenants ('*').
// Runs are Temporal workflows: 202 + workflowId.

const Open = Type.Object({}, { additionalProperties: true });
const Entry = Type.Object({ name: Type.String(), description: Type.String() }, { additionalProperties: true });
const StatusResponse = Type.Object({
  completed: Type.Array(Entry),
  pending: Type.Array(Entry),
  failed: Type.Array(Entry),
  running: Type.Array(Entry),
});
const RunBody = Type.Object(
  {
    names: Type.Optional(
      Type.Array(Type.String({ pattern: MIGRATION_NAME_PATTERN, maxLength: 100 }), { minItems: 1, maxItems: 500, uniqueItems: true }),
    ),
    dryRun: Type.Optional(Type.Boolean()),
    stopOnError: Type.Optional(Type.Boolean()),
    force: Type.Optional(Type.Boolean()),
    startAt: Type.Optional(Type.String({ format: 'date-time', description: 'start at this time (at most 7 days out)' })),
    delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_START_DELAY_MS, description: 'start after this many ms' })),
  },
  { additionalProperties: false },
);
const RunAccepted = Type.Object({
  notBefore: Type.Optional(Type.String({ format: 'date-time', description: 'a delayed start: not before this' })),
  workflowId: Type.String(),
  runId: Type.String(),
  dryRun: Type.Boolean(),
  stopOnError: Type.Boolean(),
  force: Type.Boolean(),
  names: Type.Array(Type.String()),
});
const RunParams = Type.Object(
  { workflowId: Type.String({ pattern: MIGRATION_RUN_ID_PATTERN, maxLength: 220 }) },
  { additionalProperties: false },
);

const RunsQuery = Type.Object(PageQueryFields, { additionalProperties: false });
const RunRow = Type.Object(
  {
    workflowId: Type.String(),
    runId: Type.String(),
    status: Type.String({ description: 'Temporal status: RUNNING, COMPLETED, FAILED, …' }),
    dryRun: Type.Boolean(),
    requestedBy: Type.String({ description: 'token subject of the request that started it' }),
    names: Type.Union([Type.Array(Type.String()), Type.Literal('all')]),
    startedAt: Type.Union([Type.String(), Type.Null()]),
    closedAt: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);

const BackupCollection = Type.String({ pattern: BACKUP_COLLECTION_PATTERN, maxLength: 100, description: 'a platform collection' });
const BackupParams = Type.Object({ id: Type.String({ pattern: BACKUP_ID_PATTERN, maxLength: 220 }) }, { additionalProperties: false });
const BackupBody = Type.Object({ collection: BackupCollection }, { additionalProperties: false });
const RestoreBody = Type.Object(
  {
    into: Type.Optional(BackupCollection),
    force: Type.Optional(Type.Boolean({ description: 'even while a migration is running' })),
  },
  { additionalProperties: false },
);
const PruneBody = Type.Object(
  {
    olderThanMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 31_536_000_000, description: 'default MIGRATION_BACKUP_RETENTION_MS' })),
  },
  { additionalProperties: false },
);
const BackupRefResponse = Type.Object({
  backupId: Type.String(),
  collection: Type.String(),
  existed: Type.Boolean(),
  count: Type.Integer(),
  checksum: Type.String(),
  durationMs: Type.Number(),
  resumedFrom: Type.Optional(Type.Integer()),
});
const RestoreResponse = Type.Object({
  backupId: Type.String(),
  collection: Type.String(),
  count: Type.Integer(),
  checksum: Type.String(),
  verified: Type.Boolean(),
  durationMs: Type.Number(),
});
const BackupItem = Type.Object({
  backupId: Type.String(),
  collection: Type.String(),
  migration: Type.Optional(Type.String()),
  status: Type.String({ description: 'in_progress, complete or expired' }),
  existed: Type.Boolean(),
  createdAt: Type.String(),
  completedAt: Type.Optional(Type.String()),
  count: Type.Optional(Type.Integer()),
  checksum: Type.Optional(Type.String()),
  durationMs: Type.Optional(Type.Number()),
  lastRestoredAt: Type.Optional(Type.String()),
  expiredAt: Type.Optional(Type.String()),
});
const BackupList = Type.Object({ backups: Type.Array(BackupItem) });
const PruneResponse = Type.Object({ expired: Type.Array(Type.String()), cutoff: Type.String() });

const iso = (d: Date | undefined) => d?.toISOString() ?? null;

export interface MigrationRoutesOptions {
  mongo: Mongo;
  temporal?: TemporalHandle;
  taskQueue: string;
  /** Default: the files in migrations/. */
  registry?: MigrationRegistry;
  /** Manual backups of platform collections (api/services/migrations/backups.ts). */
  backups: BackupService;
  /** Start quotas (the global cap on migration runs). */
  quotas?: QuotaService;
  /** Work pauses: a run (real or dry) while migrations are paused is refused (503). */
  pauses?: Pick<PauseService, 'assertNotPaused'>;
}

const migrations: FastifyPluginAsyncTypebox<MigrationRoutesOptions> = async (app, o) => {
  const registry = o.registry ?? (await loadMigrations());
  const store = createMigrationStore(o.mongo.db);
  const runs = o.temporal
    ? createMigrationRuns({ temporal: o.temporal, taskQueue: o.taskQueue, database: o.mongo.db.databaseName, quotas: o.quotas })
    : undefined;
  const admin = { auth: { scope: Scopes.admin, tenants: 'platform' as const } };

  app.get('/api/migrations/status', { config: admin, schema: { response: { 200: StatusResponse, ...problemResponses } } }, async () => {
    const states = new Map((await store.list()).map((d) => [d._id, d]));
    type Item = { name: string; description: string } & Record<string, unknown>;
    const out = { completed: [] as Item[], pending: [] as Item[], failed: [] as Item[], running: [] as Item[] };
    for (const m of registry.list()) {
      const s = states.get(m.name);
      states.delete(m.name);
      const base = { name: m.name, description: m.description, collections: [...m.collections] };
      if (!s) out.pending.push(base);
      else if (s.status === 'completed')
        out.completed.push({
          ...base,
          completedAt: iso(s.completedAt ?? s.finishedAt),
          durationMs: s.durationMs ?? null,
          attempts: s.attempts,
          backups: s.backups.map((b) => b.backupId),
          changes: s.changes,
        });
      else if (s.status === 'running')
        out.running.push({ ...base, workflowId: s.workflowId, step: s.step, startedAt: iso(s.startedAt), progress: s.progress ?? null });
      else
        out.failed.push({
          ...base,
          failedAt: iso(s.finishedAt),
          durationMs: s.durationMs ?? null,
          attempts: s.attempts,
          error: s.error ?? null,
          restored: (s.restored ?? []).map((r) => ({
            backupId: r.backupId,
            collection: r.collection,
            count: r.count,
            verified: r.verified,
          })),
          restoreFailed: s.restoreFailed ?? null,
          backups: s.backups.map((b) => b.backupId),
        });
    }
    // State of migrations whose files are gone: still reported, marked as such.
    for (const s of states.values())
      (s.status === 'completed' ? out.completed : s.status === 'running' ? out.running : out.failed).push({
        name: s._id,
        description: s.description,
        fileMissing: true,
      });
    return out;
  });

  app.post(
    '/api/migrations/run',
    {
      config: { ...admin, idempotency: { required: true } },
      schema: { body: RunBody, response: { 202: RunAccepted, ...problemResponses } },
    },
    async (req, reply) => {
      const body = req.body;
      const unknown = (body.names ?? []).filter((n) => !registry.get(n));
      if (unknown.length > 0) throw new ValidationError(`unknown migration(s): ${unknown.join(', ')}`, { unknown });
      if (!runs) throw new DependencyUnavailableError('temporal', 'Migrations run as Temporal workflows and TEMPORAL_ENABLED=false');
      const selected = registry
        .list()
        .filter((m) => !body.names || body.names.includes(m.name))
        .map((m) => m.name);
      const states = new Map((await store.list()).map((d) => [d._id, d.status]));
      const toRun = selected.filter((n) => body.force || states.get(n) !== 'completed');
      const input = {
        ...(body.names ? { names: body.names } : {}),
        dryRun: !!body.dryRun,
        stopOnError: !!body.stopOnError,
        force: !!body.force,
        requestedBy: req.principal?.sub ?? 'unknown',
        correlationId: req.correlationId,
      };
      const delayMs = startDelayOf(body);
      await o.pauses?.assertNotPaused('migrations');
      const started = await runs.start(input, toRun, delayMs);
      req.log.info({ workflowId: started.workflowId, dryRun: input.dryRun, names: selected.length }, 'migration run started');
      return reply
        .code(202)
        .send({ ...started, dryRun: input.dryRun, stopOnError: input.stopOnError, force: input.force, names: selected });
    },
  );

  // Batch runs (real and dry) on this queue, newest first, from Temporal visibility.
  app.get(
    '/api/migrations/runs',
    { config: admin, schema: { querystring: RunsQuery, response: { 200: PageSchema(RunRow), ...problemResponses } } },
    async (req) => {
      const page = pageRequestOf(req.query);
      if (!runs) throw new DependencyUnavailableError('temporal', 'Migrations run as Temporal workflows and TEMPORAL_ENABLED=false');
      return runs.list(page);
    },
  );

  app.get(
    '/api/migrations/runs/:workflowId',
    { config: admin, schema: { params: RunParams, response: { 200: Open, ...problemResponses } } },
    async (req) => {
      if (!runs) throw new DependencyUnavailableError('temporal', 'Migrations run as Temporal workflows and TEMPORAL_ENABLED=false');
      return runs.get(req.params.workflowId);
    },
  );

  // Manual backups. Synchronous: a backup or restore answers when done (≈ 1 min per 200k
  // documents); the CLI waits with a long timeout. An unknown collection or backup is 404.
  app.get('/api/migrations/backups', { config: admin, schema: { response: { 200: BackupList, ...problemResponses } } }, async () => ({
    backups: await o.backups.list(),
  }));

  app.post(
    '/api/migrations/backups',
    {
      config: { ...admin, idempotency: { required: true } },
      schema: { body: BackupBody, response: { 201: BackupRefResponse, ...problemResponses } },
    },
    async (req, reply) => {
      const ref = await o.backups.backup(req.body.collection);
      req.log.info({ backupId: ref.backupId, count: ref.count, durationMs: ref.durationMs }, 'backup taken');
      return reply.code(201).send(ref);
    },
  );

  app.post(
    '/api/migrations/backups/:id/restore',
    {
      config: { ...admin, idempotency: { required: true } },
      schema: { params: BackupParams, body: RestoreBody, response: { 200: RestoreResponse, ...problemResponses } },
    },
    async (req) => {
      const result = await o.backups.restore(req.params.id, req.body);
      req.log.info({ backupId: result.backupId, collection: result.collection, count: result.count }, 'backup restored');
      return result;
    },
  );

  app.post(
    '/api/migrations/backups/prune',
    {
      config: { ...admin, idempotency: { required: true } },
      schema: { body: PruneBody, response: { 200: PruneResponse, ...problemResponses } },
    },
    async (req) => {
      const result = await o.backups.prune(req.body.olderThanMs);
      req.log.info({ expired: result.expired.length, cutoff: result.cutoff }, 'backups pruned');
      return result;
    },
  );
};

export default migrations;
