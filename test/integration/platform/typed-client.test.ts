import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Middleware } from 'openapi-fetch';
import { startFixtureUpstream, type FixtureUpstream } from '../../../fixtures/upstream/server';
import { mintToken, Scopes } from '../../../infra/auth-token';
import { Collections } from '../../../infra/mongo';
import { ScheduleNames } from '../../../shared/cleanup';
import { scheduleOptions } from '../../../workers/schedules';
import { OPENAPI_FILES, type OpenApiDocument } from '../../../openapi/generate';
import { createPlatformClient, idempotent, type PlatformClient } from '../../../sdk/client';
import { mutableRegistry } from '../../helpers/migrations';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Every route through the typed client (sdk/client.ts: openapi-fetch over openapi/schema.d.ts)
// against a listening app, the way the auth service calls us. `tsc --noEmit` compiles each call
// against the generated types, so a path, parameter, query or body the routes stop accepting
// fails the type check; at run time each answer must have the status the document lists for it.
// Every answer here is a 2xx, except GET /health/metrics: 404 (documented) because the test app
// has no telemetry. The last test fails for a registered route this file does not call.

const doc = JSON.parse(readFileSync(OPENAPI_FILES.json, 'utf8')) as OpenApiDocument;

/** `METHOD /path/{param}` of each call, and every status answered to it. */
const answers: Array<{ key: string; status: number }> = [];
const recorder: Middleware = {
  onResponse({ request, schemaPath, response }) {
    answers.push({ key: `${request.method} ${schemaPath}`, status: response.status });
  },
};

/** The answer's data once its status is `status` (the error body in the message otherwise). */
function answered<D>(r: { data?: D; error?: unknown; response: Response }, status: number): D {
  expect(r.response.status, `${r.response.url}: ${JSON.stringify(r.error ?? null)}`).toBe(status);
  return r.data as D;
}

const tenantBody = (tenantId: string, baseUrl: string) => ({
  tenantId,
  name: `Tenant ${tenantId}`,
  source: { kind: 'http' as const, settings: { baseUrl, token: `tok-${tenantId}`, timeoutMs: 5_000 } },
  collections: [{ name: 'users', essential: true }],
});

/** Never called: each line must stay a compile error, or `tsc --noEmit` fails on the unused directive. */
export function typeErrorsTheClientCatches(api: PlatformClient): void {
  // @ts-expect-error — no such route
  void api.POST('/api/sync/tenants/{tenantId}/ensured', { params: { path: { tenantId: 'a' } } });
  // @ts-expect-error — the path parameter is required
  void api.GET('/api/sync/tenants/{tenantId}/status', { params: { path: {} } });
  // @ts-expect-error — a query parameter the route does not take
  void api.GET('/api/reconcile/{batchId}/errors', { params: { path: { batchId: 'b' }, query: { cursor: 'x' } } });
  // @ts-expect-error — `mode` is required by POST /api/runs/retry
  void api.POST('/api/runs/retry', { body: { taskQueue: 'q' } });
}

