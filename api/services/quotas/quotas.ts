import { WorkflowNotFoundError } from '@temporalio/client';
import type { AppConfig } from '../../../infra/config';
import type { Logger } from '../../../infra/logger';
import type { Redis } from '../../../infra/redis';
import type { TemporalHandle } from '../../../infra/temporal';
import { CallDeadlines, withTimeout } from '../../../infra/timeout';
import { AppError } from '../../../shared/errors';
import { effectiveTenantQuotas, QuotaIds, windowOf, type GlobalQuotas, type QuotaId, type TenantQuotas } from '../../../shared/quotas';

// Quotas where work starts, shared by every API process through Redis (two small Lua scripts:
// a fixed-window counter that counts only admitted calls, and concurrency slots; a library such
// as rate-limiter-flexible counts refused calls too and has no slots). A refusal is a 429
// naming the quota, its limit and Retry-After, thrown before anything is written or started.
// Redis down: quotas cannot be counted, so work is admitted (logged once per outage) — a login
// must never fail because the quota store is away.

/** Thrown when a start would exceed a quota; nothing was started. */
export class QuotaExceededError extends AppError {
  constructor(
    readonly quota: QuotaId,
    readonly limit: number,
    retryAfterSeconds: number,
    scope: { tenantId: string } | { global: true },
  ) {
    const whose = 'tenantId' in scope ? `tenant '${scope.tenantId}'` : 'the platform';
    super('quota-exceeded', `Quota ${quota} of ${whose} is ${limit}; retry in ${retryAfterSeconds} s`, {
      extras: { quota, limit, retryAfter: retryAfterSeconds, ...scope },
      headers: { 'Retry-After': String(retryAfterSeconds) },
    });
  }
}

// KEYS[1] counter; ARGV limit, window ms. Answers -1 (admitted, counted) or the ms left in the window.
const TAKE = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = tonumber(ARGV[2]) end
  return ttl
end
redis.call('INCR', KEYS[1])
if n == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return -1`;

// KEYS slot sets (sorted by admission time); ARGV[1] member, ARGV[2] now ms, ARGV[3..] limits.
// Answers 0 (admitted into every set, or already in them) or the 1-based index of the full set.
const ADMIT = `
for i, k in ipairs(KEYS) do
  if redis.call('ZSCORE', k, ARGV[1]) == false and redis.call('ZCARD', k) >= tonumber(ARGV[i + 2]) then return i end
