import { randomBytes } from 'node:crypto';
import type { AppConfig } from '../../../infra/config';
import type { Logger } from '../../../infra/logger';
import { createSyncMetrics } from '../../../infra/metrics';
import {
  pendingCollection,
  syncCorrelationId,
  type CollectionResult,
  type EssentialReadyResult,
  type FallbackReason,
  type SyncMethod,
} from '../../../shared/tenant-sync';
import { WorkflowIds } from '../../../shared/constants';
import type { SyncStore } from '../../../activities/tenant-sync/store';
import type { TenantDoc, TenantRepository } from '../../../activities/tenant-sync/registry';
import type { QuotaService } from '../quotas/quotas';
import { DependencyUnavailableError, NotFoundError } from '../../errors';
import type { DirectSync } from './direct-sync';
import { TemporalLoginError, type TemporalLogin } from './temporal-login';
import type { WorkerPresence } from './worker-presence';
import { createHedge, type Hedge } from './hedge';

// ensureTenantSync (seed 004): feature flag → Temporal (update-with-start) or direct; on
// timeout, error, unavailability or an open breaker → direct, flagged as a fallback; with no
// worker polling the login queue → direct at once, without calling Temporal (no_worker).

export interface EnsureResult {
  tenantId: string;
  correlationId: string;
  syncMethod: SyncMethod;
  fallbackUsed: boolean;
  fallbackReason?: FallbackReason;
  essentialReady: boolean;
  workflowId?: string;
  durationMs: number;
  /** True when answered from a sync that finished inside the freshness window. */
  fresh: boolean;
  collections: Array<Pick<CollectionResult, 'name' | 'essential' | 'status' | 'synced' | 'failed'> & { error?: CollectionResult['error'] }>;
}

export interface LoginSyncDeps {
  config: AppConfig;
  log: Logger;
  tenants: TenantRepository;
  store: SyncStore;
  direct: DirectSync;
  /** Absent when TEMPORAL_ENABLED=false. */
  temporal?: TemporalLogin;
  /** Per-tenant ensure quota (api/services/quotas); absent: unlimited. */
  quotas?: Pick<QuotaService, 'takeEnsure'>;
  /** Whether a worker polls the login queue (worker-presence.ts); absent: not checked (WORKER_PRESENCE_TTL_MS=0). */
  presence?: Pick<WorkerPresence, 'forLogin'>;
  /** Hedged fallback (hedge.ts); absent: made from config (LOGIN_HEDGE_*). */
  hedge?: Hedge;
}

/** What a login answer is made of (the sync that answered). */
interface AnswerInput {
  correlationId: string;
  syncMethod: SyncMethod;
  essential: CollectionResult[];
  workflowId?: string;
  fallbackReason?: FallbackReason;
}

type Raced<T> = { ok: true; value: T } | { ok: false; err: unknown };
const settle = <T>(p: Promise<T>): Promise<Raced<T>> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
const timer = (ms: number) => {
  let t: NodeJS.Timeout | undefined;
  const done = new Promise<'timer'>((r) => (t = setTimeout(() => r('timer'), ms)));
  return { done, cancel: () => clearTimeout(t) };
};

/** Seed routing: flag off → direct; flag on → Temporal for the allowlist, or for all when it is empty. */
export function chooseMethod(
  config: Pick<AppConfig, 'USE_TEMPORAL_FOR_AUTH' | 'TEMPORAL_TENANTS' | 'TEMPORAL_ENABLED'>,
  tenantId: string,
): SyncMethod {
  if (!config.USE_TEMPORAL_FOR_AUTH || !config.TEMPORAL_ENABLED) return 'direct';
  if (config.TEMPORAL_TENANTS.length === 0) return 'temporal';
  return config.TEMPORAL_TENANTS.includes(tenantId) ? 'temporal' : 'direct';
}

