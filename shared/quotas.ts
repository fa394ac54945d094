// Quotas on starting work (issue: no noisy tenant). Per tenant — config defaults, overridable in
// the tenant registry — and global caps. Pure: the API enforces them (api/services/quotas/), the
// registry stores the overrides, the work view shows them.

/** Per-tenant quotas a tenant's registry entry may override (0 = none of that work allowed). */
export interface TenantQuotas {
  /** Reconcile batches of this tenant running at once. */
  reconcileConcurrentBatches?: number;
  /** Reconcile batches of this tenant started per clock hour (a fixed window). */
  reconcileStartsPerHour?: number;
  /** Login-sync ensure calls for this tenant per clock minute. */
  ensurePerMinute?: number;
}

export type TenantQuotaName = keyof TenantQuotas;

export const TENANT_QUOTA_NAMES = [
  'reconcileConcurrentBatches',
  'reconcileStartsPerHour',
  'ensurePerMinute',
] as const satisfies readonly TenantQuotaName[];

/** Global caps, over every tenant and every API process. */
export interface GlobalQuotas {
  /** Reconcile batches running at once. */
  reconcileConcurrent: number;
  /** Migration runs at once. */
  migrationsConcurrent: number;
}

/** The name a refusal carries (problem+json `quota`), snake_case like our metric labels. */
export const QuotaIds = {
  reconcileConcurrentBatches: 'reconcile_concurrent_batches',
  reconcileStartsPerHour: 'reconcile_starts_per_hour',
  ensurePerMinute: 'ensure_per_minute',
  reconcileConcurrent: 'reconcile_concurrent',
  migrationsConcurrent: 'migrations_concurrent',
} as const satisfies Record<TenantQuotaName | keyof GlobalQuotas, string>;

export type QuotaId = (typeof QuotaIds)[keyof typeof QuotaIds];

/** A tenant's limits: its overrides over the defaults. */
export function effectiveTenantQuotas(defaults: Required<TenantQuotas>, overrides: TenantQuotas | undefined): Required<TenantQuotas> {
  const out = { ...defaults };
  for (const k of TENANT_QUOTA_NAMES) {
    const v = overrides?.[k];
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) out[k] = v;
  }
  return out;
}

/** Fixed windows: the window a moment falls in, and the ms until it ends. */
export function windowOf(nowMs: number, windowMs: number): { index: number; msLeft: number } {
  const index = Math.floor(nowMs / windowMs);
  return { index, msLeft: (index + 1) * windowMs - nowMs };
}
