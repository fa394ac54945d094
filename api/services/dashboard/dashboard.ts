import { createReconcileStore, type BatchDoc } from '../../../activities/reconcile/store';
import type { SyncStore } from '../../../activities/tenant-sync/store';
import type { Principal } from '../../../infra/auth-token';
import type { Logger } from '../../../infra/logger';
import type { Mongo } from '../../../infra/mongo';
import { FINAL_STATES, type ReconcileProgress } from '../../../shared/reconcile';
import { redactConnectionDetails } from '../../../shared/redact';
import type { AppCache } from '../../../infra/cache/cache';
import type { PauseService } from '../maintenance/pauses';
import type { WorkView, WorkViewAnswer } from '../maintenance/work-view';
import type { QuotaSettings } from '../quotas/quotas';
import { mayReach, reachOf } from '../reconcile/access';
import type { ReconcileService } from '../reconcile/service';
import type { LoginSync } from '../tenant-sync/login-sync';
import { coverageFilter, createSyncStats, healthOf, STATS_WINDOW_RUNS, summarizeRuns, type Coverage } from '../tenant-sync/sync-stats';
import { loginSeries } from './login-series';
import type { BatchRow, DashboardSnapshot, FailedRow } from './schema';

// What GET /api/dashboard/snapshot and /stream show, from shared state so that every API process
// shows the same: sync runs, stuck findings, reconcile batches and pauses from MongoDB, the
// reconcile workflows' progress and the work view from Temporal. Only the breaker, in-flight
// logins and the cache counters are this process's own (marked scope: process). The existing
// services and queries are reused; one snapshot per token coverage is built at most once per
// SNAPSHOT_TTL_MS and the work view at most once per WORK_TTL_MS, however many dashboards watch.

/** A snapshot is shared by the requests of one coverage for this long. */
export const SNAPSHOT_TTL_MS = 1_000;
/** The work view (visibility counts, task-queue describes) is heavier: refreshed this often. */
export const WORK_TTL_MS = 5_000;
/** Finished batches stay on the dashboard this long. */
export const RECENT_BATCH_MS = 15 * 60_000;
/** Batch documents read per snapshot (running and recently finished), and rows shown. */
const BATCH_READ_LIMIT = 100;
const BATCH_ROWS = 10;
/** The login chart: the last hour by minute. */
const SERIES = { spanSeconds: 3600, bucketSeconds: 60 } as const;

export interface DashboardOptions {
  mongo: Mongo;
  store: SyncStore;
  stuckAfterMs: number;
  loginSync: Pick<LoginSync, 'breakerState' | 'activeLogins'>;
  reconcile: Pick<ReconcileService, 'progress'>;
  /** Absent: no Temporal (the work section is null). */
  workView?: Pick<WorkView, 'view'>;
  pauses: Pick<PauseService, 'list'>;
  quotas: QuotaSettings;
  cache: Pick<AppCache, 'stats'>;
  log: Logger;
  now?: () => Date;
}

const messageOf = (err: unknown) => redactConnectionDetails(err instanceof Error ? err.message : String(err)).slice(0, 300);

/** The cache key of a principal's view: the tenants it covers and whether it reaches raw batches. */
export function coverageKey(p: Principal): string {
  const tenants = p.tenants === '*' ? '*' : [...new Set(p.tenants)].sort().join(',');
  return `${mayReach(p, { kind: 'raw' }) ? 'raw' : 'tenant'}|${tenants}`;
}

/** Unsuccessfully closed executions per workflow type, from the work view's counts. */
export function failedByType(w: Pick<WorkViewAnswer, 'byType'>): FailedRow[] {
  return w.byType.map((r) => ({
    workflowType: r.workflowType,
    failed: r.counts.Failed,
    timedOut: r.counts.TimedOut,
    terminated: r.counts.Terminated,
    canceled: r.counts.Canceled,
  }));
}

