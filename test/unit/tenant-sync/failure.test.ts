import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MongoNetworkError } from 'mongodb';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { failureFromError as activityFailureFromError } from '../../../activities/tenant-sync/activities';
import { SourceError } from '../../../activities/sources/types';
import { SyncErrorType } from '../../../shared/errors';
import { failureFromError, type FailureContext } from '../../../shared/sync-failure';
import type { SyncFailure } from '../../../shared/tenant-sync';

// failureFromError: the SyncFailure a collection reports, from whatever its sync threw — the
// failure an activity attached, an ApplicationFailure's type, or the classifier's verdict.

const NOW = Date.parse('2030-01-01T00:00:00Z');
const ctx: FailureContext = { tenantId: 'acme', collection: 'users', correlationId: 'sync-acme-1' };
const started = NOW - 1_250;
const wrapped = (cause: Error) =>
  new ActivityFailure('Activity task failed', 'syncCollection', '1', RetryState.MAXIMUM_ATTEMPTS_REACHED, 'worker@host', cause);
const attached: SyncFailure = {
  errorType: SyncErrorType.AUTH_ERROR,
  retryable: false,
  message: 'upstream refused the token at https://10.1.2.3:8443/tenants/other/collections/orders',
  correlationId: 'sync-other-7',
  tenantId: 'other',
  collection: 'orders',
  durationMs: 42,
};

describe('failureFromError', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('an attached SyncFailure is returned as the activity made it, its message redacted (own tenant and collection kept)', () => {
    const err = ApplicationFailure.create({ type: 'AUTH_ERROR', message: 'outer message', details: [attached] });
    const message = 'upstream refused the token at https://<host>/tenants/other/collections/orders';
    expect(failureFromError(err, ctx, started)).toEqual({ ...attached, message });
  });

  it('is found through the ActivityFailure that wraps it', () => {
    const err = wrapped(ApplicationFailure.create({ type: 'AUTH_ERROR', message: 'outer', details: [attached] }));
    const failure = failureFromError(err, ctx, started);
    expect(failure).toMatchObject({ errorType: 'AUTH_ERROR', tenantId: 'other', collection: 'orders', durationMs: 42 });
  });

  const typed: Array<[string, boolean]> = [
    [SyncErrorType.AUTH_ERROR, false],
    [SyncErrorType.VALIDATION_ERROR, false],
    [SyncErrorType.NETWORK_ERROR, true],
    [SyncErrorType.DATABASE_ERROR, true],
    [SyncErrorType.TIMEOUT_ERROR, true],
    [SyncErrorType.UNKNOWN_ERROR, true],
  ];
  it.each(typed)("an ApplicationFailure of type %s, no details → that type, retryable %s, the caller's context", (type, retryable) => {
    const err = wrapped(ApplicationFailure.create({ type, message: `failed with ${type}` }));
    const expected = { errorType: type, retryable, message: `failed with ${type}`, ...ctx, durationMs: 1_250 };
    expect(failureFromError(err, ctx, started)).toEqual(expected);
  });

  const notSyncFailures: Array<[string, ApplicationFailure]> = [
    ['a type that is no SyncErrorType', ApplicationFailure.create({ type: 'MIGRATION_FAILED', message: 'nope' })],
    ['no type at all', ApplicationFailure.create({ message: 'nope' })],
    ['details without an errorType', ApplicationFailure.create({ type: 'CUSTOM', message: 'nope', details: [{ reason: 'x' }] })],
    ['details that are not an object', ApplicationFailure.create({ type: 'CUSTOM', message: 'nope', details: ['AUTH_ERROR'] })],
  ];
  it.each(notSyncFailures)('an ApplicationFailure with %s → UNKNOWN_ERROR, retryable', (_label, err) => {
    const expected = { errorType: 'UNKNOWN_ERROR', retryable: true, message: 'nope', ...ctx, durationMs: 1_250 };
    expect(failureFromError(err, ctx, started)).toEqual(expected);
  });

  it('an ApplicationFailure with unusable details still gives its SyncErrorType', () => {
    const err = ApplicationFailure.create({ type: 'VALIDATION_ERROR', message: 'bad page', details: [{ page: 3 }] });
    expect(failureFromError(err, ctx, started)).toMatchObject({ errorType: 'VALIDATION_ERROR', retryable: false, message: 'bad page' });
  });

  it('looks four levels deep and no deeper; past that the classifier decides from the outer error', () => {
    const app = ApplicationFailure.create({ type: 'AUTH_ERROR', message: 'deep' });
    const chain = (levels: number): Error => {
      let e: Error = app;
      for (let i = 0; i < levels; i++) e = new Error(`level ${i}`, { cause: e });
      return e;
    };
    expect(failureFromError(chain(3), ctx, started).errorType).toBe('AUTH_ERROR');
    expect(failureFromError(chain(4), ctx, started)).toMatchObject({ errorType: 'UNKNOWN_ERROR', message: 'level 3' });
    expect(failureFromError(chain(4), ctx, started, () => SyncErrorType.NETWORK_ERROR).errorType).toBe('NETWORK_ERROR');
  });

  it('anything else: the given classifier decides (by default UNKNOWN_ERROR); thrown non-errors become text', () => {
    const err = new Error('connection reset');
    const expected = { errorType: 'UNKNOWN_ERROR', retryable: true, message: 'connection reset', ...ctx, durationMs: 1_250 };
    expect(failureFromError(err, ctx, started)).toEqual(expected);
    const classify = vi.fn(() => SyncErrorType.VALIDATION_ERROR);
    expect(failureFromError(err, ctx, started, classify)).toMatchObject({ errorType: 'VALIDATION_ERROR', retryable: false });
    expect(classify).toHaveBeenCalledWith(err);
    expect(failureFromError('plain text', ctx, started)).toMatchObject({ errorType: 'UNKNOWN_ERROR', message: 'plain text' });
    expect(failureFromError(undefined, ctx, started).message).toBe('undefined');
  });

  it('the message loses connection details but keeps the collection and tenant named, and stops at 500 characters', () => {
    const err = new Error('users: connect ECONNREFUSED 10.0.0.5:27017 for acme via mongodb://app:secret@db.internal:27017/acme');
    expect(failureFromError(err, ctx, started).message).toBe('users: connect ECONNREFUSED <host> for acme via mongodb://<host>/acme');
    expect(failureFromError(new Error('x'.repeat(800)), ctx, started).message).toHaveLength(500);
  });

  it("the activities' version classifies with classifyError (driver and source errors)", () => {
    const of = (err: unknown) => activityFailureFromError(err, ctx, started);
    const db = { errorType: 'DATABASE_ERROR', retryable: true, message: 'socket closed' };
    expect(of(new MongoNetworkError('socket closed'))).toMatchObject(db);
    expect(of(new SourceError(SyncErrorType.AUTH_ERROR, 'token expired'))).toMatchObject({ errorType: 'AUTH_ERROR', retryable: false });
    expect(of(ApplicationFailure.create({ type: 'TIMEOUT_ERROR', message: 'slow' })).errorType).toBe('TIMEOUT_ERROR');
  });
});
