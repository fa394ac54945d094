import type { SavedSyncState } from '../../../activities/tenant-sync/state';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from '../../../infra/logger';
import type { Collection } from 'mongodb';
import { tryLease, waitForLease, type LeaseDoc } from '../../../infra/mongo-lease';
import {
  failedCollection,
  pendingCollection,
  runStateOf,
  type CollectionPlan,
  type CollectionResult,
  type FallbackReason,
  type SyncRunRecord,
} from '../../../shared/tenant-sync';
import { failureFromError, type TenantSyncActivities } from '../../../activities/tenant-sync/activities';
import { mapBounded } from '../../../shared/bounded';
import type { SyncStore } from '../../../activities/tenant-sync/store';
import { InProcessProfiles } from '../../../activities/profiles';

// Direct (in-process) sync: the same activity functions the workflow runs, with a small retry
// loop for retryable errors, single-flighted across API processes by a lease in MongoDB (the
// database the sync writes to: the lease is there whenever the sync can run, Redis or not).

export interface DirectSyncDeps {
  activities: TenantSyncActivities;
  store: SyncStore;
  /** The platform database's leases (Collections.leases). */
  leases: Collection<LeaseDoc>;
  log: Logger;
  concurrency: number;
  lockTtlMs: number;
  /** The sync states of a tenant's collections in one read (each collection's sync would otherwise read its own). */
  states?: (tenantId: string, collections: readonly string[]) => Promise<Map<string, SavedSyncState>>;
}

export interface DirectOutcome {
  correlationId: string;
  essential: CollectionResult[];
  /** True when another process held the lock and this call answered from its result. */
  joined: boolean;
}

/**
 * The direct-sync lease: renewed while a run holds it (every 4 s), so a killed holder frees the
 * tenant this fast; long enough that a live holder keeps it through a MongoDB stall of up to
 * about 16 s — a replica set's election (≈ 12 s by default), or what the drill met: FerretDB
 * frozen for 5 s and its backlog after, which held one API's renewals past a 10 s lease. A holder
 * that stalls longer learns it lost the lease at its next renewal and starts nothing more.
 */
export const LOCK_LEASE_MS = 20_000;

async function withRetries(fn: () => Promise<CollectionResult>): Promise<CollectionResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const nonRetryable = err instanceof ApplicationFailure && err.nonRetryable;
      const delay = InProcessProfiles.directSync.retryDelaysMs[attempt];
      if (nonRetryable || delay === undefined) throw err;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** A run's record write, tried again after 0.5, 1, 2 and 4 s (while the run still holds its lease). */
