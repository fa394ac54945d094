import type { Db, Filter } from 'mongodb';
import { Collections } from '../../infra/mongo';
import type { Page, PageRequest } from '../../shared/paging';
import { pageById } from '../records/paging';
import type { CollectionResult, FallbackReason, RunState, SyncMethod, SyncRunRecord } from '../../shared/tenant-sync';
import type { StuckSyncDoc } from '../maintenance/stuck-store';
import { progressCollection } from './progress';

// sync_runs (history) and tenant_sync_status (latest per tenant, point reads). Watermarks live
// with the data, in each tenant's own database (tenant-sync-state.ts).

export interface SyncRunDoc extends Omit<SyncRunRecord, 'runId' | 'startedAt' | 'essentialReadyAt' | 'finishedAt' | 'leaseLostAt'> {
  _id: string;
  startedAt: Date;
  essentialReadyAt?: Date;
  finishedAt?: Date;
  leaseLostAt?: Date;
  /** Set by the stuck-sync sweep when it ended this run (activities/maintenance/stuck-store.ts). */
  stuck?: { action: string; outcome: string; reason: string; detectedAt: Date };
  /** SYNC_SCHEMA_VERSION when written; absent on runs from before versions (migration 20261202000100). */
  _schemaVersion?: number;
}

/** Shape version of the sync_runs and tenant_sync_status documents this code writes. */
export const SYNC_SCHEMA_VERSION = 1;

/** Filters of GET /api/sync/runs; `tenants` is the token's coverage. */
export interface SyncRunFilter {
  tenants: readonly string[] | '*';
  tenantId?: string;
  state?: RunState;
  method?: SyncMethod;
  /** Runs started at or after this. */
  since?: Date;
}

export interface TenantSyncStatusDoc {
  _id: string;
  state: RunState;
  method: SyncMethod;
  lastRunId: string;
  lastStartedAt: Date;
  lastSyncAt?: Date;
  fallbackUsed: boolean;
  fallbackReason?: FallbackReason;
  collections: CollectionResult[];
  _schemaVersion?: number;
}

const date = (iso: string | undefined) => (iso ? new Date(iso) : undefined);

export function createSyncStore(db: Db) {
  const runs = db.collection<SyncRunDoc>(Collections.syncRuns);
  const status = db.collection<TenantSyncStatusDoc>(Collections.tenantSyncStatus);
  return {
    runs,
    status,
    /** Stuck-sync findings (activities/maintenance/stuck-store.ts), read by /api/sync/health. */
    stuck: db.collection<StuckSyncDoc>(Collections.stuckSyncs),
    /** Per-tenant progress marks (activities/tenant-sync/progress.ts): what "stuck" is measured against. */
    progress: progressCollection(db),
    /** Upserts the run and the tenant's latest status. Idempotent: a retried call writes the same. */
    async recordRun(run: SyncRunRecord): Promise<void> {
      const { runId, startedAt, essentialReadyAt, finishedAt, leaseLostAt, ...rest } = run;
      const doc: Omit<SyncRunDoc, '_id'> = { ...rest, startedAt: new Date(startedAt), _schemaVersion: SYNC_SCHEMA_VERSION };
      if (essentialReadyAt) doc.essentialReadyAt = new Date(essentialReadyAt);
      if (finishedAt) doc.finishedAt = new Date(finishedAt);
      if (leaseLostAt) doc.leaseLostAt = new Date(leaseLostAt);
      // Insert first: on FerretDB an insert is an index write while a replace scans the whole
      // (growing) collection. Only a run's later updates pay for the replace.
      try {
        await runs.insertOne({ _id: runId, ...doc });
      } catch (err) {
        if ((err as { code?: number }).code !== 11000) throw err;
        await runs.replaceOne({ _id: runId }, doc);
      }
      const set: Partial<TenantSyncStatusDoc> = {
        state: run.state,
        method: run.method,
        lastRunId: runId,
        lastStartedAt: new Date(startedAt),
        fallbackUsed: run.fallbackUsed,
        collections: run.collections,
        _schemaVersion: SYNC_SCHEMA_VERSION,
      };
      if (run.fallbackReason) set.fallbackReason = run.fallbackReason;
      const update: Record<string, unknown> = { $set: set };
      const syncedAt = date(finishedAt) ?? date(essentialReadyAt);
      if (syncedAt && run.state !== 'failed') update.$max = { lastSyncAt: syncedAt };
      await status.updateOne({ _id: run.tenantId }, update, { upsert: true });
    },
    getStatus: (tenantId: string) => status.findOne({ _id: tenantId }),
    /**
     * One page of runs in run-ID order (never sorted by time: sync_runs is the big collection, and
     * a sorted read is materialised whole on FerretDB). No total: counting it is a full scan.
     */
    listRuns(req: PageRequest, f: SyncRunFilter): Promise<Page<SyncRunDoc>> {
      const filter: Filter<SyncRunDoc> = {};
      if (f.tenantId !== undefined) filter.tenantId = f.tenantId;
      else if (f.tenants !== '*') filter.tenantId = { $in: [...f.tenants] };
      if (f.state) filter.state = f.state;
      if (f.method) filter.method = f.method;
      if (f.since) filter.startedAt = { $gte: f.since };
      return pageById(runs, filter, req);
    },
  };
}

export type SyncStore = ReturnType<typeof createSyncStore>;
