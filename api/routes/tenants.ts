import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { coversTenant, Scopes, type Principal } from '../../infra/auth-token';
import { TenantDbClashError, toTenantView, type TenantRepository } from '../../activities/tenant-sync/registry';
import { AuthorizationError, ConflictError, NotFoundError, ValidationError } from '../errors';
import { problemResponses, TENANT_ID_PATTERN, TenantIdParams } from '../schemas';
import { DEFAULT_OUTBOUND, sourceRefusal, type OutboundPolicy } from '../../activities/sources/outbound';
import { sourceDatabaseRefusal } from '../../infra/tenant-db-name';
import { FAIRNESS_WEIGHT_MAX, FAIRNESS_WEIGHT_MIN } from '../../shared/priorities';
import { mapPage, pageRequestOf } from '../../shared/paging';
import { PageQueryFields, PageSchema } from '../paging';

// Tenant registry (scope admin, and the token must cover the tenant). Secrets (token, uri) are
// write-only: never returned.

export const COLLECTION_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';

const HttpSource = Type.Object(
  {
    kind: Type.Literal('http'),
    settings: Type.Object(
      {
        baseUrl: Type.String({ pattern: '^https?://[^\\s]{1,2000}$', maxLength: 2048 }),
        token: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
        timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 120_000 })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
const MongoSource = Type.Object(
  {
    kind: Type.Literal('mongodb'),
    settings: Type.Object(
      {
        uri: Type.String({ pattern: '^mongodb(\\+srv)?://[^\\s]+$', maxLength: 2048 }),
        database: Type.String({ pattern: '^[A-Za-z0-9_-]{1,63}$' }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const quota = (description: string) => Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description }));

/** Overrides of the QUOTA_* defaults (shared/quotas.ts); 0 allows none of that work. */
const TenantQuotasSchema = Type.Object(
  {
    reconcileConcurrentBatches: quota('Reconcile batches running at once (QUOTA_RECONCILE_CONCURRENT_BATCHES)'),
    reconcileStartsPerHour: quota('Reconcile batches started per clock hour (QUOTA_RECONCILE_STARTS_PER_HOUR)'),
    ensurePerMinute: quota('Login-sync ensure calls per clock minute (QUOTA_ENSURE_PER_MINUTE)'),
  },
  { additionalProperties: false },
);

export const TenantBody = Type.Object(
  {
    tenantId: Type.String({ pattern: TENANT_ID_PATTERN, maxLength: 64 }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    source: Type.Union([HttpSource, MongoSource]),
    collections: Type.Array(
      Type.Object(
        { name: Type.String({ pattern: COLLECTION_NAME_PATTERN, maxLength: 64 }), essential: Type.Boolean() },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 100 },
    ),
    fairnessWeight: Type.Optional(
      Type.Number({
        minimum: FAIRNESS_WEIGHT_MIN,
        maximum: FAIRNESS_WEIGHT_MAX,
        description: 'Share of task dispatch against other tenants at the same priority (default 1)',
      }),
    ),
    quotas: Type.Optional(TenantQuotasSchema),
  },
  { additionalProperties: false },
);

const TenantView = Type.Object({
  tenantId: Type.String(),
  name: Type.String(),
  source: Type.Object({ kind: Type.String(), settings: Type.Record(Type.String(), Type.Unknown()), secretsSet: Type.Array(Type.String()) }),
  collections: Type.Array(Type.Object({ name: Type.String(), essential: Type.Boolean() })),
  fairnessWeight: Type.Number(),
  quotas: TenantQuotasSchema,
  createdAt: Type.String(),
  updatedAt: Type.String(),
  createdBy: Type.String({ description: "token subject of the first registration ('unknown' before audit fields)" }),
  updatedBy: Type.String({ description: 'token subject of the latest registration' }),
});
const ListQuery = Type.Object(PageQueryFields, { additionalProperties: false });

/** 409 naming the database; the other tenant only when the caller covers it (existence is not revealed). */
function clashProblem(err: TenantDbClashError, p: Principal | undefined): ConflictError {
  const other = 'tenantId' in err.clashesWith ? err.clashesWith.tenantId : undefined;
  const named = other !== undefined && p !== undefined && coversTenant(p, other);
  const withWhat =
    other === undefined ? 'an existing database whose name differs only in case' : named ? `tenant '${other}'` : 'another tenant';
  const detail = `tenant '${err.tenantId}' would use database '${err.dbName}', which clashes with ${withWhat}; choose another tenant ID`;
  return new ConflictError(detail, { tenantId: err.tenantId, database: err.dbName, ...(named ? { clashesWith: other } : {}) });
}

const tenants: FastifyPluginAsyncTypebox<{
  repo: TenantRepository;
  platformDb: string;
  outbound?: OutboundPolicy;
  /** Called after a registration changed a tenant: the login path's cache drops it in every API process. */
  onTenantChanged?: (tenantId: string) => Promise<void>;
}> = async (app, { repo, platformDb, outbound = DEFAULT_OUTBOUND, onTenantChanged }) => {
  app.post(
    '/api/tenants',
    {
      config: { auth: { scope: Scopes.admin, tenants: { body: 'tenantId' } } },
      schema: { body: TenantBody, response: { 200: TenantView, 201: TenantView, ...problemResponses } },
    },
    async (req, reply) => {
      const names = req.body.collections.map((c) => c.name);
      if (new Set(names).size !== names.length) throw new ValidationError('collection names must be unique');
      const refused = sourceRefusal(outbound, req.body.source);
      if (refused) throw new ValidationError(`source: ${refused}`);
      const dbRefused =
        req.body.source.kind === 'mongodb' ? sourceDatabaseRefusal(req.body.source.settings.database, platformDb) : undefined;
      if (dbRefused) throw new AuthorizationError(`source: ${dbRefused}`);
      const { created, tenant } = await repo.upsert(req.body, req.principal?.sub ?? 'unknown').catch((err: unknown) => {
        throw err instanceof TenantDbClashError ? clashProblem(err, req.principal) : err;
      });
      await onTenantChanged?.(tenant._id);
      req.log.info({ tenantId: tenant._id, created, kind: tenant.source.kind, collections: names.length }, 'tenant registered');
      return reply.code(created ? 201 : 200).send(toTenantView(tenant));
    },
  );

  // The tenants the token covers (admin scope), in tenant-ID order, with a total (the registry is small).
  app.get(
    '/api/tenants',
    {
      config: { auth: { scope: Scopes.admin, tenants: 'global' } },
      schema: { querystring: ListQuery, response: { 200: PageSchema(TenantView), ...problemResponses } },
    },
    async (req) => mapPage(await repo.list(pageRequestOf(req.query), req.principal!.tenants), toTenantView),
  );

  app.get(
    '/api/tenants/:tenantId',
    {
      config: { auth: { scope: Scopes.admin, tenants: { param: 'tenantId' } } },
      schema: { params: TenantIdParams, response: { 200: TenantView, ...problemResponses } },
    },
    async (req) => {
      const t = await repo.get(req.params.tenantId);
      if (!t) throw new NotFoundError('Tenant', req.params.tenantId);
      return toTenantView(t);
    },
  );
};

export default tenants;
