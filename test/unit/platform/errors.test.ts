import { describe, expect, it } from 'vitest';
import { QuotaExceededError } from '../../../api/services/quotas/quotas';
import { WorkPausedError } from '../../../api/services/maintenance/pauses';
import { ApplicationFailure } from '@temporalio/common';
import { MongoNetworkError } from 'mongodb';
import { classifyError, toApplicationFailure } from '../../../activities/classify-error';
import { ClientConfigError } from '../../../activities/client-upsert/config';
import { ClientStepError } from '../../../activities/client-upsert/activities';
import { KeyOrderError } from '../../../activities/records/key-order';
import { MigrationFailureTypes } from '../../../activities/migrations/activities';
import { BackupError } from '../../../activities/migrations/backup';
import { MigrationDefinitionError } from '../../../activities/migrations/registry';
import { RepairRestoreError } from '../../../activities/reconcile/repair';
import { StopRequested } from '../../../activities/reconcile/stream';
import { OutboundRefusal } from '../../../activities/sources/outbound';
import { SourceError } from '../../../activities/sources/types';
import { TenantDbClashError } from '../../../activities/tenant-sync/registry';
import { TemporalLoginError } from '../../../api/services/tenant-sync/temporal-login';
import { InvalidTokenError } from '../../../infra/auth-token';
import { ConfigError } from '../../../infra/config';
import { ToolUnavailableError } from '../../../infra/dev/ensure-tools';
import { FailedRunsQueryError } from '../../../activities/maintenance/failed-runs';
import { SecretDecryptError, SecretKeyUnknownError, SecretsKeyFormatError } from '../../../infra/secrets';
import { TelemetryAlreadyStartedError } from '../../../infra/telemetry';
import { DeadlineExceededError } from '../../../infra/timeout';
import {
  AppError,
  AuthenticationError,
  AuthorizationError,
  ConflictError,
  DependencyUnavailableError,
  describeError,
  ERROR_CODES,
  ERROR_TABLE,
  isRetryableErrorType,
  NotFoundError,
  RateLimitError,
  RequestRejectedError,
  SYNC_ERROR_CODES,
  SyncErrorType,
  UnprocessableError,
  ValidationError,
  type ErrorCode,
} from '../../../shared/errors';

// The one error hierarchy: the code table is total and consistent, every class carries the code it
// documents, and activities turn each into the ApplicationFailure its code prescribes.

const { AUTH_ERROR: AUTH, VALIDATION_ERROR: VALIDATION, NETWORK_ERROR: NETWORK, DATABASE_ERROR: DATABASE } = SyncErrorType;
const { TIMEOUT_ERROR: TIMEOUT, UNKNOWN_ERROR: UNKNOWN } = SyncErrorType;

describe('the code table', () => {
  it.each(ERROR_CODES)('%s has an HTTP status, a title, a seed type and a retryability that agree', (code) => {
    const rule = ERROR_TABLE[code];
    expect(Number.isInteger(rule.status) && rule.status >= 400 && rule.status <= 599).toBe(true);
    expect(rule.title.length).toBeGreaterThan(0);
    expect(Object.values(SyncErrorType)).toContain(rule.errorType);
    expect(typeof rule.retryable).toBe('boolean');
    expect(rule.retryable).toBe(isRetryableErrorType(rule.errorType));
    expect(code).toMatch(/^[a-z]+(-[a-z]+)*$/);
  });

  it('has a code for each of the seed types, carrying that type', () => {
    for (const type of Object.values(SyncErrorType)) expect(ERROR_TABLE[SYNC_ERROR_CODES[type]].errorType).toBe(type);
  });

  it('a backup failure keeps the migration activity failure type', () => {
    expect(new BackupError('x', false).failureType).toBe(MigrationFailureTypes.backup);
    expect(new BackupError('x', true).failureType).toBe(MigrationFailureTypes.backup);
  });
});