const view = (c: CollectionResult) => ({
  name: c.name,
  essential: c.essential,
  status: c.status,
  synced: c.synced,
  failed: c.failed,
  ...(c.error ? { error: c.error } : {}),
});

export function createLoginSync(d: LoginSyncDeps) {
  const inFlight = new Map<string, Promise<EnsureResult>>();
  const metrics = createSyncMetrics();
  const hedge =
    d.hedge ??
    createHedge({
      enabled: d.config.LOGIN_HEDGE,
      minMs: d.config.LOGIN_HEDGE_MIN_MS,
      maxMs: d.config.LOGIN_HEDGE_MAX_MS,
      timeoutMs: d.config.TEMPORAL_AUTH_TIMEOUT_MS,
    });
  /** One count per login request (joined ones too), timed from that request's start. */
  const measure = (p: Promise<EnsureResult>, t0: number): Promise<EnsureResult> =>
    p.then(
      (r) => {
        const outcome = r.fresh ? 'fresh' : r.essentialReady ? 'ready' : 'not_ready';
        metrics.requests.add(1, { method: r.syncMethod, outcome });
        metrics.duration.record((performance.now() - t0) / 1000, { method: r.syncMethod });
        return r;
      },
      (err: unknown) => {
        metrics.requests.add(1, { method: 'none', outcome: 'error' });
        throw err;
      },
    );

  async function fromFreshStatus(tenant: TenantDoc, started: number): Promise<EnsureResult | undefined> {
    const window = d.config.SYNC_FRESHNESS_MS;
    if (window <= 0) return undefined;
    const s = await d.store.getStatus(tenant._id);
    if (!s?.lastSyncAt || Date.now() - s.lastSyncAt.getTime() > window) return undefined;
    const essential = s.collections.filter((c) => c.essential);
    if (!essential.every((c) => c.status === 'synced')) return undefined;
    return {
      tenantId: tenant._id,
      correlationId: s.lastRunId,
      syncMethod: s.method,
      fallbackUsed: false,
      essentialReady: true,
      durationMs: Date.now() - started,
      fresh: true,
      collections: s.collections.map(view),
    };
  }

  /**
   * LOGIN_DEADLINE_MS: a login that has not answered by then gets a 503 with Retry-After (MongoDB
   * or Redis stalled, a sync slower than the bound); its work goes on, so the next login finds it
   * done or joins it.
   */
  function withinDeadline(work: Promise<EnsureResult>, tenantId: string, spentMs: number): Promise<EnsureResult> {
    const ms = d.config.LOGIN_DEADLINE_MS;
    if (!ms) return work;
    const left = Math.max(0, ms - spentMs);
    work.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        metrics.requests.add(1, { method: 'none', outcome: 'deadline' });
        d.log.warn({ tenantId, deadlineMs: ms }, 'login not answered within LOGIN_DEADLINE_MS: 503, its sync goes on');
        reject(
          new DependencyUnavailableError(
            'login-deadline',
            `the login sync did not answer within LOGIN_DEADLINE_MS (${ms} ms); it goes on — retry shortly`,
            { 'retry-after': '1' },
          ),
        );
      }, left);
    });
    return Promise.race([work, late]).finally(() => clearTimeout(timer));
  }

  async function ensureOnce(tenant: TenantDoc, started: number): Promise<EnsureResult> {
    const tenantId = tenant._id;
    const fresh = await fromFreshStatus(tenant, started);
    if (fresh) return fresh;

    const correlationId = syncCorrelationId(tenantId, started, randomBytes(4).toString('hex'));
    const log = d.log.child({ tenantId, correlationId });
    const pendingRest = tenant.collections.filter((c) => !c.essential).map(pendingCollection);
    const answer = (r: AnswerInput): EnsureResult => ({
      tenantId,
      correlationId: r.correlationId,
      syncMethod: r.syncMethod,
      fallbackUsed: r.fallbackReason !== undefined,
      ...(r.fallbackReason ? { fallbackReason: r.fallbackReason } : {}),
      essentialReady: r.essential.every((c) => c.status === 'synced'),
      ...(r.workflowId ? { workflowId: r.workflowId } : {}),
      durationMs: Date.now() - started,
      fresh: false,
      collections: [...r.essential, ...pendingRest].map(view),
    });

    const method = chooseMethod(d.config, tenantId);
    let fallbackReason: FallbackReason | undefined;
    let workflowId: string | undefined;
    // "unknown" counts as present: only a describe that saw no poller sends the login direct.
    const seen = method === 'temporal' && d.temporal ? await d.presence?.forLogin() : undefined;
    if (seen?.state === 'absent') {
      fallbackReason = 'no_worker';
      metrics.fallbacks.add(1, { reason: fallbackReason });
      log.warn({ fallbackReason, taskQueue: seen.taskQueue }, 'no worker polls the login task queue: direct sync');
    } else if (method === 'temporal' && d.temporal) {
      const t1 = performance.now();
      const temporalCall = d.temporal.ensure(
        {
          tenantId,
          correlationId,
          collections: tenant.collections,
          startedAt: new Date(started).toISOString(),
          concurrency: d.config.SYNC_CONCURRENCY,
        },
        tenant.fairnessWeight,
      );
      // Every healthy answer feeds the hedge delay, the ones a hedge beat too.
      temporalCall.then(
        () => hedge.observe(performance.now() - t1),
        () => undefined,
      );
      const hedged = await hedgeIfSlow(tenant, correlationId, temporalCall, log, started);
      if (hedged) return answer(hedged);
      try {
        const res = await temporalCall;
        log.info(
          { syncMethod: 'temporal', essentialReady: res.essentialReady, durationMs: Date.now() - started },
          'login sync answered by temporal',
        );
        return answer({
          correlationId: res.correlationId,
          syncMethod: 'temporal',
          essential: res.collections,
          workflowId: `tenant-sync:${tenantId}`,
        });
      } catch (err) {
        if (!(err instanceof TemporalLoginError)) throw err;
        fallbackReason = err.reason;
        metrics.fallbacks.add(1, { reason: fallbackReason });
        workflowId = err.workflowId;
        log.warn({ fallbackReason, err: err.message }, 'temporal login sync failed: falling back to direct sync');
      }
    }
    const out = await d.direct.run(tenantId, correlationId, tenant.collections, {
      fallbackReason,
      workflowId,
      // No workflow carries on with the rest when none was started (flag off, no worker, or the
      // breaker refused the call): the direct run syncs it in the background.
      includeRest: fallbackReason === undefined || fallbackReason === 'no_worker' || fallbackReason === 'circuit_open',
    });
    log.info(
      { syncMethod: 'direct', fallbackReason, joined: out.joined, durationMs: Date.now() - started },
      'login sync answered by direct sync',
    );
    return answer({ correlationId: out.correlationId, syncMethod: 'direct', essential: out.essential, workflowId, fallbackReason });
  }

  /**
   * Waits for Temporal up to the hedge delay; past it, runs the essential collections directly
   * beside the workflow and answers with whichever finishes first. Undefined: Temporal answered
   * (or failed) first, or no hedge applies — the caller reads `temporalCall` as before.
   */
  async function hedgeIfSlow(
    tenant: TenantDoc,
    correlationId: string,
    temporalCall: Promise<EssentialReadyResult>,
    log: Logger,
    started: number,
  ): Promise<AnswerInput | undefined> {
    const delay = hedge.delayMs();
    metrics.hedgeDelay.record(delay === undefined ? 0 : delay / 1000);
    if (delay === undefined) return undefined;
    const wait = timer(delay);
    const first = await Promise.race([
      temporalCall.then(
        () => 'temporal' as const,
        () => 'temporal' as const,
      ),
      wait.done,
    ]);
    wait.cancel();
    if (first === 'temporal') return undefined;
    const workflowId = WorkflowIds.tenantSync(tenant._id);
    log.info({ hedgeMs: delay }, 'temporal slower than the hedge delay: direct sync of the essential collections beside it');
    // The workflow carries on with the rest: the direct run does the essential collections only.
    const directCall = d.direct.run(tenant._id, correlationId, tenant.collections, {
      fallbackReason: 'hedged',
      workflowId,
      includeRest: false,
    });
    const t = settle(temporalCall);
    const dr = settle(directCall);
    const winner = await Promise.race([
      t.then((r) => ({ from: 'temporal' as const, r })),
      dr.then((r) => ({ from: 'direct' as const, r })),
    ]);
    // Every answer by the hedged direct run says so in one line, whichever way it won.
    const byDirect = (out: Awaited<typeof directCall>, reason: FallbackReason): AnswerInput => {
      metrics.fallbacks.add(1, { reason });
      metrics.hedges.add(1, { winner: 'direct' });
      log.info(
        { syncMethod: 'direct', fallbackReason: reason, durationMs: Date.now() - started },
        'login sync answered by the hedged direct sync',
      );
      return { correlationId: out.correlationId, syncMethod: 'direct', essential: out.essential, workflowId, fallbackReason: reason };
    };
    if (winner.from === 'direct' && winner.r.ok) return byDirect(winner.r.value as Awaited<typeof directCall>, 'hedged');
    if (winner.from === 'temporal' && winner.r.ok) {
      metrics.hedges.add(1, { winner: 'temporal' });
      // The direct run goes on to its end; its writes are version-guarded no-ops or newer.
      void dr.then((r) => {
        if (!r.ok) log.warn({ err: String(r.err) }, 'hedged direct sync failed after temporal answered');
      });
      return undefined;
    }
    // One of them failed first: the other decides.
    const other = winner.from === 'temporal' ? await dr : await t;
    if (winner.from === 'temporal' && other.ok) {
      // Temporal failed (timeout, unavailable…): the direct run already under way is the fallback.
      const reason = winner.r.ok ? 'hedged' : winner.r.err instanceof TemporalLoginError ? winner.r.err.reason : 'error';
      log.warn({ err: winner.r.ok ? undefined : String(winner.r.err) }, 'temporal login sync failed while the hedged direct sync ran');
      return byDirect(other.value as Awaited<typeof directCall>, reason);
    }
    // Direct failed and Temporal answered, or both failed: the caller reads temporalCall (answer or fallback).
    return undefined;
  }

  return {
    /**
     * Single-flight per tenant in this process: concurrent logins share one sync and one answer.
     * Every call counts against the tenant's ensure quota (a refusal is a 429 before anything runs).
     */
    /** `spentMs`: time the request already took before it got here (hooks), counted against LOGIN_DEADLINE_MS. */
    async ensure(tenantId: string, spentMs = 0): Promise<EnsureResult> {
      const t0 = performance.now();
      const started = Date.now();
      const work = (async () => {
        const tenant = await d.tenants.get(tenantId);
        if (!tenant) throw new NotFoundError('Tenant', tenantId);
        await d.quotas?.takeEnsure(tenantId, tenant.quotas);
        const existing = inFlight.get(tenantId);
        if (existing) return measure(existing, t0);
        const p = ensureOnce(tenant, started).finally(() => inFlight.delete(tenantId));
        inFlight.set(tenantId, p);
        return measure(p, t0);
      })();
      return withinDeadline(work, tenantId, spentMs);
    },
    /** Logins in flight in this process, of the tenants `covers` accepts (default: all). */
    activeLogins: (covers: (tenantId: string) => boolean = () => true) => [...inFlight.keys()].filter(covers).length,
    breakerState: () => d.temporal?.breakerState() ?? 'closed',
  };
}

export type LoginSync = ReturnType<typeof createLoginSync>;