describe('typed client (openapi-fetch over the generated schema) against a listening app', () => {
  const migrations = mutableRegistry();
  // A worker, so that reconciles, client upserts and migrations finish; logins take the direct path.
  const stack = useStack({ worker: { settings: { tenantSync: { pageSize: 100 }, migrations: { registry: migrations } } } });
  const tenant = uniqueId('typed-a');
  let upstream: FixtureUpstream;
  let app: FastifyInstance;
  /** Operator: every scope, every tenant. */
  let api: PlatformClient;
  /** The auth service: sync scopes on the one tenant it logs users into. */
  let auth: PlatformClient;
  /** An app on a queue no worker polls: its reconcile stays running, so it can be cancelled. */
  let idle: PlatformClient;
  const workflows = new Set<string>();

  const client = (baseUrl: string, scopes: string[], tenants: string[] | '*') => {
    const secret = stack.deps.config.AUTH_JWT_SECRET;
    const c = createPlatformClient({ baseUrl, token: () => mintToken(secret, { sub: 'typed', scopes, tenants, ttlSeconds: 600 }) });
    c.use(recorder);
    return c;
  };

  beforeAll(async () => {
    upstream = await startFixtureUpstream();
    upstream.seedTenant(tenant, { collections: { users: 3 }, token: `tok-${tenant}` });
    app = await stack.buildApp({ USE_TEMPORAL_FOR_AUTH: false, SYNC_FRESHNESS_MS: 0 }, { migrations });
    const idleApp = await stack.buildApp({ TEMPORAL_TASK_QUEUE: uniqueId('idle') }, { migrations });
    const all = Object.values(Scopes);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    api = client(url, all, '*');
    auth = client(url, [Scopes.syncWrite, Scopes.syncRead], [tenant]);
    idle = client(await idleApp.listen({ host: '127.0.0.1', port: 0 }), all, '*');
  });
  afterAll(async () => {
    const wf = stack.deps.temporal.client.workflow;
    await Promise.allSettled([...workflows].map((id) => wf.getHandle(id).terminate('typed-client test done')));
    await upstream?.close();
  });

  it('registers a tenant and logs in through ensure, as the auth service does; reads status and the sync views', async () => {
    const registered = answered(await api.POST('/api/tenants', { body: tenantBody(tenant, upstream.baseUrl(tenant)) }), 201);
    expect(registered.tenantId).toBe(tenant);
    const one = answered(await api.GET('/api/tenants/{tenantId}', { params: { path: { tenantId: tenant } } }), 200);
    expect(one.name).toBe(`Tenant ${tenant}`);
    const tenants = answered(await api.GET('/api/tenants', { params: { query: { limit: '200' } } }), 200);
    expect(tenants.items.map((t) => t.tenantId)).toContain(tenant);

    const ensured = answered(await auth.POST('/api/sync/tenants/{tenantId}/ensure', { params: { path: { tenantId: tenant } } }), 200);
    expect(ensured).toMatchObject({ tenantId: tenant, essentialReady: true, syncMethod: 'direct' });
    expect(ensured.collections.map((c) => [c.name, c.synced])).toEqual([['users', 3]]);
    const status = answered(await auth.GET('/api/sync/tenants/{tenantId}/status', { params: { path: { tenantId: tenant } } }), 200);
    expect(status.hasFailedCollections).toBe(false);
    const runs = answered(await auth.GET('/api/sync/runs', { params: { query: { tenantId: tenant, limit: '10' } } }), 200);
    expect(runs.items.map((r) => r.tenantId)).toContain(tenant);

    answered(await auth.GET('/api/sync/metrics'), 200);
    answered(await auth.GET('/api/sync/health'), 200);
    answered(await auth.GET('/api/sync/method-stats'), 200);
  });

  it('reconciles: start, progress, errors, the list, bulk, and cancels a run no worker takes', async () => {
    const source = { kind: 'tenant' as const, tenantId: tenant, collection: 'users' };
    const started = answered(
      await api.POST('/api/reconcile', { body: { source, options: { dryRun: true } }, ...idempotent(uniqueId('rc')) }),
      202,
    );
    workflows.add(started.workflowId);
    await stack.deps.temporal.client.workflow.getHandle(started.workflowId).result();
    const batchId = { path: { batchId: started.batchId } };
    answered(await api.GET('/api/reconcile/{batchId}/progress', { params: batchId }), 200);
    answered(await api.GET('/api/reconcile/{batchId}/errors', { params: { ...batchId, query: { limit: '10' } } }), 200);
    const batches = answered(await api.GET('/api/reconcile', { params: { query: { tenantId: tenant, limit: '50' } } }), 200);
    expect(batches.items.map((b) => b.batchId)).toContain(started.batchId);

    const bulkSource = { kind: 'tenant' as const, tenantId: tenant, collections: ['users'] };
    const bulk = answered(
      await api.POST('/api/reconcile/bulk', { body: { source: bulkSource, options: { dryRun: true } }, ...idempotent(uniqueId('bk')) }),
      202,
    );
    expect(bulk.batches.map((b) => b.collection)).toEqual(['users']);
    for (const b of bulk.batches) workflows.add(b.workflowId);

    const waiting = answered(
      await idle.POST('/api/reconcile', { body: { source, options: { dryRun: true } }, ...idempotent(uniqueId('rc')) }),
      202,
    );
    workflows.add(waiting.workflowId);
    answered(await api.POST('/api/reconcile/{batchId}/cancel', { params: { path: { batchId: waiting.batchId } } }), 202);
  });

  it('upserts a client from clients/, follows its run, and reads the client', async () => {
    const key = 'acme-portal';
    const started = answered(await api.POST('/api/clients/sync', { body: { keys: [key] } }), 202);
    workflows.add(started.workflowId);
    const run = { params: { path: { workflowId: started.workflowId } } };
    await expect
      .poll(async () => answered(await api.GET('/api/clients/runs/{workflowId}', run), 200).status, { timeout: 30_000 })
      .not.toBe('RUNNING');
    expect(answered(await api.GET('/api/clients/{key}', { params: { path: { key } } }), 200).key).toBe(key);
    const listed = answered(await api.GET('/api/clients', { params: { query: { limit: '50' } } }), 200);
    expect(listed.items.map((c) => c.key)).toContain(key);
  });

  it('runs migrations (dry run), backs up, restores and prunes', async () => {
    const run = answered(await api.POST('/api/migrations/run', { body: { dryRun: true }, ...idempotent(uniqueId('mr')) }), 202);
    workflows.add(run.workflowId);
    answered(await api.GET('/api/migrations/runs/{workflowId}', { params: { path: { workflowId: run.workflowId } } }), 200);
    answered(await api.GET('/api/migrations/status'), 200);
    answered(await api.GET('/api/migrations/runs', { params: { query: { limit: '10' } } }), 200);

    const backup = answered(
      await api.POST('/api/migrations/backups', { body: { collection: Collections.tenants }, ...idempotent(uniqueId('b')) }),
      201,
    );
    const restore = { params: { path: { id: backup.backupId } }, body: { into: 'typed_restored', force: true } };
    answered(await api.POST('/api/migrations/backups/{id}/restore', { ...restore, ...idempotent(uniqueId('r')) }), 200);
    answered(await api.GET('/api/migrations/backups'), 200);
    answered(await api.POST('/api/migrations/backups/prune', { body: { olderThanMs: 31_536_000_000 }, ...idempotent(uniqueId('p')) }), 200);
  });

  it('reads and rotates secrets', async () => {
    answered(await api.GET('/api/secrets/status'), 200);
    answered(await api.POST('/api/secrets/rotate', { body: { limit: 1 }, ...idempotent(uniqueId('s')) }), 200);
  });

  describe('schedules', () => {
    const schedule = () => scheduleOptions(stack.deps.config).find((o) => o.scheduleId.startsWith(`${ScheduleNames.cleanupSyncRuns}:`))!;
    beforeAll(async () => {
      await stack.deps.temporal.client.schedule.create(schedule());
    });
    afterAll(async () => {
      const h = stack.deps.temporal.client.schedule.getHandle(schedule().scheduleId);
      const running = (await h.describe()).info.runningActions;
      await Promise.allSettled(running.map((r) => stack.deps.temporal.client.workflow.getHandle(r.workflow.workflowId).terminate('done')));
      await h.delete();
    });

    it('lists, describes, pauses, unpauses and triggers a schedule; lists and retries failed runs', async () => {
      const id = { path: { id: ScheduleNames.cleanupSyncRuns } };
      answered(await api.GET('/api/schedules', { params: { query: { all: 'false' } } }), 200);
      answered(await api.GET('/api/schedules/{id}', { params: id }), 200);
      answered(await api.POST('/api/schedules/{id}/pause', { params: id, body: { note: 'typed client' } }), 200);
      answered(await api.POST('/api/schedules/{id}/unpause', { params: id, body: {} }), 200);
      answered(await api.POST('/api/schedules/{id}/trigger', { params: id, body: {}, ...idempotent(uniqueId('t')) }), 202);

      const noRuns = 'typed-no-runs';
      answered(await api.GET('/api/runs/failed', { params: { query: { taskQueue: noRuns, limit: '10' } } }), 200);
      answered(await api.POST('/api/runs/retry', { body: { taskQueue: noRuns, mode: 'reset' } }), 200);
    });
  });

  it('probes the worker, reads the work view, the cache stats and the dashboard, pauses and resumes a kind of work', async () => {
    answered(await api.POST('/api/probe', { body: {} }), 200);
    answered(await api.GET('/api/ops/work'), 200);
    answered(await api.GET('/api/cache/stats'), 200);
    answered(await api.GET('/api/dashboard/snapshot'), 200);
    const stream = answered(await api.GET('/api/dashboard/stream', { params: { query: { events: '1' } }, parseAs: 'text' }), 200);
    expect(stream).toContain('event: snapshot');
    expect(answered(await api.GET('/dashboard', { parseAs: 'text' }), 200)).toContain('/dashboard/assets/dashboard.js');
    answered(await api.GET('/dashboard/assets/{file}', { params: { path: { file: 'dashboard.js' } }, parseAs: 'text' }), 200);
    const kind = { path: { kind: 'migrations' as const } };
    answered(await api.POST('/api/ops/work/{kind}/pause', { params: kind, body: { reason: 'typed client' } }), 200);
    answered(await api.POST('/api/ops/work/{kind}/resume', { params: kind }), 200);
  });

  it('answers the public health routes (no telemetry in this app: /health/metrics is its documented 404)', async () => {
    answered(await api.GET('/health'), 200);
    answered(await api.GET('/health/ready'), 200);
    answered(await api.GET('/health/metrics'), 404);
  });

  it('called every registered route, and every status answered is one the document lists for it', () => {
    const registered = app.registeredRoutes
      .filter((r) => r.method !== 'HEAD' && !r.url.startsWith('/docs'))
      .map((r) => `${r.method} ${r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
    const called = new Set(answers.map((a) => a.key));
    expect(
      registered.filter((k) => !called.has(k)),
      'registered routes the typed client does not call',
    ).toEqual([]);
    const undocumented = answers.filter(({ key, status }) => {
      const [method, path] = key.split(' ') as [string, string];
      const responses = (doc.paths[path]?.[method.toLowerCase()] as { responses?: Record<string, unknown> } | undefined)?.responses;
      return !responses || !(String(status) in responses);
    });
    expect(undocumented, 'answers whose status the OpenAPI document does not list').toEqual([]);
  });
});
