import type { Db } from 'mongodb';
import { Collections } from '../infra/mongo';
import type { CollectionPlan } from '../shared/tenant-sync';
import type { SourceSpec } from './sources/types';

// The tenant registry: each tenant's upstream source and its collections.

export interface TenantDoc {
  _id: string;
  name: string;
  source: SourceSpec;
  collections: CollectionPlan[];
  createdAt: Date;
  updatedAt: Date;
}

/** What the API may show: settings without secrets, and which secrets are set. */
export interface TenantView {
  tenantId: string;
  name: string;
  source: { kind: SourceSpec['kind']; settings: Record<string, unknown>; secretsSet: string[] };
  collections: CollectionPlan[];
  createdAt: string;
  updatedAt: string;
}

const SECRET_FIELDS = ['token', 'uri'] as const;

export function toTenantView(t: TenantDoc): TenantView {
  const settings: Record<string, unknown> = { ...t.source.settings };
  const secretsSet: string[] = [];
  for (const f of SECRET_FIELDS) {
    if (settings[f] !== undefined) secretsSet.push(f);
    delete settings[f];
  }
  return { tenantId: t._id, name: t.name, source: { kind: t.source.kind, settings, secretsSet }, collections: t.collections, createdAt: t.createdAt.toISOString(), updatedAt: t.updatedAt.toISOString() };
}

export function createTenantRepository(db: Db) {
  const col = db.collection<TenantDoc>(Collections.tenants);
  return {
    get: (tenantId: string) => col.findOne({ _id: tenantId }),
    async upsert(t: { tenantId: string; name: string; source: SourceSpec; collections: CollectionPlan[] }): Promise<{ created: boolean; tenant: TenantDoc }> {
      const now = new Date();
      const res = await col.findOneAndUpdate(
        { _id: t.tenantId },
        { $set: { name: t.name, source: t.source, collections: t.collections, updatedAt: now }, $setOnInsert: { createdAt: now } },
        { upsert: true, returnDocument: 'after', includeResultMetadata: true },
      );
      return { created: res.lastErrorObject?.updatedExisting === false, tenant: res.value! };
    },
  };
}

export type TenantRepository = ReturnType<typeof createTenantRepository>;
