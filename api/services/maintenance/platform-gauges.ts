import { metrics, type BatchObservableCallback } from '@opentelemetry/api';
import type { Logger } from '../../../infra/logger';
import { METER_NAME, createPlatformGauges } from '../../../infra/metrics';
import { withTimeout } from '../../../infra/timeout';
import { Scopes, type Principal } from '../../../infra/auth-token';
import type { TemporalHandle } from '../../../infra/temporal';
import { listFailedRuns } from '../../../activities/maintenance/failed-runs';
import type { SyncStore } from '../../../activities/tenant-sync/store';
import { mapBounded } from '../../../shared/bounded';
import type { ReconcileService } from '../reconcile/service';
import { createSyncStats } from '../tenant-sync/sync-stats';
import type { WorkerPresence } from '../tenant-sync/worker-presence';

// Gauges the alert rules need that no code path counts as it goes: syncs active and stuck, running
// reconcile batches and how long the slowest has not moved, dead-letter runs by type, and the
// workers polling the login queue. Read at scrape time from what the API already reads, each at
// most once per `minIntervalMs` and within `timeoutMs`. A reading that fails is not observed (never
// a made-up 0) and is tried again at the next scrape: the exporter then shows the last value read,
// or nothing before the first.

export interface RunningBatch {
  batchId: string;
  /** Keys compared so far. */
  processed: number;
  /** ISO time the batch started. */
  startedAt?: string;
}

export interface PlatformGaugeReaders {
  syncs?: () => Promise<{ activeSyncs: number; stuckSyncs: number }>;
  reconcile?: () => Promise<readonly RunningBatch[]>;
  failedRuns?: () => Promise<readonly { type: string }[]>;
  pollers?: () => Promise<{ taskQueue: string; pollers?: number }>;
}

export interface PlatformGaugeOptions {
  /** A reading is reused for this long (scrapes of several Prometheus replicas). @default 10000 */
  minIntervalMs?: number;
  /**
   * The failed-runs reading is reused for this long: it lists visibility and describes each
   * workflow found (up to 500), too much for every scrape. @default 60000
   */
  failedRunsIntervalMs?: number;
  /** Deadline of one reading (ms). @default 3000 */
  timeoutMs?: number;
  /** @default Date.now */
  now?: () => number;
  log?: Pick<Logger, 'debug'>;
}

/**
 * Seconds since each running batch's processed count last moved, as seen by successive
 * observations; a batch first seen with nothing processed counts from its start. Forgets
 * batches that stopped running.
 */
export function createStallTracker(now: () => number = Date.now) {
  const seen = new Map<string, { processed: number; movedAt: number }>();
  return {
    /** The longest stall among `batches` in seconds (0 when none). */
    observe(batches: readonly RunningBatch[]): number {
      const t = now();
      const live = new Set<string>();
      let longest = 0;
      for (const b of batches) {
        live.add(b.batchId);
        const prev = seen.get(b.batchId);
        const started = b.startedAt ? Date.parse(b.startedAt) : NaN;
        const movedAt =
          prev === undefined
            ? b.processed === 0 && Number.isFinite(started)
              ? Math.min(started, t)
              : t
            : b.processed !== prev.processed
              ? t
              : prev.movedAt;
        seen.set(b.batchId, { processed: b.processed, movedAt });
        longest = Math.max(longest, (t - movedAt) / 1000);
      }
      for (const id of seen.keys()) if (!live.has(id)) seen.delete(id);
      return longest;
    },
  };
}

/** A reader called at most once per `minIntervalMs`, bounded by `timeoutMs`; undefined when it failed. */
function throttled<T>(
  name: string,
  read: () => Promise<T>,
  o: { minIntervalMs: number; timeoutMs: number; now: () => number; log?: PlatformGaugeOptions['log'] },
) {
  let last: { at: number; value: T | undefined } | undefined;
  return async (): Promise<T | undefined> => {
    if (last && o.now() - last.at < o.minIntervalMs) return last.value;
    let value: T | undefined;
    try {
      value = await withTimeout(`read gauge ${name}`, o.timeoutMs, () => read());
    } catch (err) {
      o.log?.debug(
        { gauge: name, err: err instanceof Error ? err.message : String(err) },
        'gauge reading failed; not observed in this scrape',
      );
    }
    last = { at: o.now(), value };
    return value;
  };
}

