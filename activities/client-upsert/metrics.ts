import { metrics, type Meter } from '@opentelemetry/api';

// Client-upsert metrics, all defined here, under the seed's names, recorded through the
// OpenTelemetry API (the exporter is wired by whoever installs a MeterProvider). Attributes
// carry keys and outcomes only — never an e-mail or any other personal data. Where the seed put
// counts in attributes (client_route_sync_total{added=…}), the count is the value and the kind
// of change is the attribute, so cardinality stays bounded.

import { METER_NAME } from '../../infra/metrics';

export { METER_NAME };

export const ClientMetricNames = {
  upsertTotal: 'client_config_upsert_total',
  upsertDuration: 'client_config_upsert_duration_seconds',
  upsertErrors: 'client_config_upsert_errors_total',
  routeSyncTotal: 'client_route_sync_total',
  routeSyncDuration: 'client_route_sync_duration_seconds',
  routeSyncErrors: 'client_route_sync_errors_total',
  menuSyncTotal: 'client_menu_sync_total',
  menuSyncErrors: 'client_menu_sync_errors_total',
  componentInstallTotal: 'client_component_install_total',
  componentInstallDuration: 'client_component_install_duration_seconds',
  userCreationTotal: 'client_user_creation_total',
  userCreationErrors: 'client_user_creation_errors_total',
} as const;

/** Seconds, from a few ms (a skipped step) to minutes (a huge client). */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export type Change = 'added' | 'updated' | 'removed' | 'unchanged';

/**
 * Instruments over the global meter. Call after the MeterProvider is installed: the API hands
 * out no-op meters before that (there is no proxy for metrics as there is for traces).
 */
export function createClientMetrics(meter: Meter = metrics.getMeter(METER_NAME)) {
  const n = ClientMetricNames;
  const counter = (name: string, description: string) => meter.createCounter(name, { description });
  const seconds = (name: string, description: string) =>
    meter.createHistogram(name, { description, unit: 's', advice: { explicitBucketBoundaries: SECONDS_BUCKETS } });
  const m = {
    upsertTotal: counter(n.upsertTotal, 'Client config upserts by operation (create, update, unchanged = skipped after a hash compare)'),
    upsertDuration: seconds(n.upsertDuration, 'Duration of one client upsert, all steps'),
    upsertErrors: counter(
      n.upsertErrors,
      'Errors of client upserts by operation (config, client, routes, menus, components, users) and error type',
    ),
    routeSyncTotal: counter(n.routeSyncTotal, 'Routes synchronized, by change'),
    routeSyncDuration: seconds(n.routeSyncDuration, 'Duration of one route synchronization'),
    routeSyncErrors: counter(n.routeSyncErrors, 'Route synchronization errors (invalid routes, failed writes)'),
    menuSyncTotal: counter(n.menuSyncTotal, 'Menus synchronized, by menu and change'),
    menuSyncErrors: counter(n.menuSyncErrors, 'Menu synchronization errors'),
    componentInstallTotal: counter(n.componentInstallTotal, 'Components installed, by fqn and change'),
    componentInstallDuration: seconds(n.componentInstallDuration, 'Duration of one component installation step'),
    userCreationTotal: counter(n.userCreationTotal, 'Client users by outcome (added, updated membership, unchanged); no personal data'),
    userCreationErrors: counter(n.userCreationErrors, 'User creation errors by error type'),
  };
  return {
    ...m,
    changes(counter: typeof m.routeSyncTotal, clientKey: string, counts: Record<Change, number>, extra: Record<string, string> = {}): void {
      for (const change of ['added', 'updated', 'removed', 'unchanged'] as const) {
        if (counts[change] > 0) counter.add(counts[change], { clientKey, change, ...extra });
      }
    },
  };
}

export type ClientMetrics = ReturnType<typeof createClientMetrics>;
