import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Scopes } from '../../infra/auth-token';
import { BATCH_ID_PATTERN, RECONCILE_LIMITS, type ReconcileState } from '../../shared/reconcile';
import { idFromIdempotencyKey } from '../plugins/idempotency';
import { problemResponses, TENANT_ID_PATTERN } from '../schemas';
import type { ReconcileService, StartReconcileRequest } from '../services/reconcile/service';
import { AppError } from '../errors';
import { MAX_START_DELAY_MS } from '../../shared/start-delay';
import { COLLECTION_NAME_PATTERN } from './tenants';
import { PageQueryFields, PageSchema } from '../paging';
import { pageRequestOf } from '../../shared/paging';

// Reconcile runs: start (202), live progress, per-record findings (cursor-paged), cancel.

const Db = Type.String({ pattern: '^[A-Za-z0-9_-]{1,63}$' });
const Coll = Type.String({ pattern: COLLECTION_NAME_PATTERN, maxLength: 64 });
const Uri = Type.String({
  pattern: '^mongodb(\\+srv)?://[^\\s]+$',
  maxLength: 2048,
  description: 'connection string (a secret: stored, never returned); omitted = the platform MongoDB',
});
const Namespace = Type.Object({ uri: Type.Optional(Uri), db: Db, collection: Coll }, { additionalProperties: false });
const NamespaceSource = Type.Object(
  { kind: Type.Literal('namespace'), uri: Type.Optional(Uri), db: Db, collection: Coll },
  { additionalProperties: false },
);
const TenantSource = Type.Object(
  { kind: Type.Literal('tenant'), tenantId: Type.String({ pattern: TENANT_ID_PATTERN, maxLength: 64 }), collection: Coll },
  { additionalProperties: false },
);
const int = (k: keyof typeof RECONCILE_LIMITS, description: string) =>
  Type.Optional(Type.Integer({ minimum: RECONCILE_LIMITS[k][0], maximum: RECONCILE_LIMITS[k][1], description }));
const Options = Type.Object(
  {
    chunkSize: int('chunkSize', 'merged keys per chunk (default 1000)'),
    maxConcurrency: int('maxConcurrency', 'partitions in flight (default 5)'),
    retryAttempts: int('retryAttempts', 'retries of a failing chunk before it is recorded as failed (default 3)'),
    retryDelay: int('retryDelay', 'first retry delay in ms, doubled per attempt (default 5000)'),
    timeoutPerChunk: int('timeoutPerChunk', 'bound on one chunk attempt in ms (default 600000)'),
    partitions: int('partitions', 'key-space partitions; 0 = auto (default)'),
    repairBatch: int('repairBatch', 'staged repairs applied together (default 1000)'),
    heartbeatTimeoutMs: int('heartbeatTimeoutMs', 'how fast a killed worker is noticed (default 10000)'),
    progressIntervalMs: int('progressIntervalMs', 'minimum gap between progress reports of a partition (default 2000)'),
    historyLimit: int('historyLimit', 'history length at which a run continues as new (default 2000)'),
    dryRun: Type.Optional(Type.Boolean({ description: 'compare and report only; nothing is written to the target' })),
    extras: Type.Optional(
      Type.Union([Type.Literal('flag'), Type.Literal('delete')], {
        description: "records only in the target: 'flag' (default) or 'delete'",
      }),
    ),
    scan: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Literal('ordered'), Type.Literal('hashed')], {
        description:
          "how the stores are read: 'ordered' (key-ordered cursors, merged), 'hashed' (natural-order reads spilled to hash buckets), 'auto' (hashed on FerretDB; default)",
      }),
    ),
    repairMode: Type.Optional(
      Type.Union([Type.Literal('guarded'), Type.Literal('rewrite')], {
        description:
          "hashed scans: 'guarded' (batches of guarded writes; default) or 'rewrite' (the target rewritten once with the repairs, then swapped in: linear on FerretDB; only for a target nothing else writes meanwhile)",
      }),
    ),
  },
  { additionalProperties: false },
);
/** Delayed start (Temporal startDelay): one of them, at most 7 days out. */
const Delay = {
  startAt: Type.Optional(Type.String({ format: 'date-time', description: 'start at this time (at most 7 days out)' })),
  delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_START_DELAY_MS, description: 'start after this many ms' })),
};
/** Most batches one bulk request may start. */
const BULK_MAX = 50;

const StartBody = Type.Object(
  {
    batchId: Type.Optional(
      Type.String({
        pattern: BATCH_ID_PATTERN,
        maxLength: 64,
        description: 'dedup key of the run (default: from Idempotency-Key, else generated)',
      }),
    ),
    source: Type.Union([NamespaceSource, TenantSource]),
    target: Type.Optional(Namespace),
    options: Type.Optional(Options),
    ...Delay,
  },
  { additionalProperties: false },
);
const Started = Type.Object({
  batchId: Type.String(),
  workflowId: Type.String(),
  correlationId: Type.String(),
  created: Type.Boolean(),
  notBefore: Type.Optional(Type.String({ format: 'date-time', description: 'a delayed start: not before this' })),
});