/** A dashboard row from a batch document and its progress (live, or the stored result). */
export function batchRow(b: BatchDoc, p: ReconcileProgress | undefined, live: boolean): BatchRow {
  const processed = p?.processed ?? 0;
  const state = p?.state ?? b.state;
  const done = FINAL_STATES.includes(state);
  // While running, the total is the plan's estimate (target count, source count where a source can
  // count); a tenant source into an empty target has none: the progress' own total only says "at least processed".
  const estimate = b.plan?.totalEstimate ?? 0;
  const total = done ? Math.max(p?.total ?? 0, processed) : estimate > 0 ? Math.max(estimate, processed) : null;
  const percent =
    done && state === 'completed' ? 100 : total ? Math.min(done ? 100 : 99.9, Math.round((processed / total) * 1000) / 10) : null;
  return {
    batchId: b._id,
    tenantId: b.source.kind === 'tenant' ? b.source.tenantId : null,
    collection: b.source.collection,
    state,
    dryRun: !!b.options?.dryRun,
    live,
    processed,
    total,
    percent,
    failed: p?.failed ?? 0,
    conflicts: p?.conflicts ?? 0,
    ratePerSec: done ? 0 : (p?.ratePerSec ?? 0),
    etaSeconds: done ? null : (p?.etaSeconds ?? null),
    startedAt: p?.startedAt ?? (b.startedAt ?? b.createdAt).toISOString(),
    finishedAt: p?.finishedAt ?? b.finishedAt?.toISOString() ?? null,
  };
}

