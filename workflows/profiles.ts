import { ActivityCancellationType, type ActivityOptions, type LocalActivityOptions, type RetryPolicy } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';
import type { ReconcileOptions } from '../shared/reconcile';

// Every timeout and retry profile of the workflow layer, in one module rather than one per
// capability: the policies are shared across capabilities (one backoff shape, one
// non-retryable classification), a reviewer compares every timeout on one screen, and the whole
// table stays short. Workflows pick a named profile; none writes a number into proxyActivities
// (test/unit/platform/profiles.test.ts keeps it so).

/** The seed's classification (shared/errors.ts): AUTH and VALIDATION never succeed on retry. */
const SEED_NON_RETRYABLE: readonly string[] = NON_RETRYABLE_ERROR_TYPES;
/** Migrations also stop at once when `up` failed: half-applied user code is restored, not retried. */
const MIGRATION_NON_RETRYABLE: readonly string[] = [...NON_RETRYABLE_ERROR_TYPES, 'MIGRATION_UP_FAILED'];

/** Exponential backoff (×2) from `initialInterval` to `maximumInterval`, `maximumAttempts` tries, never retrying `nonRetryable`. */
function backoff(
  initialInterval: Duration,
  maximumInterval: Duration,
  maximumAttempts: number,
  nonRetryable?: readonly string[],
): RetryPolicy {
  const never = nonRetryable ? { nonRetryableErrorTypes: [...nonRetryable] } : {};
  return { initialInterval, backoffCoefficient: 2, maximumInterval, maximumAttempts, ...never };
}

/** Each retry policy once, by name; the profiles below refer to these. */
export const RetryPolicies = {
  /** Idempotent point writes (run records, the probe): every error is retried, quickly. */
  quick: backoff('200 milliseconds', '5 seconds', 5),
  /** One tenant collection (regular or local activity). */
  syncCollection: backoff('300 milliseconds', '10 seconds', 4, SEED_NON_RETRYABLE),
  /** One client-upsert step: a failed step is recorded, not fatal, so few tries. */
  clientStep: backoff('200 milliseconds', '5 seconds', 3, SEED_NON_RETRYABLE),
  /** Reconcile planning and the final record. */
  reconcileControl: backoff('500 milliseconds', '30 seconds', 5, SEED_NON_RETRYABLE),
  /** Retention cleanup and the stuck-sync sweep. */
  maintenance: backoff('1 second', '1 minute', 5, SEED_NON_RETRYABLE),
  /** Migration state writes and planning. */
  migrationState: backoff('500 milliseconds', '10 seconds', 10, MIGRATION_NON_RETRYABLE),
  /** Backup copies: resumable from their heartbeat checkpoint. */
  migrationCopy: backoff('1 second', '30 seconds', 10, MIGRATION_NON_RETRYABLE),
  /** Restores must end: more attempts, same resumable copy. */
  migrationRestore: backoff('1 second', '1 minute', 30, MIGRATION_NON_RETRYABLE),
  /** `verify` and the dry run only read live data: a few tries for transient errors. */
  migrationVerify: backoff('1 second', '10 seconds', 3, MIGRATION_NON_RETRYABLE),
  /** Code that is not idempotent (`up`, `down`): one attempt. */
  once: { maximumAttempts: 1 },
} as const satisfies Record<string, RetryPolicy>;

/** Named timeout and retry profiles; workflows pick one instead of scattering numbers. */
export const ActivityProfiles = {
  /** Short I/O: a few point writes. */
  quick: { startToCloseTimeout: '30 seconds', retry: RetryPolicies.quick },
  /** One tenant collection: paged, heartbeating; AUTH and VALIDATION errors are not retried. */
  syncCollection: { startToCloseTimeout: '10 minutes', heartbeatTimeout: '30 seconds', retry: RetryPolicies.syncCollection },
} as const satisfies Record<string, ActivityOptions>;

