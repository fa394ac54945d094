// The API's errors are the shared hierarchy (shared/errors.ts); this re-export keeps the routes' imports short.

export {
  AppError,
  AuthenticationError,
  AuthorizationError,
  ConflictError,
  DependencyUnavailableError,
  isAppError,
  NotFoundError,
  RateLimitError,
  RequestRejectedError,
  UnprocessableError,
  ValidationError,
  type ProblemExtras,
} from '../shared/errors';
