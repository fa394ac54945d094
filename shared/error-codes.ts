// The seed's error classification and the one table mapping every error code to its HTTP answer and Temporal retryability.

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
export const NON_RETRYABLE_ERROR_TYPES: readonly SyncErrorType[] = [SyncErrorType.AUTH_ERROR, SyncErrorType.VALIDATION_ERROR];

export function isRetryableErrorType(type: SyncErrorType): boolean {
  return !NON_RETRYABLE_ERROR_TYPES.includes(type);
}

export function isSyncErrorType(value: unknown): value is SyncErrorType {
  return typeof value === 'string' && value in SyncErrorType;
}

/** What a code means to each layer. */
export interface ErrorRule {
  /** The HTTP status; 500 means never answered as such: the API answers `internal-error` and logs it. */
  readonly status: number;
  /** The problem+json `title`. */
  readonly title: string;
  /** The seed's classification (what the activity classifier reports). */
  readonly errorType: SyncErrorType;
  /** False: an activity throws it as a non-retryable ApplicationFailure. Always agrees with the seed's rule for `errorType`. */
  readonly retryable: boolean;
  /** The ApplicationFailure `type` an activity throws. @default errorType */
  readonly failureType?: string;
}

const { AUTH_ERROR: AUTH, VALIDATION_ERROR: VALIDATION, NETWORK_ERROR: NETWORK, DATABASE_ERROR: DATABASE } = SyncErrorType;
const { TIMEOUT_ERROR: TIMEOUT, UNKNOWN_ERROR: UNKNOWN } = SyncErrorType;
const INTERNAL = { status: 500, title: 'Internal server error' } as const;

/** Every code, once. The problem `type` is `urn:sync-orchestrator:problem:<code>`. */
export const ERROR_TABLE = {
  // Answered by the API as themselves.
  'validation-error': { status: 400, title: 'Invalid request', errorType: VALIDATION, retryable: false },
  /** Fastify's own 4xx answers; each carries Fastify's status and code instead. */
  'request-rejected': { status: 400, title: 'Invalid request', errorType: VALIDATION, retryable: false },
  'authentication-error': { status: 401, title: 'Unauthorized', errorType: AUTH, retryable: false },
  'authorization-error': { status: 403, title: 'Forbidden', errorType: AUTH, retryable: false },
  'not-found': { status: 404, title: 'Not found', errorType: VALIDATION, retryable: false },
  'metrics-disabled': { status: 404, title: 'Metrics not enabled', errorType: VALIDATION, retryable: false },
  conflict: { status: 409, title: 'Conflict', errorType: VALIDATION, retryable: false },
  'tenant-db-clash': { status: 409, title: 'Conflict', errorType: VALIDATION, retryable: false },
  unprocessable: { status: 422, title: 'Unprocessable request', errorType: VALIDATION, retryable: false },
  'rate-limited': { status: 429, title: 'Too many requests', errorType: NETWORK, retryable: true },
  'quota-exceeded': { status: 429, title: 'Quota exceeded', errorType: NETWORK, retryable: true },
  'work-paused': { status: 503, title: 'Work paused', errorType: NETWORK, retryable: true },
  'dependency-unavailable': { status: 503, title: 'Service unavailable', errorType: NETWORK, retryable: true },
  'temporal-login-unanswered': { status: 503, title: 'Service unavailable', errorType: NETWORK, retryable: true },
  'not-ready': { status: 503, title: 'Service not ready', errorType: NETWORK, retryable: true },
  'internal-error': { ...INTERNAL, errorType: UNKNOWN, retryable: true },
  // Failures known by the seed's type only (source connectors, client upsert steps).
  'sync-auth-error': { ...INTERNAL, errorType: AUTH, retryable: false },
  'sync-validation-error': { ...INTERNAL, errorType: VALIDATION, retryable: false },
  'sync-network-error': { ...INTERNAL, errorType: NETWORK, retryable: true },
  'sync-database-error': { ...INTERNAL, errorType: DATABASE, retryable: true },
  'sync-timeout-error': { ...INTERNAL, errorType: TIMEOUT, retryable: true },
  'sync-unknown-error': { ...INTERNAL, errorType: UNKNOWN, retryable: true },
  // Inside the platform: the API never answers these as themselves.
  'deadline-exceeded': { ...INTERNAL, errorType: TIMEOUT, retryable: true },
  'outbound-refused': { ...INTERNAL, errorType: VALIDATION, retryable: false },
  'key-order': { ...INTERNAL, errorType: VALIDATION, retryable: false },
  'repair-incomplete': { ...INTERNAL, errorType: UNKNOWN, retryable: true },
  'stop-requested': { ...INTERNAL, errorType: UNKNOWN, retryable: true },
  'client-config-invalid': { ...INTERNAL, errorType: VALIDATION, retryable: false },
  'migration-definition': { ...INTERNAL, errorType: VALIDATION, retryable: false },
  'backup-unusable': { ...INTERNAL, errorType: VALIDATION, retryable: false, failureType: 'MIGRATION_BACKUP_ERROR' },
  'backup-mismatch': { ...INTERNAL, errorType: DATABASE, retryable: true, failureType: 'MIGRATION_BACKUP_ERROR' },
  'secret-key-unknown': { ...INTERNAL, errorType: VALIDATION, retryable: false },
  'secret-undecryptable': { ...INTERNAL, errorType: VALIDATION, retryable: false },
  'secrets-key-invalid': { ...INTERNAL, errorType: VALIDATION, retryable: false },
  'config-invalid': { ...INTERNAL, errorType: VALIDATION, retryable: false },
  'telemetry-started-twice': { ...INTERNAL, errorType: VALIDATION, retryable: false },
  'tool-unavailable': { ...INTERNAL, errorType: VALIDATION, retryable: false },
} as const satisfies Record<string, ErrorRule>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export const ERROR_CODES = Object.keys(ERROR_TABLE) as ErrorCode[];

/** The code a failure of one of the seed's types carries. */
export const SYNC_ERROR_CODES = {
  AUTH_ERROR: 'sync-auth-error',
  VALIDATION_ERROR: 'sync-validation-error',
  NETWORK_ERROR: 'sync-network-error',
  DATABASE_ERROR: 'sync-database-error',
  TIMEOUT_ERROR: 'sync-timeout-error',
  UNKNOWN_ERROR: 'sync-unknown-error',
} as const satisfies Record<SyncErrorType, ErrorCode>;

export const ruleOf = (code: ErrorCode): ErrorRule => ERROR_TABLE[code];

/** The problem+json `type` URI of a code (clients match on it: never change one). */
export const problemType = (code: string) => `urn:sync-orchestrator:problem:${code}`;
