import type { ActivityDeps } from './deps';
import { createStackProbeActivities } from './stack-probe';
import { createTenantSyncActivities, type TenantSyncSettings } from './tenant-sync';

export type { ActivityDeps } from './deps';

export interface ActivitySettings {
  tenantSync?: TenantSyncSettings;
}

/** Every activity the worker registers, built over one set of dependencies. */
export function createActivities(deps: ActivityDeps, settings: ActivitySettings = {}) {
  return {
    ...createStackProbeActivities(deps),
    ...createTenantSyncActivities(deps, settings.tenantSync),
  };
}

export type Activities = ReturnType<typeof createActivities>;
