import { MongoError, MongoNetworkError, MongoServerSelectionError } from 'mongodb';
import { SyncErrorType } from '../shared/errors';
import { SourceError } from './sources/types';
import { DeadlineExceededError } from '../infra/timeout';

/** Maps any thrown value to the seed's error classification. */
export function classifyError(err: unknown): SyncErrorType {
  if (err instanceof SourceError) return err.errorType;
  if (err instanceof DeadlineExceededError) return SyncErrorType.TIMEOUT_ERROR;
  if (err instanceof MongoNetworkError || err instanceof MongoServerSelectionError) return SyncErrorType.DATABASE_ERROR;
  if (err instanceof MongoError) return SyncErrorType.DATABASE_ERROR;
  if (err instanceof Error) {
    if (err.name === 'AbortError' || err.name === 'TimeoutError') return SyncErrorType.TIMEOUT_ERROR;
    if (/ECONNREFUSED|ECONNRESET|EPIPE|ENOTFOUND|socket hang up|fetch failed/i.test(err.message)) return SyncErrorType.NETWORK_ERROR;
  }
  return SyncErrorType.UNKNOWN_ERROR;
}
