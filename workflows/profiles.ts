import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';

/** Named timeout and retry profiles; workflows pick one instead of scattering numbers. */
export const ActivityProfiles = {
  /** Short I/O: a few point writes. */
  quick: {
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '5 seconds', maximumAttempts: 5 },
  },
  /** One tenant collection: paged, heartbeating; AUTH and VALIDATION errors are not retried. */
  syncCollection: {
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '30 seconds',
    retry: {
      initialInterval: '300 milliseconds',
      backoffCoefficient: 2,
      maximumInterval: '10 seconds',
      maximumAttempts: 4,
      nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
    },
  },
} as const satisfies Record<string, ActivityOptions>;

/**
 * Local-activity profiles: run inside the worker right after the workflow task, saving two
 * server round trips each — used where a caller is waiting (the login's essential collections).
 */
export const LocalActivityProfiles = {
  essentialCollection: {
    startToCloseTimeout: '2 minutes',
    localRetryThreshold: '10 seconds',
    retry: ActivityProfiles.syncCollection.retry,
  },
  /**
   * One step of a client upsert (tens of ms; a few hundred point writes at most). Local: a client
   * is 7 short steps, and server round trips would cost more than the steps. A failed step is
   * recorded, not fatal; AUTH and VALIDATION errors are not retried.
   */
  clientStep: {
    startToCloseTimeout: '2 minutes',
    localRetryThreshold: '10 seconds',
    retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '5 seconds', maximumAttempts: 3, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
  },
} as const satisfies Record<string, LocalActivityOptions>;
