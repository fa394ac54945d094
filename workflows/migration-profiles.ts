import type { ActivityOptions } from '@temporalio/workflow';
import { SyncErrorType } from '../shared/errors';

// Timeout and retry profiles of the migration steps (workflows/migrations.ts).

const NEVER_RETRY = [SyncErrorType.AUTH_ERROR, SyncErrorType.VALIDATION_ERROR, 'MIGRATION_UP_FAILED'];

export const MigrationProfiles = {
  /** Small state writes and planning. */
  state: {
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 10, nonRetryableErrorTypes: NEVER_RETRY },
  },
  /** Backups and restores: batched, heartbeating a checkpoint; a retry resumes from it. */
  copy: {
    startToCloseTimeout: '4 hours',
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10, nonRetryableErrorTypes: NEVER_RETRY },
  },
  /** Restores must end: more attempts, same resumable copy. */
  restore: {
    startToCloseTimeout: '4 hours',
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 30, nonRetryableErrorTypes: NEVER_RETRY },
  },
  /** `up` and `down`: user code that is not idempotent — one attempt; a lost worker shows as a heartbeat timeout. */
  apply: {
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: '30 seconds',
    retry: { maximumAttempts: 1 },
  },
  /** `verify` and the dry run only read live data: a few retries for transient errors. */
  verify: {
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 3, nonRetryableErrorTypes: NEVER_RETRY },
  },
} as const satisfies Record<string, ActivityOptions>;
