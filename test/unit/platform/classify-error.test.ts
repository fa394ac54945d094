import { describe, expect, it } from 'vitest';
import { MongoClient, MongoNetworkError, MongoNetworkTimeoutError, MongoParseError, MongoServerError } from 'mongodb';
import { classifyError } from '../../../activities/classify-error';
import { SourceError } from '../../../activities/sources/types';
import { DeadlineExceededError } from '../../../infra/timeout';
import { SyncErrorType } from '../../../shared/errors';

// The activities' error classifier: whatever an activity catches (driver errors, source errors,
// deadlines, network failures, anything else) maps to the seed's SyncErrorType.

/** A real driver error: selecting a server on a port nothing listens on. */
async function serverSelectionError(): Promise<unknown> {
  const client = new MongoClient('mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=150&connectTimeoutMS=150');
  try {
    await client.connect();
    return undefined;
  } catch (err) {
    return err;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** A real fetch failure (undici's TypeError "fetch failed"). */
async function fetchFailure(): Promise<unknown> {
  return fetch('http://127.0.0.1:1/').then(
    () => undefined,
    (err: unknown) => err,
  );
}

const DB = SyncErrorType.DATABASE_ERROR;
const UNKNOWN = SyncErrorType.UNKNOWN_ERROR;

describe('classifyError', () => {
  describe('a SourceError keeps its own type, whatever its message says', () => {
    it.each(Object.values(SyncErrorType))('%s', (type) => {
      expect(classifyError(new SourceError(type, 'fetch failed: ECONNREFUSED'))).toBe(type);
    });
  });

  const cases: Array<[string, unknown, SyncErrorType]> = [
    ['a deadline of our own', new DeadlineExceededError('source page', 500), SyncErrorType.TIMEOUT_ERROR],
    ['a MongoNetworkError (even one naming ECONNREFUSED)', new MongoNetworkError('connect ECONNREFUSED 127.0.0.1:27017'), DB],
    ['a MongoNetworkTimeoutError', new MongoNetworkTimeoutError('connection timed out'), SyncErrorType.DATABASE_ERROR],
    ['a MongoServerError (duplicate key)', new MongoServerError({ message: 'E11000 duplicate key error', code: 11000 } as never), DB],
    ['any other MongoError (parse)', new MongoParseError('Invalid scheme'), SyncErrorType.DATABASE_ERROR],
    ['an AbortError', Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }), SyncErrorType.TIMEOUT_ERROR],
    ['a TimeoutError', Object.assign(new Error('The operation timed out'), { name: 'TimeoutError' }), SyncErrorType.TIMEOUT_ERROR],
    ['ECONNREFUSED', new Error('connect ECONNREFUSED 10.0.0.1:443'), SyncErrorType.NETWORK_ERROR],
    ['ECONNRESET', new Error('read ECONNRESET'), SyncErrorType.NETWORK_ERROR],
    ['EPIPE', new Error('write EPIPE'), SyncErrorType.NETWORK_ERROR],
    ['ENOTFOUND', new Error('getaddrinfo ENOTFOUND api.example.test'), SyncErrorType.NETWORK_ERROR],
    ['socket hang up, any case', new Error('Socket Hang Up'), SyncErrorType.NETWORK_ERROR],
    ['fetch failed', new TypeError('fetch failed'), SyncErrorType.NETWORK_ERROR],
    ['a plain Error', new Error('boom'), SyncErrorType.UNKNOWN_ERROR],
    ['an Error whose name alone looks like a network error', Object.assign(new Error('bad'), { name: 'ECONNREFUSED' }), UNKNOWN],
    ['a thrown string naming ECONNREFUSED (not an Error)', 'connect ECONNREFUSED', SyncErrorType.UNKNOWN_ERROR],
    ['an error-shaped object (not an Error)', { name: 'AbortError', message: 'fetch failed' }, SyncErrorType.UNKNOWN_ERROR],
    ['undefined', undefined, SyncErrorType.UNKNOWN_ERROR],
    ['null', null, SyncErrorType.UNKNOWN_ERROR],
  ];
  it.each(cases)('%s → %s', (_label, err, expected) => {
    expect(classifyError(err)).toBe(expected);
  });

  it('real errors: server selection → DATABASE, an aborted or timed-out signal → TIMEOUT, a refused fetch → NETWORK', async () => {
    const selection = await serverSelectionError();
    expect((selection as Error).name).toBe('MongoServerSelectionError');
    expect(classifyError(selection)).toBe(SyncErrorType.DATABASE_ERROR);
    expect(classifyError(AbortSignal.abort().reason)).toBe(SyncErrorType.TIMEOUT_ERROR);
    const timeout = AbortSignal.timeout(1);
    await new Promise((r) => setTimeout(r, 20));
    expect((timeout.reason as Error).name).toBe('TimeoutError');
    expect(classifyError(timeout.reason)).toBe(SyncErrorType.TIMEOUT_ERROR);
    const refused = await fetchFailure();
    expect(refused).toBeInstanceOf(TypeError);
    expect(classifyError(refused)).toBe(SyncErrorType.NETWORK_ERROR);
  });
});