// [label, error, class, code, HTTP status, seed type, retryable]
type Row = [string, AppError, abstract new (...a: never[]) => AppError, ErrorCode, number, SyncErrorType, boolean];
const rows: Row[] = [
  ['ValidationError', new ValidationError('bad'), ValidationError, 'validation-error', 400, VALIDATION, false],
  [
    'RequestRejectedError',
    new RequestRejectedError(413, 'fst-err-ctp-body-too-large', 'too big'),
    RequestRejectedError,
    'request-rejected',
    413,
    VALIDATION,
    false,
  ],
  ['AuthenticationError', new AuthenticationError(), AuthenticationError, 'authentication-error', 401, AUTH, false],
  ['AuthorizationError', new AuthorizationError('no'), AuthorizationError, 'authorization-error', 403, AUTH, false],
  ['NotFoundError', new NotFoundError('Batch', 'b1'), NotFoundError, 'not-found', 404, VALIDATION, false],
  ['ConflictError', new ConflictError('busy'), ConflictError, 'conflict', 409, VALIDATION, false],
  ['UnprocessableError', new UnprocessableError('other payload'), UnprocessableError, 'unprocessable', 422, VALIDATION, false],
  ['RateLimitError', new RateLimitError(3), RateLimitError, 'rate-limited', 429, NETWORK, true],
  [
    'WorkPausedError',
    new WorkPausedError({ kind: 'reconcile', pausedBy: 'ops', reason: 'incident', pausedAt: '2026-01-01T00:00:00.000Z' }),
    WorkPausedError,
    'work-paused',
    503,
    NETWORK,
    true,
  ],
  [
    'QuotaExceededError',
    new QuotaExceededError('ensure_per_minute', 2, 30, { tenantId: 'a' }),
    QuotaExceededError,
    'quota-exceeded',
    429,
    NETWORK,
    true,
  ],
  [
    'DependencyUnavailableError',
    new DependencyUnavailableError('redis', 'down'),
    DependencyUnavailableError,
    'dependency-unavailable',
    503,
    NETWORK,
    true,
  ],
  [
    'TemporalLoginError',
    new TemporalLoginError('timeout', 'late', 'tenant-sync:a'),
    TemporalLoginError,
    'temporal-login-unanswered',
    503,
    NETWORK,
    true,
  ],
  [
    'TenantDbClashError',
    new TenantDbClashError('a', 'tenant_a', { tenantId: 'b' }),
    TenantDbClashError,
    'tenant-db-clash',
    409,
    VALIDATION,
    false,
  ],
  ['InvalidTokenError', new InvalidTokenError('expired'), AuthenticationError, 'authentication-error', 401, AUTH, false],
  ['FailedRunsQueryError', new FailedRunsQueryError('limit', 'must be ≥ 1'), ValidationError, 'validation-error', 400, VALIDATION, false],
  ['SourceError AUTH', new SourceError(AUTH, 'rejected'), SourceError, 'sync-auth-error', 500, AUTH, false],
  ['SourceError VALIDATION', new SourceError(VALIDATION, 'not JSON'), SourceError, 'sync-validation-error', 500, VALIDATION, false],
  ['SourceError NETWORK', new SourceError(NETWORK, '502'), SourceError, 'sync-network-error', 500, NETWORK, true],
  ['SourceError DATABASE', new SourceError(DATABASE, 'db'), SourceError, 'sync-database-error', 500, DATABASE, true],
  ['SourceError TIMEOUT', new SourceError(TIMEOUT, 'slow'), SourceError, 'sync-timeout-error', 500, TIMEOUT, true],
  ['SourceError UNKNOWN', new SourceError(UNKNOWN, '418'), SourceError, 'sync-unknown-error', 500, UNKNOWN, true],
  ['ClientStepError', new ClientStepError(VALIDATION, 'config changed'), ClientStepError, 'sync-validation-error', 500, VALIDATION, false],
  ['DeadlineExceededError', new DeadlineExceededError('chunk 3', 50), DeadlineExceededError, 'deadline-exceeded', 500, TIMEOUT, true],
  ['OutboundRefusal', new OutboundRefusal('metadata address'), OutboundRefusal, 'outbound-refused', 500, VALIDATION, false],
  ['KeyOrderError', new KeyOrderError('not ascending'), KeyOrderError, 'key-order', 500, VALIDATION, false],
  ['RepairRestoreError', new RepairRestoreError([1, 2]), RepairRestoreError, 'repair-incomplete', 500, UNKNOWN, true],
  ['StopRequested', new StopRequested(), StopRequested, 'stop-requested', 500, UNKNOWN, true],
  ['ClientConfigError', new ClientConfigError('c', []), ClientConfigError, 'client-config-invalid', 500, VALIDATION, false],
  [
    'MigrationDefinitionError',
    new MigrationDefinitionError('dup'),
    MigrationDefinitionError,
    'migration-definition',
    500,
    VALIDATION,
    false,
  ],
  ['BackupError unusable', new BackupError('unknown backup', false), BackupError, 'backup-unusable', 500, VALIDATION, false],
  ['BackupError mismatch', new BackupError('count differs', true), BackupError, 'backup-mismatch', 500, DATABASE, true],
  [
    'SecretKeyUnknownError',
    new SecretKeyUnknownError('k0', 'tenant:a'),
    SecretKeyUnknownError,
    'secret-key-unknown',
    500,
    VALIDATION,
    false,
  ],
  ['SecretDecryptError', new SecretDecryptError('tenant:a'), SecretDecryptError, 'secret-undecryptable', 500, VALIDATION, false],
  ['SecretsKeyFormatError', new SecretsKeyFormatError(['short']), SecretsKeyFormatError, 'secrets-key-invalid', 500, VALIDATION, false],
  ['ConfigError', new ConfigError(['PORT: bad']), ConfigError, 'config-invalid', 500, VALIDATION, false],
  [
    'TelemetryAlreadyStartedError',
    new TelemetryAlreadyStartedError('api', 'worker'),
    TelemetryAlreadyStartedError,
    'telemetry-started-twice',
    500,
    VALIDATION,
    false,
  ],
  ['ToolUnavailableError', new ToolUnavailableError('temporal'), ToolUnavailableError, 'tool-unavailable', 500, VALIDATION, false],
];

