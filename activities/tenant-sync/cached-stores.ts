import type { TenantRepository } from './registry';
import type { SyncStore } from './store';
import type { AppCache } from '../../infra/cache/cache';

// The login path's reads through the cache, as drop-in wrappers of the registry and the sync
// store (the activities/ originals stay untouched). Writes made through a wrapper invalidate
// what they change; POST /api/tenants invalidates the tenant itself (api/routes/tenants.ts), and
// the worker's recordSyncRun invalidates the status over Redis (bus.ts invalidateRemote).

/** The registry with `get` cached (namespace `tenants`); upserts through it invalidate the entry. */
export function cachedTenantRepository(repo: TenantRepository, cache: AppCache): TenantRepository {
  const ns = cache.namespace('tenants');
  return {
    ...repo,
    get: (tenantId) => ns.getOrSet(tenantId, () => repo.get(tenantId)),
    async upsert(t, by) {
      const out = await repo.upsert(t, by);
      await ns.invalidate(t.tenantId);
      return out;
    },
  };
}

/** The sync store with `getStatus` cached (namespace `sync-status`); a recorded run invalidates it. */
export function cachedSyncStore(store: SyncStore, cache: AppCache): SyncStore {
  const ns = cache.namespace('sync-status');
  return {
    ...store,
    getStatus: (tenantId) => ns.getOrSet(tenantId, () => store.getStatus(tenantId)),
    async recordRun(run) {
      await store.recordRun(run);
      await ns.invalidate(run.tenantId);
    },
  };
}
