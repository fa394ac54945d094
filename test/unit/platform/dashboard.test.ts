import { describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import type { BatchDoc } from '../../../activities/reconcile/store';
import { batchRow, coverageKey, failedByType } from '../../../api/services/dashboard/dashboard';
import { loginLatencyMs, loginSeries, percentile, type SeriesRun } from '../../../api/services/dashboard/login-series';
import { DashboardSnapshot } from '../../../api/services/dashboard/schema';
import { sseComment, sseEvent, sseRetry, streamBounds } from '../../../api/services/dashboard/sse';
import { RECONCILE_DEFAULTS, type ReconcileProgress } from '../../../shared/reconcile';
import { zeroCounts } from '../../../api/services/maintenance/work-view';

// The dashboard's pure parts: the login series, SSE framing and stream bounds, batch rows, the
// coverage key that decides which requests share a snapshot.

const NOW = new Date('2026-12-02T12:30:30Z');
const at = (iso: string) => new Date(`2026-12-02T${iso}Z`);
const run = (start: string, readyMs: number | undefined, extra: Partial<SeriesRun> = {}): SeriesRun => ({
  startedAt: at(start),
  ...(readyMs !== undefined ? { essentialReadyAt: new Date(at(start).getTime() + readyMs) } : {}),
  method: 'temporal',
  fallbackUsed: false,
  ...extra,
});

describe('login series', () => {
  it('latency is start → essential ready, else the run duration, else none', () => {
    expect(loginLatencyMs(run('12:00:00', 120))).toBe(120);
    expect(loginLatencyMs(run('12:00:00', undefined, { durationMs: 900 }))).toBe(900);
    expect(loginLatencyMs(run('12:00:00', undefined))).toBeUndefined();
  });

  it('nearest-rank percentiles', () => {
    expect(percentile([], 95)).toBeNull();
    expect(percentile([5], 95)).toBe(5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
  });

  it('buckets by start minute per method, ending with the current minute; fallbacks counted by reason', () => {
    const s = loginSeries(
      [
        run('12:30:10', 100),
        run('12:30:20', 300),
        run('12:29:59', 50, { method: 'direct', fallbackUsed: true, fallbackReason: 'timeout' }),
        run('12:28:00', 70, { method: 'direct', fallbackUsed: true, fallbackReason: 'circuit_open' }),
        run('12:28:05', undefined, { method: 'direct', fallbackUsed: true }),
        run('11:00:00', 10), // before the span
      ],
      { now: NOW, spanSeconds: 300, bucketSeconds: 60 },
    );
    const minute = (hhmm: string) => at(`${hhmm}:00`).getTime() / 1000;
    expect(s.t).toEqual(['12:26', '12:27', '12:28', '12:29', '12:30'].map(minute));
    expect(s.temporal.map((p) => p.count)).toEqual([0, 0, 0, 0, 2]);
    expect(s.temporal[4]).toEqual({ count: 2, p50Ms: 100, p95Ms: 300 });
    expect(s.temporal[0]).toEqual({ count: 0, p50Ms: null, p95Ms: null });
    // The run still waiting for its essential data counts as a fallback, not as a latency.
    expect(s.direct.map((p) => p.count)).toEqual([0, 0, 1, 1, 0]);
    expect(s.fallbacks).toEqual([0, 0, 2, 1, 0]);
    expect(s.fallbackReasons).toEqual({ timeout: 1, circuit_open: 1, unknown: 1 });
  });
});

describe('server-sent events', () => {
  it('frames an event as id, event and one data line of JSON, then a blank line', () => {
    expect(sseEvent('snapshot', { a: 'x\ny', b: 1 }, 3)).toBe('id: 3\nevent: snapshot\ndata: {"a":"x\\ny","b":1}\n\n');
    expect(sseEvent('end', { reason: 'done' })).toBe('event: end\ndata: {"reason":"done"}\n\n');
    expect(() => sseEvent('bad\nname', {})).toThrow(TypeError);
    expect(sseComment('a\nb')).toBe(': a b\n\n');
    expect(sseRetry(2000)).toBe('retry: 2000\n\n');
  });

  it('bounds the interval and the number of events; a stream lasts at most its maximum', () => {
    expect(streamBounds({}, 300_000)).toEqual({ intervalMs: 2000, events: 150 });
    expect(streamBounds({ intervalMs: '1000', events: '3' }, 300_000)).toEqual({ intervalMs: 1000, events: 3 });
    expect(streamBounds({ intervalMs: '60000', events: '1000' }, 300_000)).toEqual({ intervalMs: 60_000, events: 5 });
    expect(() => streamBounds({ intervalMs: '100' }, 300_000)).toThrow(/intervalMs: a whole number from 500 to 60000/);
    expect(() => streamBounds({ events: '0' }, 300_000)).toThrow(/events/);
    expect(() => streamBounds({ events: '1e3' }, 300_000)).toThrow(/events/);
  });
});

describe('rows', () => {
  const batch = (over: Partial<BatchDoc> = {}): BatchDoc => ({
    _id: 'rc-1',
    correlationId: 'c',
    workflowId: 'reconcile:rc-1',
    state: 'running',
    source: { kind: 'tenant', tenantId: 'acme', collection: 'users' },
    target: { db: 'tenant_acme', collection: 'users' },
    options: { ...RECONCILE_DEFAULTS, dryRun: true },
    specHash: 'h',
    createdAt: new Date('2026-12-02T12:00:00Z'),
    plan: { totalEstimate: 400, partitions: 1 } as BatchDoc['plan'],
    ...over,
  });
  const progress = (over: Partial<ReconcileProgress>): ReconcileProgress =>
    ({
      state: 'running',
      processed: 100,
      total: 400,
      failed: 2,
      conflicts: 1,
      ratePerSec: 50,
      etaSeconds: 6,
      startedAt: '2026-12-02T12:00:01.000Z',
      ...over,
    }) as ReconcileProgress;

  it('a running batch: percent of the total, rate and ETA', () => {
    expect(batchRow(batch(), progress({}), true)).toMatchObject({
      batchId: 'rc-1',
      tenantId: 'acme',
      collection: 'users',
      dryRun: true,
      live: true,
      processed: 100,
      total: 400,
      percent: 25,
      ratePerSec: 50,
      etaSeconds: 6,
      finishedAt: null,
    });
  });

  it('no progress yet: the plan’s estimate, no percent without a total; a finished batch: 100 %, no rate or ETA', () => {
    expect(batchRow(batch(), undefined, false)).toMatchObject({ processed: 0, total: 400, percent: 0 });
    expect(batchRow(batch({ plan: undefined }), undefined, false)).toMatchObject({ total: null, percent: null });
    // A tenant source into an empty target: the plan has no estimate, the progress' total is only "at least processed".
    const noEstimate = batch({ plan: { totalEstimate: 0, partitions: 1 } as BatchDoc['plan'] });
    expect(batchRow(noEstimate, progress({ processed: 300, total: 300 }), true)).toMatchObject({
      processed: 300,
      total: null,
      percent: null,
    });
    // Past the estimate while still running: never 100 % before the end.
    expect(batchRow(batch(), progress({ processed: 500, total: 500 }), true)).toMatchObject({ total: 500, percent: 99.9 });
    const done = batchRow(
      batch({ state: 'completed', finishedAt: new Date('2026-12-02T12:01:00Z') }),
      progress({ state: 'completed', processed: 410, finishedAt: '2026-12-02T12:01:00.000Z' }),
      false,
    );
    expect(done).toMatchObject({ state: 'completed', processed: 410, total: 410, percent: 100, ratePerSec: 0, etaSeconds: null });
    expect(batchRow(batch({ source: { kind: 'namespace', db: 'a', collection: 'b' } }), undefined, false).tenantId).toBeNull();
  });

  it('failed runs per type from the work view counts', () => {
    const counts = { ...zeroCounts(), Failed: 2, TimedOut: 1, Terminated: 3, Canceled: 4, Completed: 9 };
    expect(
      failedByType({ byType: [{ workflowType: 'reconcileWorkflow', priorityClass: 'reconcile', priorityKey: 5, counts, total: 19 }] }),
    ).toEqual([{ workflowType: 'reconcileWorkflow', failed: 2, timedOut: 1, terminated: 3, canceled: 4 }]);
  });

  it('requests share a snapshot only with the same tenants and the same reach of raw batches', () => {
    const p = (scopes: string[], tenants: string[] | '*') => ({ sub: 's', scopes: new Set(scopes), tenants });
    expect(coverageKey(p(['ops:read'], ['b', 'a', 'a']))).toBe(coverageKey(p(['ops:read'], ['a', 'b'])));
    expect(coverageKey(p(['ops:read'], ['a']))).not.toBe(coverageKey(p(['ops:read'], ['a', 'b'])));
    expect(coverageKey(p(['ops:read'], '*'))).not.toBe(coverageKey(p(['admin'], '*')));
    expect(coverageKey(p(['admin'], ['a']))).toBe(coverageKey(p(['ops:read'], ['a'])));
  });

  it('the snapshot schema refuses a section with a field missing', () => {
    const cache = { enabled: true, redis: 'up', hitRate: null, namespaces: {}, scope: 'process' };
    const quotas = {
      global: { reconcileConcurrent: 1, migrationsConcurrent: 1 },
      tenantDefaults: { ensurePerMinute: 1, reconcileConcurrentBatches: 1, reconcileStartsPerHour: 1 },
      reconcileRunning: 0,
    };
    const ok = {
      generatedAt: NOW.toISOString(),
      tenants: '*',
      logins: null,
      syncs: null,
      breaker: { state: 'closed', scope: 'process' },
      reconcile: null,
      work: null,
      quotas,
      pauses: [],
      cache,
      errors: {},
    };
    expect(Value.Check(DashboardSnapshot, ok)).toBe(true);
    expect(Value.Check(DashboardSnapshot, { ...ok, breaker: { state: 'ajar', scope: 'process' } })).toBe(false);
    expect(Value.Check(DashboardSnapshot, { ...ok, cache: { ...cache, scope: undefined } })).toBe(false);
  });
});
