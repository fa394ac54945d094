import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { SyncErrorType } from './errors';
import { Operations, SearchAttributeKeys, WorkflowIds } from './constants';

// Tenant-sync types shared by the workflow, its activities and the API. Only IDs, counters
// and outcomes travel here — never records or secrets.

export type SyncMethod = 'temporal' | 'direct';
export type FallbackReason = 'timeout' | 'error' | 'unavailable' | 'circuit_open' | 'no_worker' | 'hedged';

export interface CollectionPlan {
  name: string;
  essential: boolean;
}

export interface SyncFailure {
  errorType: SyncErrorType;
  retryable: boolean;
  message: string;
  correlationId: string;
  tenantId: string;
  collection: string;
  durationMs: number;
}

export type CollectionStatus = 'synced' | 'failed' | 'pending';

/** A record that could not be stored; it is read again by the next sync until it can. */
export interface RejectedRecordInfo {
  /** The record's key as text: strings as they are, other types in extended JSON (see keyType). */
  key: string;
  /** BSON type of the key: string, number, objectId, date… */
  keyType: string;
  reason: string;
}

/** Rejected records listed per collection result (the count is exact; the list stops here). */
export const MAX_REJECTED_LISTED = 20;

export interface CollectionResult {
  name: string;
  essential: boolean;
  status: CollectionStatus;
  /** Records written (new or newer version). */
  synced: number;
  /** Records read but already present at that version (retries, racing writers). */
  unchanged: number;
  /** Records rejected; the collection failed if > 0 or if an error is set. */
  failed: number;
  /**
   * Records whose versions could not order the write: the same version with other content, or a
   * version that changed kind (number → text…). Each also counts as synced or unchanged.
   */
  conflicts?: number;
  /** The first rejected records (at most MAX_REJECTED_LISTED), with key and reason. */
  rejectedRecords?: RejectedRecordInfo[];
  /** Full (first sync) or incremental (changed since the watermark). */
  mode?: 'full' | 'incremental';
  durationMs: number;
  error?: SyncFailure;
}

/** A non-essential collection the login answered before syncing (the rest carries on). */
export function pendingCollection(c: { name: string }): CollectionResult {
  return { name: c.name, essential: false, status: 'pending', synced: 0, unchanged: 0, failed: 0, durationMs: 0 };
}

/** The result of a collection whose sync failed as a whole (workflow and direct path alike). */
export function failedCollection(c: { name: string; essential: boolean }, error: SyncFailure, started: number): CollectionResult {
  return {
    name: c.name,
    essential: c.essential,
    status: 'failed',
    synced: 0,
    unchanged: 0,
    failed: 0,
    durationMs: Date.now() - started,
    error,
  };
}

export interface TenantSyncInput {
  tenantId: string;
  correlationId: string;
  collections: CollectionPlan[];
  /** Ignore watermarks and read everything. */
  full?: boolean;
  startedAt: string;
  /** Collections synced in parallel (SYNC_CONCURRENCY). */
  concurrency?: number;
}

export interface EssentialReadyResult {
  correlationId: string;
  essentialReady: boolean;
  collections: CollectionResult[];
}

export type RunState = 'running' | 'completed' | 'partial' | 'failed';

export interface SyncRunRecord {
  runId: string;
  tenantId: string;
  method: SyncMethod;
  fallbackUsed: boolean;
  fallbackReason?: FallbackReason;
  workflowId?: string;
  state: RunState;
  startedAt: string;
  essentialReadyAt?: string;
  finishedAt?: string;
  durationMs?: number;
  /** A direct run that stalled past its lease and found another run holding the tenant: when it learned so. */
  leaseLostAt?: string;
  collections: CollectionResult[];
}

export const TenantSyncNames = {
  workflow: 'tenantSyncWorkflow',
  essentialReadyUpdate: 'essentialReady',
  progressQuery: 'progress',
} as const;

/** The workflow as its clients start it (by the name TenantSyncNames.workflow): typed args and result. */
export type TenantSyncWorkflow = (input: TenantSyncInput) => Promise<SyncRunRecord>;
/** Answers the moment the essential collections are done (update-with-start: no polling). */
export const essentialReadyUpdate = defineUpdate<EssentialReadyResult>(TenantSyncNames.essentialReadyUpdate);
/** The run so far: each collection's status and counts. */
export const tenantSyncProgressQuery = defineQuery<SyncRunRecord>(TenantSyncNames.progressQuery);

/** `sync-{tenantId}-{timestamp}-{random}` (seed 004). */
export function syncCorrelationId(tenantId: string, now: number, random: string): string {
  return `sync-${tenantId}-${now}-${random}`;
}

export function runStateOf(collections: readonly CollectionResult[]): RunState {
  const failed = collections.filter((c) => c.status === 'failed').length;
  if (failed === 0) return 'completed';
  return failed === collections.length ? 'failed' : 'partial';
}

/**
 * How every tenant sync workflow is started (a login's update-with-start, the stuck-sync sweep's
 * restart): one ID per tenant, a running sync is joined, a finished one may run again; search
 * attributes and a readable memo for the Temporal UI.
 */
/** `fairnessWeight`: the tenant's (registry); priority class and fairness key come from the client interceptor. */
export function tenantSyncStartOptions(
  input: TenantSyncInput,
  taskQueue: string,
  trigger: 'login' | 'stuck-restart',
  fairnessWeight?: number,
) {
  return {
    ...(fairnessWeight !== undefined ? { priority: { fairnessWeight } } : {}),
    workflowId: WorkflowIds.tenantSync(input.tenantId),
    taskQueue,
    args: [input] as [TenantSyncInput],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
    workflowExecutionTimeout: '1 hour' as const,
    typedSearchAttributes: [
      { key: SearchAttributeKeys.TenantId, value: input.tenantId },
      { key: SearchAttributeKeys.SyncMethod, value: 'temporal' },
      { key: SearchAttributeKeys.Operation, value: Operations.tenantSync },
    ],
    memo: {
      what: `tenant sync of ${input.tenantId} (${trigger === 'login' ? 'login' : 'restarted: stuck'})`,
      correlationId: input.correlationId,
      tenantId: input.tenantId,
      trigger,
    },
  };
}
