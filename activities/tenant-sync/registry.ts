import type { Db } from 'mongodb';
import { Collections } from '../../infra/mongo';
import { SecretDecryptError, SecretKeyUnknownError, type Keyring } from '../../infra/secrets';
import { AppError, SyncErrorType } from '../../shared/errors';
import { tenantDbName } from '../../infra/tenant-db-name';
import type { TenantQuotas } from '../../shared/quotas';
import type { CollectionPlan } from '../../shared/tenant-sync';
import { SourceError, type SourceSpec } from '../sources/types';
import { pageById } from '../records/paging';
import type { Page, PageRequest } from '../../shared/paging';

// The tenant registry: each tenant's upstream source and its collections. Source secrets
// (token, uri) are stored sealed (infra/secrets.ts) and revealed only to open a connection.

export interface TenantDoc {
  _id: string;
  name: string;
  /** As registered, except that `settings.token` / `settings.uri` hold sealed values. */
  source: SourceSpec;
  collections: CollectionPlan[];
  /** The tenant's database (infra/tenant-db-name.ts); absent on tenants registered before it was stored. */
  dbName?: string;
  /** Its share of task dispatch against other tenants at the same priority (shared/priorities.ts). Absent: 1. */
  fairnessWeight?: number;
  /** Overrides of the QUOTA_* defaults for this tenant (shared/quotas.ts). */
  quotas?: TenantQuotas;
  createdAt: Date;
  updatedAt: Date;
  /** Token subject of the first and the latest registration ('unknown' on entries from before audit fields). */
  createdBy?: string;
  updatedBy?: string;
  /** TENANT_SCHEMA_VERSION when written; absent on entries from before versions (migration 20261202000100). */
  _schemaVersion?: number;
}

/** Shape version of a tenant document this code writes. */
export const TENANT_SCHEMA_VERSION = 1;

/** What the API may show: settings without secrets, and which secrets are set. */
export interface TenantView {
  tenantId: string;
  name: string;
  source: { kind: SourceSpec['kind']; settings: Record<string, unknown>; secretsSet: string[] };
  collections: CollectionPlan[];
  fairnessWeight: number;
  quotas: TenantQuotas;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
  updatedBy: string;
}

export const SECRET_FIELDS = ['token', 'uri'] as const;
export type SecretField = (typeof SECRET_FIELDS)[number];

/** Where a tenant's secret lives: the AAD that binds its sealed value to this tenant and field. */
export const tenantSecretPlace = (tenantId: string, field: SecretField) => `tenant:${tenantId}:source.settings.${field}`;

/** Thrown when a new tenant's database name would be the one an existing tenant already uses. */
export class TenantDbClashError extends AppError {
  constructor(
    readonly tenantId: string,
    readonly dbName: string,
    readonly clashesWith: { tenantId: string } | { database: string },
  ) {
    const other = 'tenantId' in clashesWith ? `tenant '${clashesWith.tenantId}'` : `the existing database '${clashesWith.database}'`;
    super('tenant-db-clash', `tenant '${tenantId}' would use database '${dbName}', which clashes with ${other}`);
  }
}

export function toTenantView(t: TenantDoc): TenantView {
  const settings: Record<string, unknown> = { ...t.source.settings };
  const secretsSet: string[] = [];
  for (const f of SECRET_FIELDS) {
    if (settings[f] !== undefined) secretsSet.push(f);
    delete settings[f];
  }
  return {
    tenantId: t._id,
    name: t.name,
    source: { kind: t.source.kind, settings, secretsSet },
    collections: t.collections,
    fairnessWeight: t.fairnessWeight ?? 1,
    quotas: t.quotas ?? {},
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
    createdBy: t.createdBy ?? 'unknown',
    updatedBy: t.updatedBy ?? 'unknown',
  };
}

/** Applies `fn` to each secret field present in a source's settings. */
export function mapSourceSecrets(source: SourceSpec, fn: (value: string, field: SecretField) => string): SourceSpec {
  const settings: Record<string, unknown> = { ...source.settings };
  for (const f of SECRET_FIELDS) if (typeof settings[f] === 'string') settings[f] = fn(settings[f] as string, f);
  return { ...source, settings } as unknown as SourceSpec;
}

