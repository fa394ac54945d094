// Error classification shared by activities, workflows and the API (seed 004).

export const SyncErrorType = {
  AUTH_ERROR: 'AUTH_ERROR',
  VALIDATION_ERROR: 'VALIDATION_ERROR',
  NETWORK_ERROR: 'NETWORK_ERROR',
  DATABASE_ERROR: 'DATABASE_ERROR',
  TIMEOUT_ERROR: 'TIMEOUT_ERROR',
  UNKNOWN_ERROR: 'UNKNOWN_ERROR',
} as const;
export type SyncErrorType = (typeof SyncErrorType)[keyof typeof SyncErrorType];

/** AUTH and VALIDATION never succeed on retry; everything else retries with backoff. */
export const NON_RETRYABLE_ERROR_TYPES: readonly SyncErrorType[] = [
  SyncErrorType.AUTH_ERROR,
  SyncErrorType.VALIDATION_ERROR,
];

export function isRetryableErrorType(type: SyncErrorType): boolean {
  return !NON_RETRYABLE_ERROR_TYPES.includes(type);
}

export function isSyncErrorType(value: unknown): value is SyncErrorType {
  return typeof value === 'string' && value in SyncErrorType;
}
