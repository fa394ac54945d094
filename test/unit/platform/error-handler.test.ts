import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { MongoNetworkError, MongoNetworkTimeoutError, MongoServerSelectionError } from 'mongodb';
import requestContext, { correlationIdFrom } from '../../../api/plugins/request-context';
import errorHandler, { PROBLEM_CONTENT_TYPE } from '../../../api/plugins/error-handler';
import { BackupError } from '../../../activities/migrations/backup';
import { SourceError } from '../../../activities/sources/types';
import { TenantDbClashError } from '../../../activities/tenant-sync/registry';
import { DeadlineExceededError } from '../../../infra/timeout';
import {
  AppError,
  AuthenticationError,
  AuthorizationError,
  ConflictError,
  DependencyUnavailableError,
  NotFoundError,
  RateLimitError,
  SyncErrorType,
  UnprocessableError,
  ValidationError,
} from '../../../shared/errors';

// The HTTP error handler renders every coded error as problem+json by the code table, and hides
// everything the API does not answer as itself behind one internal-error.

const P = 'urn:sync-orchestrator:problem:';
const GENERIC = 'An unexpected error occurred; quote the correlationId when reporting it';

const throwers: Record<string, () => unknown> = {
  validation: () => new ValidationError('name must be unique', { field: 'name' }),
  authentication: () => new AuthenticationError(),
  authorization: () => new AuthorizationError('token does not cover tenant acme'),
  'not-found': () => new NotFoundError('Reconcile batch', 'b1'),
  conflict: () => new ConflictError('a run is in progress', { runId: 'r1' }),
  clash: () => new TenantDbClashError('a', 'tenant_a', { tenantId: 'b' }),
  unprocessable: () => new UnprocessableError('different payload'),
  'rate-limited': () => new RateLimitError(4),
  dependency: () => new DependencyUnavailableError('redis', 'redis at mongodb://user:pw@10.1.2.3:6379 is down'),
  'metrics-disabled': () => new AppError('metrics-disabled', 'Telemetry is not started in this process'),
  source: () => new SourceError(SyncErrorType.NETWORK_ERROR, 'upstream 10.0.0.5 refused'),
  deadline: () => new DeadlineExceededError('mongodb', 500),
  backup: () => new BackupError('backup x does not exist', false),
  plain: () => new Error('secret internals'),
  'mongo-network': () => new MongoNetworkError('connection 3 to 10.9.8.7:27017 closed'),
  'mongo-timeout': () => new MongoNetworkTimeoutError('connection 4 to 10.9.8.7:27017 timed out'),
  'mongo-selection': () => new MongoServerSelectionError('Server selection timed out after 5000 ms', {} as never),
};

let app: FastifyInstance;

beforeAll(async () => {
  app = Fastify({ genReqId: correlationIdFrom, bodyLimit: 64, logger: false });
  await app.register(requestContext);
  await app.register(errorHandler);
  app.get<{ Params: { kind: string } }>('/throw/:kind', async (req) => {
    throw throwers[req.params.kind]!();
  });
  const body = { type: 'object', required: ['name'], properties: { name: { type: 'string' } } };
  app.post('/echo', { schema: { body } }, async (req) => req.body);
  await app.ready();
});

afterAll(async () => {
  await app.close();
});

const get = async (kind: string) => {
  const res = await app.inject({ method: 'GET', url: `/throw/${kind}?x=1`, headers: { 'x-correlation-id': 'corr-1' } });
  expect(res.headers['content-type']).toBe(PROBLEM_CONTENT_TYPE);
  return { res, body: res.json() as Record<string, unknown> };
};

