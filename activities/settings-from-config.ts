import type { AppConfig } from '../infra/config';
import { keyringFromConfig, type Keyring } from '../infra/secrets';
import type { ActivityDeps } from './deps';
import type { ActivitySettings } from './index';
import { outboundFromConfig, type OutboundPolicy } from './sources/outbound';
import { progressEveryFor } from './tenant-sync/progress';

// Config → activity settings and dependencies, written once: the worker, the API's direct path
// and the test helpers build their activities through these two functions, so they cannot drift.

/** The config fields activity settings are made of. */
export type ActivitySettingsConfig = Pick<
  AppConfig,
  | 'SYNC_PAGE_SIZE'
  | 'SYNC_STUCK_AFTER_MS'
  | 'CLIENTS_DIR'
  | 'MIGRATION_BATCH_SIZE'
  | 'MIGRATION_BACKUP_RETENTION_MS'
  | 'RECONCILE_SPILL_DIR'
>;

/** ActivitySettings with every section present. */
export type ResolvedActivitySettings = { [K in keyof ActivitySettings]-?: NonNullable<ActivitySettings[K]> };

/**
 * Every activity setting that comes from config; `overrides` (tests: hooks, a registry, a smaller
 * batch) merge into it section by section, field by field.
 */
export function activitySettingsFromConfig(config: ActivitySettingsConfig, overrides: ActivitySettings = {}): ResolvedActivitySettings {
  return {
    tenantSync: { pageSize: config.SYNC_PAGE_SIZE, progressEveryMs: progressEveryFor(config.SYNC_STUCK_AFTER_MS), ...overrides.tenantSync },
    reconcile: { spillDir: config.RECONCILE_SPILL_DIR, ...overrides.reconcile },
    migrations: { batchSize: config.MIGRATION_BATCH_SIZE, retentionMs: config.MIGRATION_BACKUP_RETENTION_MS, ...overrides.migrations },
    clientUpsert: { dir: config.CLIENTS_DIR, ...overrides.clientUpsert },
  };
}

/** The config fields activity dependencies are made of. */
export type ActivityDepsConfig = Parameters<typeof keyringFromConfig>[0] & Parameters<typeof outboundFromConfig>[0];

/** ActivityDeps with the config-made fields filled. */
export type ResolvedActivityDeps = ActivityDeps & { secrets: Keyring; outbound: OutboundPolicy };

/**
 * The clients plus what config decides: the keyring of SECRETS_KEY and the SOURCE_* outbound
 * policy, unless `clients` brings its own.
 */
export function activityDepsFromConfig(
  config: ActivityDepsConfig,
  clients: Omit<ActivityDeps, 'secrets'> & { secrets?: Keyring | undefined },
): ResolvedActivityDeps {
  return { ...clients, secrets: clients.secrets ?? keyringFromConfig(config), outbound: clients.outbound ?? outboundFromConfig(config) };
}