describe('each class maps as documented', () => {
  it.each(rows)('%s', (label, err, cls, code, status, errorType, retryable) => {
    expect(err).toBeInstanceOf(AppError);
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(cls);
    expect(err.name).toBe(label.split(' ')[0]);
    const got = { code: err.code, status: err.status, errorType: err.errorType, retryable: err.retryable };
    expect(got).toEqual({ code, status, errorType, retryable });
    expect(err.title).toBe(ERROR_TABLE[code].title);
  });

  it('every code but the handler-made internal-error is carried by some class above', () => {
    const used = new Set(rows.map((r) => r[3]));
    expect(ERROR_CODES.filter((c) => !used.has(c))).toEqual(['metrics-disabled', 'not-ready', 'internal-error']);
  });

  it('a problem type is the code (or Fastify’s code for its own refusals)', () => {
    expect(new ConflictError('x').type).toBe('urn:sync-orchestrator:problem:conflict');
    const media = 'fst-err-ctp-invalid-media-type';
    expect(new RequestRejectedError(415, media, 'x').type).toBe(`urn:sync-orchestrator:problem:${media}`);
  });

  it('keeps each class’s context fields and messages', () => {
    expect(new SourceError(NETWORK, 'x', { status: 502, collection: 'users' }).details).toEqual({ status: 502, collection: 'users' });
    expect(new FailedRunsQueryError('since', 'is not a valid date').message).toBe('since: is not a valid date');
    expect(new ConfigError(['A: b']).problems).toEqual(['A: b']);
    expect(new RateLimitError(7).headers).toEqual({ 'Retry-After': '7' });
    expect(new AuthenticationError().headers).toEqual({ 'WWW-Authenticate': 'Bearer' });
    const cause = new Error('insert refused');
    expect(new RepairRestoreError([1], cause).cause).toBe(cause);
  });
});

describe('activities: classifier and ApplicationFailure by the table', () => {
  it.each(rows)('%s: classified by its code, thrown with its retryability', (_label, err, _cls, _code, _status, errorType, retryable) => {
    expect(classifyError(err)).toBe(errorType);
    const failure = toApplicationFailure(err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    const got = { type: failure.type, message: failure.message, nonRetryable: failure.nonRetryable };
    expect(got).toEqual({ type: err.failureType, message: err.message, nonRetryable: !retryable });
    expect(failure.cause).toBe(err);
  });

  it('uncoded errors go through the driver classifier', () => {
    const driver = toApplicationFailure(new MongoNetworkError('connection reset'));
    expect({ type: driver.type, nonRetryable: driver.nonRetryable }).toEqual({ type: DATABASE, nonRetryable: false });
    const plain = toApplicationFailure('boom', { message: 'step failed', details: [{ step: 'routes' }] });
    const got = { type: plain.type, message: plain.message, nonRetryable: plain.nonRetryable, details: plain.details };
    expect(got).toEqual({ type: UNKNOWN, message: 'step failed', nonRetryable: false, details: [{ step: 'routes' }] });
    expect(plain.cause).toBeUndefined();
  });
});

describe('describeError (the CLI)', () => {
  it('puts the title before what the API answers as itself, and gives other errors as they are', () => {
    expect(describeError(new NotFoundError('Reconcile batch', 'b1'))).toBe("Not found: Reconcile batch 'b1' was not found");
    const down = new DependencyUnavailableError('temporal', 'Temporal is unavailable');
    expect(describeError(down)).toBe('Service unavailable: Temporal is unavailable');
    expect(describeError(new BackupError("backup 'x' does not exist", false))).toBe("backup 'x' does not exist");
    expect(describeError(new Error('plain'))).toBe('plain');
    expect(describeError(42)).toBe('42');
  });
});
