import type { ActivityOptions } from '@temporalio/workflow';

/** Named timeout and retry profiles; workflows pick one instead of scattering numbers. */
export const ActivityProfiles = {
  /** Short I/O: a few point writes. */
  quick: {
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '5 seconds', maximumAttempts: 5 },
  },
} as const satisfies Record<string, ActivityOptions>;