/** One request, many batches: a tenant's collections (each into its own database) or many namespaces. */
const BulkBody = Type.Object(
  {
    source: Type.Union([
      Type.Object(
        {
          kind: Type.Literal('tenant'),
          tenantId: Type.String({ pattern: TENANT_ID_PATTERN, maxLength: 64 }),
          collections: Type.Array(Coll, { minItems: 1, maxItems: BULK_MAX, uniqueItems: true }),
        },
        { additionalProperties: false },
      ),
      Type.Object(
        {
          kind: Type.Literal('namespaces'),
          pairs: Type.Array(Type.Object({ source: NamespaceSource, target: Namespace }, { additionalProperties: false }), {
            minItems: 1,
            maxItems: BULK_MAX,
          }),
        },
        { additionalProperties: false },
      ),
    ]),
    options: Type.Optional(Options),
    ...Delay,
  },
  { additionalProperties: false },
);
const BulkStarted = Type.Object({ batches: Type.Array(Type.Intersect([Started, Type.Object({ collection: Type.String() })])) });
const Params = Type.Object({ batchId: Type.String({ pattern: BATCH_ID_PATTERN, maxLength: 64 }) }, { additionalProperties: false });
const Progress = Type.Object(
  {
    batchId: Type.String(),
    workflowId: Type.String(),
    correlationId: Type.String(),
    state: Type.String(),
    live: Type.Boolean(),
    dryRun: Type.Boolean(),
    processed: Type.Integer(),
    total: Type.Integer(),
    successful: Type.Integer(),
    failed: Type.Integer(),
    outcomes: Type.Object({
      matched: Type.Integer(),
      missing_in_target: Type.Integer(),
      extra_in_target: Type.Integer(),
      mismatched: Type.Integer(),
    }),
    repaired: Type.Integer(),
    flagged: Type.Integer(),
    conflicts: Type.Integer(),
    ratePerSec: Type.Number(),
    etaSeconds: Type.Union([Type.Number(), Type.Null()]),
    chunks: Type.Object({ done: Type.Integer(), failed: Type.Integer(), inFlight: Type.Integer() }),
    partitions: Type.Object({ total: Type.Integer(), done: Type.Integer(), running: Type.Integer(), failed: Type.Integer() }),
    runs: Type.Integer(),
    startedAt: Type.String(),
    updatedAt: Type.String(),
    finishedAt: Type.Optional(Type.String()),
    elapsedMs: Type.Number(),
    errors: Type.Optional(Type.Array(Type.String())),
    scan: Type.Optional(
      Type.Object(
        {
          phase: Type.Union([Type.Literal('scanning'), Type.Literal('comparing')]),
          read: Type.Integer({ description: 'records read from both stores' }),
          of: Type.Integer({ description: 'records in both stores at plan time' }),
        },
        { description: 'hashed scans: the natural-order read of both stores before keys are compared' },
      ),
    ),
  },
  { additionalProperties: true },
);
const ErrorsQuery = Type.Object(
  {
    after: Type.Optional(Type.String({ maxLength: 1200, description: 'nextCursor of the previous page' })),
    limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: '1..1000 (default 100)' })),
  },
  { additionalProperties: false },
);
const ErrorItem = Type.Object(
  {
    id: Type.String(),
    key: Type.Unknown(),
    outcome: Type.Union([Type.String(), Type.Null()]),
    action: Type.String({ description: 'reported (dry run), flagged, conflict, failed or chunk_failed' }),
    errorType: Type.Union([Type.String(), Type.Null()]),
    message: Type.Union([Type.String(), Type.Null()]),
    partition: Type.Integer(),
    chunk: Type.Integer(),
    records: Type.Optional(Type.Integer()),
    at: Type.String(),
  },
  { additionalProperties: false },
);
const ErrorsPage = Type.Object({
  batchId: Type.String(),
  items: Type.Array(ErrorItem),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
const ListQuery = Type.Object(
  {
    state: Type.Optional(Type.Union(['pending', 'running', 'completed', 'partial', 'failed', 'cancelled'].map((v) => Type.Literal(v)))),
    tenantId: Type.Optional(Type.String({ pattern: TENANT_ID_PATTERN, maxLength: 64, description: 'batches of this tenant' })),
    ...PageQueryFields,
  },
  { additionalProperties: false },
);
const Ref = Type.Object(
  {
    kind: Type.Optional(Type.String()),
    tenantId: Type.Optional(Type.String()),
    db: Type.Optional(Type.String()),
    collection: Type.String(),
    external: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const BatchRow = Type.Object(
  {
    batchId: Type.String(),
    workflowId: Type.String(),
    state: Type.String(),
    source: Ref,
    target: Ref,
    dryRun: Type.Boolean(),
    createdAt: Type.String({ format: 'date-time' }),
    createdBy: Type.String({ description: "token subject that started it ('unknown' before audit fields)" }),
    startedAt: Type.Union([Type.String(), Type.Null()]),
    finishedAt: Type.Union([Type.String(), Type.Null()]),
    processed: Type.Union([Type.Integer(), Type.Null()], { description: 'records processed, once finished' }),
  },
  { additionalProperties: false },
);
const Cancelling = Type.Object({ batchId: Type.String(), workflowId: Type.String(), state: Type.Literal('cancelling') });

const reconcile: FastifyPluginAsyncTypebox<{ service: ReconcileService }> = async (app, { service }) => {
  // The service checks the token against everything a spec or a stored batch touches
  // (api/services/reconcile/access.ts): a refused start is 403, an unreachable batch 404.
  app.post(
    '/api/reconcile',
    {
      config: { auth: { scope: Scopes.reconcileWrite, tenants: 'resource' }, idempotency: { required: true } },
      schema: { body: StartBody, response: { 202: Started, ...problemResponses } },
    },
    async (req, reply) => {
      const body = req.body;
      const batchId = body.batchId ?? (req.idempotencyKey ? idFromIdempotencyKey('rc', req.principal, req.idempotencyKey) : undefined);
      const started = await service.start({ ...body, batchId }, req.correlationId, req.principal);
      return reply.code(202).send(started);
    },
  );

  // Bulk: one batch per collection (or namespace pair), each with a batch ID derived from the
  // request's Idempotency-Key and its position, so a repeated request — or a retry after a 429 —
  // starts only what did not start yet. Every batch is checked before the first one starts.
  app.post(
    '/api/reconcile/bulk',
    {
      config: { auth: { scope: Scopes.reconcileWrite, tenants: 'resource' }, idempotency: { required: true } },
      schema: { body: BulkBody, response: { 202: BulkStarted, ...problemResponses } },
    },
    async (req, reply) => {
      const { source, options, startAt, delayMs } = req.body;
      const key = req.idempotencyKey!;
      const items: Array<{ collection: string; spec: StartReconcileRequest }> =
        source.kind === 'tenant'
          ? source.collections.map((collection) => ({
              collection,
              spec: { source: { kind: 'tenant', tenantId: source.tenantId, collection } },
            }))
          : source.pairs.map((p) => ({
              collection: `${p.source.db}.${p.source.collection}`,
              spec: { source: p.source, target: p.target },
            }));
      const specs = items.map((it, i) => ({
        collection: it.collection,
        spec: {
          ...it.spec,
          ...(options ? { options } : {}),
          ...(startAt !== undefined ? { startAt } : {}),
          ...(delayMs !== undefined ? { delayMs } : {}),
          batchId: idFromIdempotencyKey('rc', req.principal, `${key}\n${i}\n${it.collection}`),
        },
      }));
      for (const s of specs) await service.check(s.spec, req.principal);
      const batches = [];
      for (const s of specs) {
        try {
          batches.push({ collection: s.collection, ...(await service.start(s.spec, req.correlationId, req.principal)) });
        } catch (err) {
          // A quota (or an outage) stopped it midway: say what did start; the same key resumes.
          if (err instanceof AppError) Object.assign(err.extras, { started: batches.map((b) => b.batchId) });
          throw err;
        }
      }
      req.log.info({ batches: batches.length, created: batches.filter((b) => b.created).length }, 'bulk reconcile started');
      return reply.code(202).send({ batches });
    },
  );

  // Batches the token reaches (every tenant a batch touches, as for one batch), in batch-ID order.
  app.get(
    '/api/reconcile',
    {
      config: { auth: { scope: Scopes.reconcileRead, tenants: 'global' } },
      schema: { querystring: ListQuery, response: { 200: PageSchema(BatchRow), ...problemResponses } },
    },
    async (req) => {
      const { state, tenantId } = req.query;
      return service.list(
        pageRequestOf(req.query),
        { ...(state ? { state: state as ReconcileState } : {}), ...(tenantId ? { tenantId } : {}) },
        req.principal!,
      );
    },
  );

  app.get(
    '/api/reconcile/:batchId/progress',
    {
      config: { auth: { scope: Scopes.reconcileRead, tenants: 'resource' } },
      schema: { params: Params, response: { 200: Progress, ...problemResponses } },
    },
    async (req) => {
      return service.progress(req.params.batchId, req.principal);
    },
  );

  app.get(
    '/api/reconcile/:batchId/errors',
    {
      config: { auth: { scope: Scopes.reconcileRead, tenants: 'resource' } },
      schema: { params: Params, querystring: ErrorsQuery, response: { 200: ErrorsPage, ...problemResponses } },
    },
    async (req) => {
      const limit = Math.min(1000, Number(req.query.limit ?? 100));
      return service.errors(req.params.batchId, req.query.after, limit, req.principal);
    },
  );

  app.post(
    '/api/reconcile/:batchId/cancel',
    {
      config: { auth: { scope: Scopes.reconcileWrite, tenants: 'resource' } },
      schema: { params: Params, response: { 202: Cancelling, ...problemResponses } },
    },
    async (req, reply) => {
      return reply.code(202).send(await service.cancel(req.params.batchId, req.principal));
    },
  );
};

export default reconcile;
