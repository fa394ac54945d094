import type { SyncRunDoc, SyncStore } from '../../../activities/tenant-sync/store';
import type { SyncMethod } from '../../../shared/tenant-sync';
import { summarizeStuck } from '../../../activities/maintenance/stuck-store';
import { lastMovedAt, lastProgressOf, progressOfRun, type ProgressMarkSeen } from '../../../activities/tenant-sync/progress';

// Aggregates over recent sync runs for /api/sync/metrics, /health and /method-stats. Computed
// in the API (FerretDB's $group lacks $avg), over a bounded window of the newest runs.
// Coverage: every figure and list is computed over the tenants the caller's token covers only
// (a '*' token sees all), so a tenant-limited token learns neither other tenants' IDs nor their
// activity. The login breaker's state is process-wide and names no tenant: it is shown to all.

export const STATS_WINDOW_RUNS = 1000;

/** The tenants a token covers: a list, or '*' for all. */
export type Coverage = readonly string[] | '*';

/** Filter limiting a cross-tenant read to the covered tenants (a full scan either way on FerretDB). */
export const coverageFilter = (tenants: Coverage) => (tenants === '*' ? {} : { tenantId: { $in: [...tenants] } });

const rate = (n: number, d: number) => (d === 0 ? 0 : Math.round((n / d) * 10_000) / 10_000);
const pct = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export function summarizeRuns(
  runs: readonly Pick<SyncRunDoc, 'state' | 'method' | 'durationMs' | 'fallbackUsed' | 'fallbackReason' | 'collections'>[],
) {
  const finished = runs.filter((r) => r.state !== 'running');
  const ok = finished.filter((r) => r.state === 'completed').length;
  const failed = finished.filter((r) => r.state === 'failed').length;
  const partial = finished.filter((r) => r.state === 'partial').length;
  const durations = finished.map((r) => r.durationMs ?? 0).sort((a, b) => a - b);
  const errorTypes: Record<string, number> = {};
  const perCollection = new Map<string, { total: number; succeeded: number }>();
  for (const r of finished) {
    for (const c of r.collections) {
      if (c.status === 'pending') continue;
      const e = perCollection.get(c.name) ?? { total: 0, succeeded: 0 };
      e.total += 1;
      if (c.status === 'synced') e.succeeded += 1;
      perCollection.set(c.name, e);
      if (c.error) errorTypes[c.error.errorType] = (errorTypes[c.error.errorType] ?? 0) + 1;
    }
  }
  const methods = {} as Record<
    SyncMethod,
    { total: number; succeeded: number; successRate: number; avgDurationMs: number; fallbacks: number }
  >;
  for (const m of ['temporal', 'direct'] as const) {
    const mine = finished.filter((r) => r.method === m);
    const good = mine.filter((r) => r.state === 'completed').length;
    methods[m] = {
      total: mine.length,
      succeeded: good,
      successRate: rate(good, mine.length),
      avgDurationMs: mine.length ? Math.round(mine.reduce((s, r) => s + (r.durationMs ?? 0), 0) / mine.length) : 0,
      fallbacks: mine.filter((r) => r.fallbackUsed).length,
    };
  }
  const byReason: Record<string, number> = {};
  for (const r of runs) if (r.fallbackUsed && r.fallbackReason) byReason[r.fallbackReason] = (byReason[r.fallbackReason] ?? 0) + 1;
  return {
    runs: runs.length,
    finished: finished.length,
    succeeded: ok,
    partial,
    failed,
    successRate: rate(ok, finished.length),
    failureRate: rate(failed + partial, finished.length),
    durationMs: {
      avg: durations.length ? Math.round(durations.reduce((a, b) => a + b, 0) / durations.length) : 0,
      p50: pct(durations, 50),
      p95: pct(durations, 95),
      max: durations.at(-1) ?? 0,
    },
    errorTypes,
    collections: [...perCollection.entries()].map(([name, e]) => ({
      name,
      total: e.total,
      succeeded: e.succeeded,
      successRate: rate(e.succeeded, e.total),
    })),
    methods,
    fallbacks: { total: runs.filter((r) => r.fallbackUsed).length, byReason },
  };
}

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** unhealthy: most recent runs fail; degraded: stuck runs, an open breaker, or >10 % failures. */
export function healthOf(s: { finished: number; failureRate: number }, stuckSyncs: number, breaker: string): HealthStatus {
  if (s.finished >= 5 && s.failureRate > 0.5) return 'unhealthy';
  if (stuckSyncs > 0 || breaker !== 'closed' || (s.finished >= 5 && s.failureRate > 0.1)) return 'degraded';
  return 'healthy';
}

export function createSyncStats(store: SyncStore, stuckAfterMs: number) {
  return {
    async recent(tenants: Coverage) {
      const runs = await store.runs
        .find(coverageFilter(tenants), {
          projection: { state: 1, method: 1, durationMs: 1, fallbackUsed: 1, fallbackReason: 1, collections: 1 },
        })
        .sort({ startedAt: -1 })
        .limit(STATS_WINDOW_RUNS)
        .toArray();
      return summarizeRuns(runs);
    },
    async active(tenants: Coverage) {
      const running = await store.runs
        .find({ ...coverageFilter(tenants), state: 'running' }, { projection: { startedAt: 1, tenantId: 1 } })
        .toArray();
      // Stuck as the sweep defines it: no progress (this run's mark, else its start) for stuckAfterMs.
      const cutoff = Date.now() - stuckAfterMs;
      const old = running.filter((r) => r.startedAt.getTime() < cutoff);
      const marks = old.length
        ? await lastProgressOf(
            store.progress,
            old.map((r) => r.tenantId),
          )
        : new Map<string, ProgressMarkSeen>();
      const stuck = old
        .map((r) => ({ r, last: lastMovedAt(r.startedAt, progressOfRun(marks.get(r.tenantId), r._id)) }))
        .filter((x) => x.last.getTime() < cutoff);
      return {
        activeSyncs: running.length - stuck.length,
        stuckSyncs: stuck.length,
        stuck: stuck.slice(0, 20).map(({ r, last }) => ({
          runId: r._id,
          tenantId: r.tenantId,
          startedAt: r.startedAt.toISOString(),
          lastProgressAt: last.toISOString(),
        })),
      };
    },
    /** What the stuck-sync sweep found: open findings (still stuck, not settled) and the newest ones. */
    detection: (tenants: Coverage) => summarizeStuck(store.stuck, 20, coverageFilter(tenants)),
  };
}