export function createDashboard(o: DashboardOptions) {
  const now = o.now ?? (() => new Date());
  const stats = createSyncStats(o.store, o.stuckAfterMs);
  const batches = createReconcileStore(o.mongo.db).batches;
  const snapshots = new Map<string, { at: number; value: Promise<DashboardSnapshot> }>();
  const workViews = new Map<string, { at: number; value: Promise<WorkViewAnswer> }>();

  /** A cached promise per key, younger than ttl; failures are not kept; old keys are dropped. */
  function shared<T>(cache: Map<string, { at: number; value: Promise<T> }>, key: string, ttl: number, make: () => Promise<T>): Promise<T> {
    const t = Date.now();
    for (const [k, e] of cache) if (t - e.at > 60_000) cache.delete(k);
    const hit = cache.get(key);
    if (hit && t - hit.at < ttl) return hit.value;
    const value = make();
    cache.set(key, { at: t, value });
    value.catch(() => {
      if (cache.get(key)?.value === value) cache.delete(key);
    });
    return value;
  }

  async function logins(tenants: Coverage): Promise<NonNullable<DashboardSnapshot['logins']>> {
    // The query of /api/sync/method-stats, with the start and essential-ready times the chart needs.
    const runs = await o.store.runs
      .find(coverageFilter(tenants), {
        projection: {
          state: 1,
          method: 1,
          durationMs: 1,
          fallbackUsed: 1,
          fallbackReason: 1,
          collections: 1,
          startedAt: 1,
          essentialReadyAt: 1,
        },
      })
      .sort({ startedAt: -1 })
      .limit(STATS_WINDOW_RUNS)
      .toArray();
    const s = summarizeRuns(runs);
    const method = (m: 'temporal' | 'direct') => ({
      total: s.methods[m].total,
      successRate: s.methods[m].successRate,
      avgDurationMs: s.methods[m].avgDurationMs,
      fallbacks: s.methods[m].fallbacks,
    });
    return {
      windowRuns: s.runs,
      finished: s.finished,
      successRate: s.successRate,
      failureRate: s.failureRate,
      lastStartedAt: runs[0]?.startedAt.toISOString() ?? null,
      methods: { temporal: method('temporal'), direct: method('direct') },
      fallbacks: s.fallbacks,
      series: loginSeries(runs, { now: now(), ...SERIES }),
    };
  }

  async function reconcileRows(p: Principal): Promise<NonNullable<DashboardSnapshot['reconcile']>> {
    const since = new Date(now().getTime() - RECENT_BATCH_MS);
    const onlyTenants = !mayReach(p, { kind: 'raw' }) && p.tenants !== '*' ? [...p.tenants] : undefined;
    const docs = await batches
      .find(
        {
          $or: [{ state: { $in: ['pending', 'running'] } }, { finishedAt: { $gte: since } }],
          ...(onlyTenants ? { 'source.kind': 'tenant', 'source.tenantId': { $in: onlyTenants } } : {}),
        },
        { projection: { secrets: 0 } },
      )
      .limit(BATCH_READ_LIMIT + 1)
      .toArray();
    const truncated = docs.length > BATCH_READ_LIMIT;
    const visible = docs.slice(0, BATCH_READ_LIMIT).filter((b) => mayReach(p, reachOf(b)));
    const isRunning = (b: BatchDoc) => !FINAL_STATES.includes(b.state);
    const shown = visible
      .sort((a, b) => Number(isRunning(b)) - Number(isRunning(a)) || b.createdAt.getTime() - a.createdAt.getTime())
      .slice(0, BATCH_ROWS);
    const rows = await Promise.all(
      shown.map(async (b) => {
        if (!isRunning(b)) return batchRow(b, b.result, false);
        // The reconcile service's own read: the workflow's progress query, else the stored result.
        const progress = await o.reconcile.progress(b._id, p).catch((err: unknown) => {
          o.log.debug({ batchId: b._id, err: messageOf(err) }, 'dashboard: reconcile progress unavailable');
          return undefined;
        });
        return batchRow(b, progress, progress?.live ?? false);
      }),
    );
    return { running: visible.filter(isRunning).length, batches: rows, truncated };
  }

  async function work(tenants: Coverage): Promise<DashboardSnapshot['work']> {
    if (!o.workView) return null;
    const view = o.workView;
    const key = tenants === '*' ? '*' : [...new Set(tenants)].sort().join(',');
    const w = await shared(workViews, key, WORK_TTL_MS, () => view.view(tenants));
    return {
      failedByType: failedByType(w),
      backlog: { workflow: w.backlog.workflow.approximateBacklogCount, activity: w.backlog.activity.approximateBacklogCount },
      pollers: { workflow: w.pollers.workflow.length, activity: w.pollers.activity.length },
      generatedAt: w.generatedAt,
    };
  }

  async function build(p: Principal): Promise<DashboardSnapshot> {
    const tenants: Coverage = p.tenants;
    const errors: Record<string, string> = {};
    const settle = async <T>(section: string, fn: () => Promise<T>): Promise<T | null> => {
      try {
        return await fn();
      } catch (err) {
        errors[section] = messageOf(err);
        return null;
      }
    };
    const [loginPart, active, detection, reconcile, workPart, pauses] = await Promise.all([
      settle('logins', () => logins(tenants)),
      settle('syncs', () => stats.active(tenants)),
      settle('syncs', () => stats.detection(tenants)),
      settle('reconcile', () => reconcileRows(p)),
      settle('work', () => work(tenants)),
      settle('pauses', () => o.pauses.list()),
    ]);
    const breaker = o.loginSync.breakerState();
    const covers = (t: string) => tenants === '*' || tenants.includes(t);
    const syncs =
      active && detection
        ? {
            status: healthOf(
              { finished: loginPart?.finished ?? 0, failureRate: loginPart?.failureRate ?? 0 },
              active.stuckSyncs + detection.open,
              breaker,
            ),
            active: active.activeSyncs,
            stuck: active.stuckSyncs,
            stuckRuns: active.stuck.slice(0, 10),
            openFindings: detection.open,
            inFlightLogins: o.loginSync.activeLogins(covers),
          }
        : null;
    const c = o.cache.stats();
    const reads = Object.values(c.namespaces).reduce((n, s) => n + s.hits + s.misses + s.bypassed, 0);
    const hits = Object.values(c.namespaces).reduce((n, s) => n + s.hits, 0);
    return {
      generatedAt: now().toISOString(),
      tenants: tenants === '*' ? '*' : [...tenants],
      logins: loginPart,
      syncs,
      breaker: { state: breaker, scope: 'process' },
      reconcile,
      work: workPart,
      quotas: {
        global: { ...o.quotas.global },
        tenantDefaults: { ...o.quotas.tenant },
        reconcileRunning: reconcile?.running ?? 0,
      },
      pauses,
      cache: {
        enabled: c.enabled,
        redis: c.redis,
        hitRate: reads === 0 ? null : Math.round((hits / reads) * 10_000) / 10_000,
        namespaces: Object.fromEntries(
          Object.entries(c.namespaces).map(([n, s]) => [n, { hits: s.hits, misses: s.misses, bypassed: s.bypassed, hitRate: s.hitRate }]),
        ),
        scope: 'process',
      },
      errors,
    };
  }

  return {
    /** The principal's snapshot; requests of the same coverage within SNAPSHOT_TTL_MS share one. */
    snapshot: (p: Principal) => shared(snapshots, coverageKey(p), SNAPSHOT_TTL_MS, () => build(p)),
  };
}

export type Dashboard = ReturnType<typeof createDashboard>;
