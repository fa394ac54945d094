import { ApplicationFailure } from '@temporalio/activity';
import { MongoError, MongoNetworkError, MongoServerSelectionError } from 'mongodb';
import { AppError, isRetryableErrorType, SyncErrorType } from '../shared/errors';

// Activities' reading of what they catch: our coded errors by the code table, driver and network errors by their kind.

/** Maps any thrown value to the seed's error classification. */
export function classifyError(err: unknown): SyncErrorType {
  if (err instanceof AppError) return err.errorType;
  if (err instanceof MongoNetworkError || err instanceof MongoServerSelectionError) return SyncErrorType.DATABASE_ERROR;
  if (err instanceof MongoError) return SyncErrorType.DATABASE_ERROR;
  if (err instanceof Error) {
    if (err.name === 'AbortError' || err.name === 'TimeoutError') return SyncErrorType.TIMEOUT_ERROR;
    if (/ECONNREFUSED|ECONNRESET|EPIPE|ENOTFOUND|socket hang up|fetch failed/i.test(err.message)) return SyncErrorType.NETWORK_ERROR;
  }
  return SyncErrorType.UNKNOWN_ERROR;
}

export interface FailureOptions {
  /** The failure's message. @default the error's message */
  message?: string;
  /** Attached for the workflow to read (a SyncFailure, a ClientUpsertError…). @default none */
  details?: unknown[];
}

/** The ApplicationFailure an activity throws for `err`: type and retryability from the code table, else the classifier. */
export function toApplicationFailure(err: unknown, o: FailureOptions = {}): ApplicationFailure {
  const type = err instanceof AppError ? err.failureType : classifyError(err);
  const retryable = err instanceof AppError ? err.retryable : isRetryableErrorType(classifyError(err));
  const message = o.message ?? (err instanceof Error ? err.message : String(err));
  const cause = err instanceof Error ? err : undefined;
  return ApplicationFailure.create({ type, message, nonRetryable: !retryable, details: o.details, cause });
}