/**
 * Local-activity profiles: run inside the worker right after the workflow task, saving two
 * server round trips each — used where a caller is waiting (the login's essential collections).
 */
export const LocalActivityProfiles = {
  essentialCollection: { startToCloseTimeout: '2 minutes', localRetryThreshold: '10 seconds', retry: RetryPolicies.syncCollection },
  /**
   * One step of a client upsert (tens of ms; a few hundred point writes at most). Local: a client
   * is 7 short steps, and server round trips would cost more than the steps.
   */
  clientStep: { startToCloseTimeout: '2 minutes', localRetryThreshold: '10 seconds', retry: RetryPolicies.clientStep },
} as const satisfies Record<string, LocalActivityOptions>;

/** The migration steps (workflows/migrations.ts). */
export const MigrationProfiles = {
  /** Small state writes and planning. */
  state: { startToCloseTimeout: '1 minute', retry: RetryPolicies.migrationState },
  /** Backups: batched, heartbeating a checkpoint; a retry resumes from it. */
  copy: { startToCloseTimeout: '4 hours', heartbeatTimeout: '30 seconds', retry: RetryPolicies.migrationCopy },
  /** Restores must end: more attempts, same resumable copy. */
  restore: { startToCloseTimeout: '4 hours', heartbeatTimeout: '30 seconds', retry: RetryPolicies.migrationRestore },
  /** `up` and `down`: user code that is not idempotent — one attempt; a lost worker shows as a heartbeat timeout. */
  apply: { startToCloseTimeout: '6 hours', heartbeatTimeout: '30 seconds', retry: RetryPolicies.once },
  /** `verify` and the dry run. */
  verify: { startToCloseTimeout: '1 hour', heartbeatTimeout: '30 seconds', retry: RetryPolicies.migrationVerify },
} as const satisfies Record<string, ActivityOptions>;

/** The schedules' workflows (workflows/cleanup.ts). */
export const CleanupProfiles = {
  /** Batched deletes: long, heartbeating after every batch; a retry continues the counts. */
  cleanup: { startToCloseTimeout: '2 hours', heartbeatTimeout: '2 minutes', retry: RetryPolicies.maintenance },
  /** pruneMigrationBackups (activities/migrations/activities.ts) drops backup collections one by one without heartbeats. */
  prune: { startToCloseTimeout: '30 minutes', retry: RetryPolicies.maintenance },
  /** A few visibility calls and point writes per stuck run. */
  sweep: { startToCloseTimeout: '10 minutes', heartbeatTimeout: '1 minute', retry: RetryPolicies.maintenance },
} as const satisfies Record<string, ActivityOptions>;

/** Reconcile (workflows/reconcile.ts); the partition profile takes the run's retry, backoff and heartbeat settings. */
export const ReconcileProfiles = {
  /** Plan (counts, split sampling: one `_id` scan) and the final record. */
  control: { startToCloseTimeout: '15 minutes', retry: RetryPolicies.reconcileControl },
  /** Extra attempts of a partition beyond retryAttempts: killed workers and lost cursors use them. */
  partitionExtraAttempts: 5,
} as const;

/**
 * One reconcile partition: runs as long as its chunks take (each chunk is bounded inside by
 * timeoutPerChunk) and a dead worker shows within the run's heartbeat timeout.
 */
export function reconcilePartitionProfile(o: ReconcileOptions, taskQueue?: string): ActivityOptions {
  const initial = Math.max(100, o.retryDelay);
  return {
    // The bulk lane's queue when the starter named one (shared/lanes.ts); else the workflow's own.
    ...(taskQueue ? { taskQueue } : {}),
    startToCloseTimeout: '7 days',
    heartbeatTimeout: o.heartbeatTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: backoff(initial, Math.max(initial * 8, 1_000), o.retryAttempts + ReconcileProfiles.partitionExtraAttempts, SEED_NON_RETRYABLE),
  };
}