/** Registers the gauges' callback on the process's meter; `close()` removes it (app close). */
export function registerPlatformGauges(readers: PlatformGaugeReaders, options: PlatformGaugeOptions = {}): { close(): void } {
  const o = { minIntervalMs: 10_000, failedRunsIntervalMs: 60_000, timeoutMs: 3_000, now: Date.now, ...options };
  const g = createPlatformGauges();
  const stalls = createStallTracker(o.now);
  const read = {
    syncs: readers.syncs && throttled('syncs', readers.syncs, o),
    reconcile: readers.reconcile && throttled('reconcile', readers.reconcile, o),
    failedRuns: readers.failedRuns && throttled('failed runs', readers.failedRuns, { ...o, minIntervalMs: o.failedRunsIntervalMs }),
    pollers: readers.pollers && throttled('pollers', readers.pollers, o),
  };
  const callback: BatchObservableCallback = async (r) => {
    const [syncs, batches, failed, pollers] = await Promise.all([
      read.syncs?.(),
      read.reconcile?.(),
      read.failedRuns?.(),
      read.pollers?.(),
    ]);
    if (syncs) {
      r.observe(g.syncActive, syncs.activeSyncs);
      r.observe(g.syncStuck, syncs.stuckSyncs);
    }
    if (batches) {
      r.observe(g.reconcileRunning, batches.length);
      r.observe(g.reconcileStalled, stalls.observe(batches));
    }
    if (failed) {
      const byType = new Map<string, number>();
      for (const f of failed) byType.set(f.type, (byType.get(f.type) ?? 0) + 1);
      // A type with no dead letter left reads 0 rather than vanishing, once it has been seen.
      for (const t of knownTypes) if (!byType.has(t)) byType.set(t, 0);
      for (const [workflow_type, n] of byType) {
        knownTypes.add(workflow_type);
        r.observe(g.failedRuns, n, { workflow_type });
      }
    }
    if (pollers?.pollers !== undefined) r.observe(g.workerPollers, pollers.pollers, { task_queue: pollers.taskQueue });
  };
  const knownTypes = new Set<string>();
  const observables = Object.values(g);
  const meter = metrics.getMeter(METER_NAME);
  meter.addBatchObservableCallback(callback, observables);
  return { close: () => meter.removeBatchObservableCallback(callback, observables) };
}

/** Reads every batch and run there is: the gauges name no tenant, so they count them all. */
const GAUGE_READER: Principal = { sub: 'platform-gauges', scopes: new Set([Scopes.admin]), tenants: '*' };

/** The readers over the API's own services (those absent, e.g. Temporal off, are left out). */
export function platformGaugeReaders(o: {
  store: SyncStore;
  stuckAfterMs: number;
  reconcile: ReconcileService;
  temporal?: TemporalHandle;
  taskQueue: string;
  presence?: WorkerPresence;
}): PlatformGaugeReaders {
  const stats = createSyncStats(o.store, o.stuckAfterMs);
  const { temporal, presence } = o;
  return {
    syncs: () => stats.active('*'),
    async reconcile() {
      const page = await o.reconcile.list({ limit: 100 }, { state: 'running' }, GAUGE_READER);
      // The live count (the workflow's query); the stored one when the query fails.
      return mapBounded(page.items, 4, async (b) => {
        const p = await o.reconcile.progress(b.batchId, GAUGE_READER).catch(() => undefined);
        return { batchId: b.batchId, processed: p?.processed ?? b.processed ?? 0, ...(b.startedAt ? { startedAt: b.startedAt } : {}) };
      });
    },
    ...(temporal ? { failedRuns: () => listFailedRuns({ client: temporal.client, taskQueue: o.taskQueue, limit: 500 }) } : {}),
    ...(presence
      ? {
          async pollers() {
            const a = await presence.check(2_000);
            return { taskQueue: a.taskQueue, ...(a.pollers !== undefined ? { pollers: a.pollers } : {}) };
          },
        }
      : {}),
  };
}