end
for i, k in ipairs(KEYS) do redis.call('ZADD', k, 'NX', ARGV[2], ARGV[1]) end
return 0`;

/**
 * The quota keys of a deployment (`scope`). A window counter is one key per tenant and window
 * (spread over a cluster). The slot sets are read and written together by ADMIT (the global set
 * with a tenant's), so they share the hash tag `{<scope>:running}`: one Redis Cluster slot.
 */
export const quotaKeys = {
  window: (scope: string, quota: QuotaId, tenantId: string, index: number) => `quota:${scope}:${quota}:${tenantId}:${index}`,
  running: (scope: string, ...parts: string[]) => `quota:{${scope}:running}:${parts.join(':')}`,
};

/** A quota check never holds a login longer than this (ioredis retries a lost Redis for seconds). */
const QUOTA_STORE_TIMEOUT_MS = 300;
/** Pruning asks Temporal about each held slot: bounded as a whole. */
const PRUNE_TIMEOUT_MS = 10_000;
/** How long a refused concurrency slot suggests waiting: one reconcile chunk is seconds. */
const SLOT_RETRY_AFTER_S = 30;
/** A member younger than this is not pruned as missing: its start may not be visible yet. */
const PRUNE_GRACE_MS = 30_000;

export interface QuotaSettings {
  tenant: Required<TenantQuotas>;
  global: GlobalQuotas;
}

export interface QuotaServiceOptions {
  redis: Redis;
  /** Keys are `quota:<scope>:…` (quotaKeys); the task queue keeps deployments sharing one Redis apart. */
  scope: string;
  settings: QuotaSettings;
  log: Logger;
  now?: () => number;
}

/** A held concurrency slot: release it when the start it guards failed. */
export interface Slot {
  release(): Promise<void>;
}

/** Where a slot's member (a workflow ID) stands: `missing` = no such workflow (yet); `unknown` = could not tell. */
export type MemberState = 'running' | 'closed' | 'missing' | 'unknown';
export type IsRunning = (member: string) => Promise<MemberState>;

export function createQuotaService(o: QuotaServiceOptions) {
  const now = o.now ?? Date.now;
  let outage = false;
  const running = (...parts: string[]) => quotaKeys.running(o.scope, ...parts);

  /** Runs a Redis step; Redis away → admit (undefined), logged once until Redis answers again. */
  async function guarded<T>(what: string, fn: () => Promise<T>, timeoutMs = QUOTA_STORE_TIMEOUT_MS): Promise<T | undefined> {
    try {
      const r = await withTimeout(`quota ${what}`, timeoutMs, () => fn());
      if (outage) o.log.info({ what }, 'quota store reachable again: quotas enforced');
      outage = false;
      return r;
    } catch (err) {
      if (!outage)
        o.log.warn({ what, err: err instanceof Error ? err.message : String(err) }, 'quota store unavailable: admitting work unchecked');
      outage = true;
      return undefined;
    }
  }

  async function takeWindow(quota: QuotaId, tenantId: string, limit: number, windowMs: number): Promise<void> {
    const w = windowOf(now(), windowMs);
    const k = quotaKeys.window(o.scope, quota, tenantId, w.index);
    const r = await guarded(quota, () => o.redis.eval(TAKE, 1, k, limit, windowMs) as Promise<number>);
    if (r !== undefined && r >= 0) throw new QuotaExceededError(quota, limit, Math.max(1, Math.ceil(r / 1000)), { tenantId });
  }

  async function prune(set: string, isRunning: IsRunning): Promise<void> {
    // Closed members leave at once; missing ones after the grace; on doubt a slot stays held.
    const members = await o.redis.zrange(set, '0', '-1', 'WITHSCORES');
    for (let i = 0; i < members.length; i += 2) {
      const [m, at] = [members[i]!, Number(members[i + 1])];
      const state = await isRunning(m);
      if (state === 'closed' || (state === 'missing' && now() - at > PRUNE_GRACE_MS)) await o.redis.zrem(set, m);
    }
  }

  /**
   * Admits `member` into every slot set whose limit allows it (atomically, across processes), or
   * throws QuotaExceededError for the first full one — after pruning members that have finished.
   */
  async function admit(
    member: string,
    sets: Array<{ quota: QuotaId; set: string; limit: number; scope: { tenantId: string } | { global: true } }>,
    isRunning: IsRunning,
  ): Promise<Slot> {
    const run = () =>
      o.redis.eval(
        ADMIT,
        sets.length,
        ...sets.map((s) => s.set),
        member,
        String(now()),
        ...sets.map((s) => String(s.limit)),
      ) as Promise<number>;
    let full = await guarded('admit', run);
    if (full !== undefined && full > 0) {
      await guarded('prune', () => prune(sets[full! - 1]!.set, isRunning), PRUNE_TIMEOUT_MS);
      full = await guarded('admit', run);
    }
    if (full !== undefined && full > 0) {
      const s = sets[full - 1]!;
      throw new QuotaExceededError(s.quota, s.limit, SLOT_RETRY_AFTER_S, s.scope);
    }
    return {
      release: async () => {
        await guarded('release', () => Promise.all(sets.map((s) => o.redis.zrem(s.set, member))));
      },
    };
  }

  return {
    settings: o.settings,
    /** The limits that apply to a tenant (its registry overrides over the defaults). */
    tenantLimits: (overrides: TenantQuotas | undefined) => effectiveTenantQuotas(o.settings.tenant, overrides),

    /** One login-sync ensure call of a tenant (per clock minute). */
    async takeEnsure(tenantId: string, overrides: TenantQuotas | undefined): Promise<void> {
      const limit = effectiveTenantQuotas(o.settings.tenant, overrides).ensurePerMinute;
      await takeWindow(QuotaIds.ensurePerMinute, tenantId, limit, 60_000);
    },

    /**
     * A new reconcile batch: the global cap, and for a tenant's batch its concurrent-batch and
     * starts-per-hour quotas. Slots first (a refused start does not spend an hourly start).
     */
    async admitReconcile(
      workflowId: string,
      tenant: { tenantId: string; quotas?: TenantQuotas } | undefined,
      isRunning: IsRunning,
    ): Promise<Slot> {
      const sets: Parameters<typeof admit>[1] = [
        {
          quota: QuotaIds.reconcileConcurrent,
          set: running('reconcile'),
          limit: o.settings.global.reconcileConcurrent,
          scope: { global: true },
        },
      ];
      const limits = tenant && effectiveTenantQuotas(o.settings.tenant, tenant.quotas);
      if (tenant && limits) {
        sets.push({
          quota: QuotaIds.reconcileConcurrentBatches,
          set: running('reconcile', tenant.tenantId),
          limit: limits.reconcileConcurrentBatches,
          scope: { tenantId: tenant.tenantId },
        });
      }
      const slot = await admit(workflowId, sets, isRunning);
      if (tenant && limits) {
        try {
          await takeWindow(QuotaIds.reconcileStartsPerHour, tenant.tenantId, limits.reconcileStartsPerHour, 3_600_000);
        } catch (err) {
          await slot.release();
          throw err;
        }
      }
      return slot;
    },

    /** A migration run: the global cap. */
    admitMigrations: (workflowId: string, isRunning: IsRunning) =>
      admit(
        workflowId,
        [
          {
            quota: QuotaIds.migrationsConcurrent,
            set: running('migrations'),
            limit: o.settings.global.migrationsConcurrent,
            scope: { global: true },
          },
        ],
        isRunning,
      ),
  };
}

export type QuotaService = ReturnType<typeof createQuotaService>;

/** The quota settings of a deployment, from config. */
export function quotaSettingsFromConfig(
  c: Pick<
    AppConfig,
    | 'QUOTA_ENSURE_PER_MINUTE'
    | 'QUOTA_RECONCILE_CONCURRENT_BATCHES'
    | 'QUOTA_RECONCILE_STARTS_PER_HOUR'
    | 'QUOTA_RECONCILE_CONCURRENT'
    | 'QUOTA_MIGRATIONS_CONCURRENT'
  >,
): QuotaSettings {
  return {
    tenant: {
      ensurePerMinute: c.QUOTA_ENSURE_PER_MINUTE,
      reconcileConcurrentBatches: c.QUOTA_RECONCILE_CONCURRENT_BATCHES,
      reconcileStartsPerHour: c.QUOTA_RECONCILE_STARTS_PER_HOUR,
    },
    global: { reconcileConcurrent: c.QUOTA_RECONCILE_CONCURRENT, migrationsConcurrent: c.QUOTA_MIGRATIONS_CONCURRENT },
  };
}

/** Where a workflow stands, for pruning slots: describe through the given client. */
export function workflowStateProbe(temporal: TemporalHandle | undefined): IsRunning {
  return async (workflowId) => {
    if (!temporal) return 'unknown';
    try {
      const d = await withTimeout('describe for quota', CallDeadlines.temporalMs, (signal) =>
        temporal.connection.withAbortSignal(signal, () => temporal.client.workflow.getHandle(workflowId).describe()),
      );
      return d.status.name === 'RUNNING' ? 'running' : 'closed';
    } catch (err) {
      return err instanceof WorkflowNotFoundError ? 'missing' : 'unknown';
    }
  };
}