async function recordWithRetries(write: () => Promise<unknown>): Promise<void> {
  for (const delay of [500, 1_000, 2_000, 4_000, undefined]) {
    try {
      await write();
      return;
    } catch (err) {
      if (delay === undefined) throw err;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export function createDirectSync(d: DirectSyncDeps) {
  /** One read for every collection's state; a failed read leaves each sync to read its own. */
  const statesOf = async (tenantId: string, plan: readonly CollectionPlan[]) =>
    plan.length > 1 && d.states
      ? d
          .states(
            tenantId,
            plan.map((c) => c.name),
          )
          .catch(() => undefined)
      : undefined;
  /** `stop`: asked before each collection; true leaves it (and the rest) pending. */
  const syncAll = async (tenantId: string, correlationId: string, plan: readonly CollectionPlan[], stop?: () => boolean) => {
    const states = await statesOf(tenantId, plan);
    return mapBounded(plan, d.concurrency, async (c): Promise<CollectionResult> => {
      if (stop?.()) return { ...pendingCollection(c), essential: c.essential };
      const started = Date.now();
      const saved = states ? { saved: states.get(c.name) ?? null } : {};
      try {
        return await withRetries(() =>
          d.activities.syncCollection({ tenantId, collection: c.name, essential: c.essential, correlationId, ...saved }),
        );
      } catch (err) {
        const error = failureFromError(err, { tenantId, collection: c.name, correlationId }, started);
        return failedCollection(c, error, started);
      }
    });
  };

  /**
   * Syncs the essential collections now. With `includeRest`, the others follow in the background
   * (flag off: direct is the primary path); on fallback the workflow carries on with them.
   */
  async function run(
    tenantId: string,
    correlationId: string,
    plan: readonly CollectionPlan[],
    o: { fallbackReason?: FallbackReason; workflowId?: string; includeRest: boolean },
  ): Promise<DirectOutcome> {
    const lockKey = `direct-sync:${tenantId}`;
    // The lease covers the whole run (essential and the rest), so two direct runs of a tenant never
    // sync its collections at once; a waiting login needs only the essential ones (`markReady`).
    // LOCK_LEASE_MS, renewed while held: a killed holder frees the tenant within it.
    // Lost: this run stalled past its lease and another took the tenant over (its next renewal
    // found it released). It finishes its essential collections (a login waits on them), starts
    // none of the rest (the taker syncs them) and says so in its record (leaseLostAt).
    let leaseLostAt: string | undefined;
    const take = () =>
      tryLease(d.leases, lockKey, Math.min(LOCK_LEASE_MS, d.lockTtlMs), {
        maxHoldMs: d.lockTtlMs,
        onLost: () => {
          leaseLostAt ??= new Date().toISOString();
          d.log.warn(
            { tenantId, correlationId },
            'direct-sync lease lost: another run took the tenant over after this one stalled past its lease; leaving the rest to it',
          );
        },
      });
    const lost = () => leaseLostAt !== undefined;
    // This process's previous run of the tenant has recorded and let go of the lease first.
    await handedOff(lockKey);
    let lock = await take();
    for (let round = 0; lock === undefined && round < 3; round++) {
      // Another process is syncing this tenant: wait for it and answer from its outcome; a holder
      // that died (its lease ran out) left no outcome, so this login takes the tenant over.
      const why = await waitForLease(d.leases, lockKey, d.lockTtlMs, 25);
      if (why === 'ready' || why === 'released') {
        const status = await d.store.getStatus(tenantId);
        if (status) return { correlationId: status.lastRunId, essential: status.collections.filter((c) => c.essential), joined: true };
      }
      lock = await take();
    }
    if (lock === undefined)
      d.log.warn({ tenantId }, 'direct-sync lease still held after waiting: syncing without it (writes are version-guarded)');
    const startedAt = new Date();
    const essentialPlan = plan.filter((c) => c.essential);
    const restPlan = plan.filter((c) => !c.essential);
    // A fallback shares the login's correlationId with the workflow run it stands in for, but is
    // its own run: a distinct record, so neither overwrites the other in sync_runs.
    const runId = o.fallbackReason ? `${correlationId}:fallback` : correlationId;
    const record = (collections: CollectionResult[], final: boolean, essentialReadyAt: string): SyncRunRecord => ({
      runId,
      tenantId,
      method: 'direct',
      fallbackUsed: o.fallbackReason !== undefined,
      ...(o.fallbackReason ? { fallbackReason: o.fallbackReason } : {}),
      ...(o.workflowId ? { workflowId: o.workflowId } : {}),
      state: final ? runStateOf(collections) : 'running',
      startedAt: startedAt.toISOString(),
      essentialReadyAt,
      ...(final ? { finishedAt: new Date().toISOString(), durationMs: Date.now() - startedAt.getTime() } : {}),
      ...(leaseLostAt ? { leaseLostAt } : {}),
      collections,
    });
    const pending = restPlan.map(pendingCollection);
    const onlyEssential = !o.includeRest || restPlan.length === 0;
    let essential: CollectionResult[];
    try {
      essential = await syncAll(tenantId, correlationId, essentialPlan);
    } catch (err) {
      await lock?.release().catch(() => undefined);
      throw err;
    }
    const essentialAt = new Date().toISOString();
    try {
      // Recorded before the answer and before waiters are let go: the next login's freshness check
      // (in any process) and a process waiting on the lease answer from this run's status.
      await d.store.recordRun(record(onlyEssential ? essential : [...essential, ...pending], onlyEssential, essentialAt));
    } catch (err) {
      await lock?.release().catch(() => undefined);
      throw err;
    }
    // The lease's release (or its ready mark and the rest) goes on after the answer: on a busy
    // database (an outage's storm of fallbacks) each write queues behind every other login's, and
    // the login waited for one more. A later run of this tenant in this process waits for it
    // (`handedOff`), so it never finds its own predecessor's lease still held.
    if (onlyEssential) {
      track(lockKey, lock?.release().catch(() => undefined) ?? Promise.resolve());
      return { correlationId, essential, joined: false };
    }
    const ready = lock?.markReady(runId).catch(() => undefined) ?? Promise.resolve();
    track(lockKey, ready);
    track(
      `${lockKey}:rest`,
      ready
        .then(() => syncAll(tenantId, correlationId, restPlan, lost))
        // The final record is retried through a short MongoDB stall (a pool its monitor cleared):
        // left 'running', the run would look in progress until the stuck-sync sweep settles it.
        .then((rest) => recordWithRetries(() => d.store.recordRun(record([...essential, ...rest], true, essentialAt))))
        .catch((err: unknown) => d.log.error({ err, tenantId, correlationId }, 'background direct sync failed'))
        .finally(async () => {
          await lock?.release().catch(() => undefined);
        }),
    );
    return { correlationId, essential, joined: false };
  }

  /** Work a run left going after its answer, by key: a later run of the key waits for it; `settle` for all. */
  const background = new Map<string, Set<Promise<unknown>>>();
  function track(key: string, p: Promise<unknown>): void {
    const set = background.get(key) ?? new Set();
    background.set(key, set);
    const done = p.then(
      () => undefined,
      () => undefined,
    );
    set.add(done);
    void done.then(() => {
      set.delete(done);
      if (set.size === 0) background.delete(key);
    });
  }
  const handedOff = async (key: string) => {
    await Promise.all([...(background.get(key) ?? [])]);
  };

  return {
    run,
    /** Resolves once every run's work after its answer (records, releases, the rest) is done: the app's close waits for it. */
    async settle(): Promise<void> {
      while (background.size > 0) await Promise.all([...background.values()].flatMap((set) => [...set]));
    },
  };
}

export type DirectSync = ReturnType<typeof createDirectSync>;