export function createTenantRepository(db: Db, keyring: Keyring) {
  const col = db.collection<TenantDoc>(Collections.tenants);

  /** Another tenant whose database is `dbName` — as stored, or derived for older entries — or a database differing only in case. */
  async function findDbClash(tenantId: string, dbName: string): Promise<TenantDbClashError | undefined> {
    // Stored names are lowercase (tenant-db-name.ts); entries from before they were stored are derived.
    const owner =
      (await col.findOne({ dbName, _id: { $ne: tenantId } }, { projection: { _id: 1 } })) ??
      (await col.find({ dbName: { $exists: false }, _id: { $ne: tenantId } }, { projection: { _id: 1 } }).toArray()).find(
        (t) => tenantDbName(t._id) === dbName,
      );
    if (owner) return new TenantDbClashError(tenantId, dbName, { tenantId: owner._id });
    // MongoDB refuses a database whose name differs from an existing one only in case.
    const dbs = await db
      .admin()
      .listDatabases({ nameOnly: true })
      .catch(() => ({ databases: [] as Array<{ name: string }> }));
    const cased = dbs.databases.find((d) => d.name !== dbName && d.name.toLowerCase() === dbName);
    return cased ? new TenantDbClashError(tenantId, dbName, { database: cased.name }) : undefined;
  }

  return {
    get: (tenantId: string) => col.findOne({ _id: tenantId }),
    findDbClash,
    /** One page in tenant-ID order, of `tenants` only when given (a token's coverage); counted (the registry is small). */
    list: (req: PageRequest, tenants: readonly string[] | '*'): Promise<Page<TenantDoc>> =>
      pageById(col, tenants === '*' ? {} : { _id: { $in: [...tenants] } }, req, { total: true }),
    /** Registers or updates a tenant, sealing its secrets; throws TenantDbClashError (nothing written) for a new ID whose database is taken. */
    async upsert(
      t: {
        tenantId: string;
        name: string;
        source: SourceSpec;
        collections: CollectionPlan[];
        fairnessWeight?: number;
        quotas?: TenantQuotas;
      },
      /** Who registers it (the token's subject). */
      by = 'unknown',
    ): Promise<{ created: boolean; tenant: TenantDoc }> {
      const dbName = tenantDbName(t.tenantId);
      const existing = await col.findOne({ _id: t.tenantId }, { projection: { _id: 1 } });
      if (!existing) {
        const clash = await findDbClash(t.tenantId, dbName);
        if (clash) throw clash;
      }
      const source = mapSourceSecrets(t.source, (v, f) => keyring.seal(v, tenantSecretPlace(t.tenantId, f)));
      const now = new Date();
      const res = await col.findOneAndUpdate(
        { _id: t.tenantId },
        // A registration is the whole entry: weight and quotas left out go back to the defaults.
        {
          $set: {
            name: t.name,
            source,
            collections: t.collections,
            dbName,
            updatedAt: now,
            updatedBy: by,
            _schemaVersion: TENANT_SCHEMA_VERSION,
            ...(t.fairnessWeight !== undefined ? { fairnessWeight: t.fairnessWeight } : {}),
            ...(t.quotas !== undefined ? { quotas: t.quotas } : {}),
          },
          $setOnInsert: { createdAt: now, createdBy: by },
          ...(t.fairnessWeight === undefined || t.quotas === undefined
            ? {
                $unset: {
                  ...(t.fairnessWeight === undefined ? { fairnessWeight: '' } : {}),
                  ...(t.quotas === undefined ? { quotas: '' } : {}),
                },
              }
            : {}),
        },
        { upsert: true, returnDocument: 'after', includeResultMetadata: true },
      );
      return { created: res.lastErrorObject?.updatedExisting === false, tenant: res.value! };
    },
    /**
     * The source with its secrets decrypted: call only to open a connection, never to show or log
     * it. A key missing from SECRETS_KEY or a damaged value fails as a VALIDATION_ERROR (no retry heals it).
     */
    revealSource(tenant: TenantDoc): SourceSpec {
      try {
        return mapSourceSecrets(tenant.source, (v, f) => keyring.reveal(v, tenantSecretPlace(tenant._id, f)));
      } catch (err) {
        if (err instanceof SecretKeyUnknownError || err instanceof SecretDecryptError)
          throw new SourceError(SyncErrorType.VALIDATION_ERROR, err.message);
        throw err;
      }
    },
  };
}

export type TenantRepository = ReturnType<typeof createTenantRepository>;