describe('problem+json by code', () => {
  it.each([
    ['validation', 400, 'validation-error', 'Invalid request', 'name must be unique', { field: 'name' }],
    ['authentication', 401, 'authentication-error', 'Unauthorized', 'A valid bearer token is required', {}],
    ['authorization', 403, 'authorization-error', 'Forbidden', 'token does not cover tenant acme', {}],
    ['not-found', 404, 'not-found', 'Not found', "Reconcile batch 'b1' was not found", {}],
    ['conflict', 409, 'conflict', 'Conflict', 'a run is in progress', { runId: 'r1' }],
    ['clash', 409, 'tenant-db-clash', 'Conflict', "tenant 'a' would use database 'tenant_a', which clashes with tenant 'b'", {}],
    ['unprocessable', 422, 'unprocessable', 'Unprocessable request', 'different payload', {}],
    ['rate-limited', 429, 'rate-limited', 'Too many requests', 'Rate limit exceeded, retry in 4 s', { retryAfter: 4 }],
    ['metrics-disabled', 404, 'metrics-disabled', 'Metrics not enabled', 'Telemetry is not started in this process', {}],
  ] as const)('%s → %i %s', async (kind, status, code, title, detail, extras) => {
    const { res, body } = await get(kind);
    expect(res.statusCode).toBe(status);
    expect(body).toEqual({ type: `${P}${code}`, title, status, detail, correlationId: 'corr-1', instance: `/throw/${kind}`, ...extras });
  });

  it('sends the headers a code carries', async () => {
    expect((await get('authentication')).res.headers['www-authenticate']).toBe('Bearer');
    expect((await get('rate-limited')).res.headers['retry-after']).toBe('4');
  });

  it('a 503 answers with its detail stripped of connection details', async () => {
    const { res, body } = await get('dependency');
    expect(res.statusCode).toBe(503);
    expect(body).toMatchObject({ type: `${P}dependency-unavailable`, title: 'Service unavailable', status: 503, dependency: 'redis' });
    expect(String(body.detail)).not.toMatch(/10\.1\.2\.3|pw/);
  });

  it.each(['mongo-network', 'mongo-timeout', 'mongo-selection'])(
    '%s: MongoDB not answering → 503 dependency mongodb with Retry-After, no address',
    async (kind) => {
      const { res, body } = await get(kind);
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(body).toMatchObject({
        type: `${P}dependency-unavailable`,
        status: 503,
        dependency: 'mongodb',
        detail: 'MongoDB did not answer; retry shortly',
      });
      expect(JSON.stringify(body)).not.toContain('10.9.8.7');
    },
  );

  it.each(['source', 'deadline', 'backup', 'plain'])('%s: never answered as itself → 500 internal-error', async (kind) => {
    const { res, body } = await get(kind);
    expect(res.statusCode).toBe(500);
    const internal = { type: `${P}internal-error`, title: 'Internal server error', status: 500, detail: GENERIC };
    expect(body).toEqual({ ...internal, correlationId: 'corr-1', instance: `/throw/${kind}` });
  });
});

describe("Fastify's own refusals keep their types", () => {
  it('schema validation → validation-error with the failing paths', async () => {
    const res = await app.inject({ method: 'POST', url: '/echo', payload: { other: 1 } });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body).toMatchObject({ type: `${P}validation-error`, title: 'Invalid request', status: 400 });
    expect(body.errors).toEqual([{ path: 'body', message: "must have required property 'name'" }]);
  });

  it('a body over the limit → 413 with Fastify’s code as the type', async () => {
    const res = await app.inject({ method: 'POST', url: '/echo', payload: { name: 'x'.repeat(200) } });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ type: `${P}fst-err-ctp-body-too-large`, title: 'Invalid request', status: 413 });
  });

  it('an unsupported content type → 415', async () => {
    const res = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'text/csv' }, payload: 'a,b' });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ type: `${P}fst-err-ctp-invalid-media-type`, title: 'Invalid request', status: 415 });
  });

  it('an unknown route → not-found naming it', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope?q=1' });
    expect(res.statusCode).toBe(404);
    const detail = "Route 'GET /nope' was not found";
    expect(res.json()).toMatchObject({ type: `${P}not-found`, title: 'Not found', status: 404, detail, instance: '/nope' });
  });
});
