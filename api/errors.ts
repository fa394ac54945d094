// One error hierarchy with stable codes; the error-handler plugin maps it to RFC 9457 problem+json.

export interface ProblemExtras {
  [key: string]: unknown;
}

/** Base of every error the API answers on purpose. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    message: string,
    readonly extras: ProblemExtras = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
  get type(): string {
    return `urn:sync-orchestrator:problem:${this.code}`;
  }
}

/** Thrown when input (params, query, body, headers) fails validation. */
export class ValidationError extends AppError {
  constructor(message: string, extras: ProblemExtras = {}) {
    super(400, 'validation-error', 'Invalid request', message, extras);
  }
}

/** Thrown when no valid bearer token accompanies a protected request. */
export class AuthenticationError extends AppError {
  constructor(message = 'A valid bearer token is required') {
    super(401, 'authentication-error', 'Unauthorized', message, {}, { 'WWW-Authenticate': 'Bearer' });
  }
}

/** Thrown when the token lacks a scope or does not cover the tenant. */
export class AuthorizationError extends AppError {
  constructor(message: string) {
    super(403, 'authorization-error', 'Forbidden', message);
  }
}

/** Thrown when the named resource does not exist. */
export class NotFoundError extends AppError {
  constructor(resource: string, id?: string) {
    super(404, 'not-found', 'Not found', id ? `${resource} '${id}' was not found` : `${resource} was not found`);
  }
}

/** Thrown when the request conflicts with current state (a run in progress, a duplicate). */
export class ConflictError extends AppError {
  constructor(message: string, extras: ProblemExtras = {}) {
    super(409, 'conflict', 'Conflict', message, extras);
  }
}

/** Thrown when a request repeats an Idempotency-Key with a different payload. */
export class UnprocessableError extends AppError {
  constructor(message: string, extras: ProblemExtras = {}) {
    super(422, 'unprocessable', 'Unprocessable request', message, extras);
  }
}

/** Thrown when a caller exceeds its rate limit. */
export class RateLimitError extends AppError {
  constructor(retryAfterSeconds: number) {
    super(429, 'rate-limited', 'Too many requests', `Rate limit exceeded, retry in ${retryAfterSeconds} s`, { retryAfter: retryAfterSeconds }, { 'Retry-After': String(retryAfterSeconds) });
  }
}

/** Thrown when a dependency (MongoDB, Redis, Temporal) cannot serve the request. */
export class DependencyUnavailableError extends AppError {
  constructor(dependency: string, message: string) {
    super(503, 'dependency-unavailable', 'Service unavailable', message, { dependency });
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
