import type { ActivityDeps } from './deps';
import { createStackProbeActivities } from './probe/activities';
import { createTenantSyncActivities, type TenantSyncSettings } from './tenant-sync/activities';
import { createReconcileActivities, type ReconcileSettings } from './reconcile/activities';
import { createMigrationActivities, type MigrationSettings } from './migrations/activities';
import { createClientUpsertActivities, type ClientUpsertSettings } from './client-upsert/activities';
import { createCleanupActivities } from './maintenance/cleanup';
import { createStuckSyncActivities } from './maintenance/stuck-syncs';

export type { ActivityDeps } from './deps';

export interface ActivitySettings {
  tenantSync?: TenantSyncSettings;
  reconcile?: ReconcileSettings;
  migrations?: MigrationSettings;
  clientUpsert?: ClientUpsertSettings;
}

/** Every activity the worker registers, built over one set of dependencies. */
export function createActivities(deps: ActivityDeps, settings: ActivitySettings = {}) {
  return {
    ...createStackProbeActivities(deps),
    ...createTenantSyncActivities(deps, settings.tenantSync),
    ...createReconcileActivities(deps, settings.reconcile),
    ...createMigrationActivities(deps, settings.migrations),
    ...createClientUpsertActivities(deps, settings.clientUpsert),
    ...createCleanupActivities(deps),
    ...createStuckSyncActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
