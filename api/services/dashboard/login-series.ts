import type { SyncRunDoc } from '../../../activities/tenant-sync/store';
import type { SyncMethod } from '../../../shared/tenant-sync';

// Login latency over time for the dashboard: the newest sync runs bucketed by start minute, per
// method (temporal / direct), with the fallbacks of each bucket. A login waits for the essential
// collections, so its latency is essentialReadyAt − startedAt (the whole run's duration when the
// run recorded no essential-ready time). Pure: test/unit/dashboard/dashboard-series.test.ts.

export type SeriesRun = Pick<SyncRunDoc, 'startedAt' | 'essentialReadyAt' | 'durationMs' | 'method' | 'fallbackUsed' | 'fallbackReason'>;

export interface MethodPoint {
  /** Logins of this method that started in the bucket. */
  count: number;
  /** Their latency, null when there was none. */
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface LoginSeries {
  bucketSeconds: number;
  /** Start of each bucket, epoch seconds, oldest first (every bucket of the span, empty ones too). */
  t: number[];
  temporal: MethodPoint[];
  direct: MethodPoint[];
  /** Logins of the bucket that fell back to the direct path. */
  fallbacks: number[];
  /** Fallbacks over the whole span, by reason. */
  fallbackReasons: Record<string, number>;
}

/** A login's latency in ms, or undefined while it has none (still waiting for its essential collections). */
export function loginLatencyMs(r: SeriesRun): number | undefined {
  if (r.essentialReadyAt) return Math.max(0, r.essentialReadyAt.getTime() - r.startedAt.getTime());
  return r.durationMs;
}

/** The nearest-rank percentile of ascending values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const point = (latencies: number[]): MethodPoint => {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { count: latencies.length, p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95) };
};

/** Buckets of `bucketSeconds` over the `spanSeconds` that end at `now` (the current bucket last). */
export function loginSeries(runs: readonly SeriesRun[], o: { now: Date; spanSeconds: number; bucketSeconds: number }): LoginSeries {
  const size = o.bucketSeconds;
  const last = Math.floor(o.now.getTime() / 1000 / size) * size;
  const n = Math.max(1, Math.ceil(o.spanSeconds / size));
  const first = last - (n - 1) * size;
  const t = Array.from({ length: n }, (_, i) => first + i * size);
  const latencies: Record<SyncMethod, number[][]> = { temporal: t.map(() => []), direct: t.map(() => []) };
  const fallbacks = t.map(() => 0);
  const fallbackReasons: Record<string, number> = {};
  for (const r of runs) {
    const i = Math.floor((Math.floor(r.startedAt.getTime() / 1000) - first) / size);
    if (i < 0 || i >= n) continue;
    if (r.fallbackUsed) {
      fallbacks[i]! += 1;
      const reason = r.fallbackReason ?? 'unknown';
      fallbackReasons[reason] = (fallbackReasons[reason] ?? 0) + 1;
    }
    const ms = loginLatencyMs(r);
    if (ms !== undefined && (r.method === 'temporal' || r.method === 'direct')) latencies[r.method][i]!.push(ms);
  }
  return {
    bucketSeconds: size,
    t,
    temporal: latencies.temporal.map(point),
    direct: latencies.direct.map(point),
    fallbacks,
    fallbackReasons,
  };
}
