import { ERROR_TABLE, problemType, SYNC_ERROR_CODES, type ErrorCode, type ErrorRule, type SyncErrorType } from './error-codes';

// One error hierarchy: every error we throw on purpose carries a stable code from ERROR_TABLE.
// Pure (no node modules): the workflow bundle, activities, the API and the CLI all import it.

export * from './error-codes';

export interface ProblemExtras {
  [key: string]: unknown;
}

export interface AppErrorOptions {
  /** Fields added to the problem+json body. @default {} */
  extras?: ProblemExtras;
  /** Headers sent with the problem answer. @default {} */
  headers?: Record<string, string>;
  /** What went wrong underneath. @default undefined */
  cause?: unknown;
}

/** Base of every error thrown on purpose; its code decides HTTP status and retryability (ERROR_TABLE). */
export class AppError extends Error {
  readonly extras: ProblemExtras;
  readonly headers: Record<string, string>;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options: AppErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.extras = options.extras ?? {};
    this.headers = options.headers ?? {};
  }
  get rule(): ErrorRule {
    return ERROR_TABLE[this.code];
  }
  get status(): number {
    return this.rule.status;
  }
  get title(): string {
    return this.rule.title;
  }
  get errorType(): SyncErrorType {
    return this.rule.errorType;
  }
  get retryable(): boolean {
    return this.rule.retryable;
  }
  /** The ApplicationFailure type an activity throws for it. */
  get failureType(): string {
    return this.rule.failureType ?? this.rule.errorType;
  }
  /** The problem+json `type` URI. */
  get type(): string {
    return problemType(this.code);
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** True when the API answers the error as itself (not hidden behind `internal-error`). */
export const isAnsweredAsIs = (err: AppError) => err.status !== 500;

/** One line for a person (the CLI): the title first when the API would answer it so. */
export function describeError(err: unknown): string {
  if (err instanceof AppError && isAnsweredAsIs(err)) return `${err.title}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** Thrown when input (params, query, body, headers, flags) fails validation. */
export class ValidationError extends AppError {
  constructor(message: string, extras: ProblemExtras = {}) {
    super('validation-error', message, { extras });
  }
}

/** Thrown when Fastify itself refuses a request (body too large, bad content type…); keeps Fastify's status and code. */
export class RequestRejectedError extends AppError {
  constructor(
    private readonly httpStatus: number,
    private readonly fastifyCode: string,
    message: string,
  ) {
    super('request-rejected', message);
  }
  override get status(): number {
    return this.httpStatus;
  }
  override get type(): string {
    return problemType(this.fastifyCode);
  }
}

/** Thrown when no valid bearer token accompanies a protected request. */
export class AuthenticationError extends AppError {
  constructor(message = 'A valid bearer token is required') {
    super('authentication-error', message, { headers: { 'WWW-Authenticate': 'Bearer' } });
  }
}

/** Thrown when the token lacks a scope or does not cover the tenant. */
export class AuthorizationError extends AppError {
  constructor(message: string) {
    super('authorization-error', message);
  }
}

/** Thrown when the named resource does not exist. */
export class NotFoundError extends AppError {
  constructor(resource: string, id?: string) {
    super('not-found', id ? `${resource} '${id}' was not found` : `${resource} was not found`);
  }
}

/** Thrown when the request conflicts with current state (a run in progress, a duplicate). */
export class ConflictError extends AppError {
  constructor(message: string, extras: ProblemExtras = {}) {
    super('conflict', message, { extras });
  }
}

/** Thrown when a request repeats an Idempotency-Key with a different payload. */
export class UnprocessableError extends AppError {
  constructor(message: string, extras: ProblemExtras = {}) {
    super('unprocessable', message, { extras });
  }
}

/** Thrown when a caller exceeds its rate limit or quota. */
export class RateLimitError extends AppError {
  constructor(retryAfterSeconds: number) {
    super('rate-limited', `Rate limit exceeded, retry in ${retryAfterSeconds} s`, {
      extras: { retryAfter: retryAfterSeconds },
      headers: { 'Retry-After': String(retryAfterSeconds) },
    });
  }
}

/** Thrown when a dependency (MongoDB, Redis, Temporal) cannot serve the request. */
export class DependencyUnavailableError extends AppError {
  constructor(dependency: string, message: string, headers: Record<string, string> = {}) {
    super('dependency-unavailable', message, { extras: { dependency }, headers });
  }
}

/** Thrown when work fails with one of the seed's types only; retryable as the seed says (AUTH, VALIDATION never). */
export class SyncFailureError extends AppError {
  constructor(errorType: SyncErrorType, message: string, options: AppErrorOptions = {}) {
    super(SYNC_ERROR_CODES[errorType], message, options);
  }
}
