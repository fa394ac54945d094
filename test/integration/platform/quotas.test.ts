import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Db } from 'mongodb';
import { defineMigration } from '../../../activities/migrations/registry';
import { createReconcileStore } from '../../../activities/reconcile/store';
import { createSyncStore } from '../../../activities/tenant-sync/store';
import { createLogger } from '../../../infra/logger';
import { createRedis } from '../../../infra/redis';
import { freePort } from '../../../infra/dev/servers';
import { WorkflowIds } from '../../../shared/constants';
import { createQuotaService } from '../../../api/services/quotas/quotas';
import { registerMongoTenant } from '../../helpers/api';
import { mutableRegistry } from '../../helpers/migrations';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Quotas where work starts (issue: no noisy tenant), on the real stack, across two API apps
// sharing one Redis: each refusal is a 429 problem naming the quota, its limit and Retry-After,
// and nothing is written or started by it. Reconciles run on a task queue no worker polls, so
// they stay running (holding their slots) until cancelled.

type Headers = Record<string, string>;

const registry = mutableRegistry();
registry.add(
  defineMigration({
    name: `${uniqueId('m')}-quota`,
    description: 'no-op',
    collections: [],
    up: async () => undefined,
    verify: async () => ({ ok: true, message: 'nothing to check' }),
  }),
);

describe('start quotas', () => {
  const idleQueue = uniqueId('quota-idle');
  const stack = useStack({});
  let one: FastifyInstance;
  let two: FastifyInstance;
  let data: Db;
  let root: Headers;

  const setup = async (overrides: Record<string, unknown> = {}) => {
    if (!one) {
      const config = { TEMPORAL_TASK_QUEUE: idleQueue, QUOTA_RECONCILE_CONCURRENT: 3, QUOTA_MIGRATIONS_CONCURRENT: 1, ...overrides };
      [one, two] = [await stack.buildApp(config, { migrations: registry }), await stack.buildApp(config, { migrations: registry })];
      data = stack.deps.mongo.client.db(uniqueId('quota').replace(/-/g, '_'));
      await data.collection('users').insertOne({ _id: 'u1' as never, n: 1, updatedAt: new Date() });
      root = await stack.bearer(['admin'], '*');
    }
  };
  const register = async (quotas: Record<string, number>) => {
    await setup();
    const tenantId = uniqueId('q');
    const view = await registerMongoTenant(one, stack.deps, { tenantId, database: data.databaseName, extra: { quotas } });
    expect(view.quotas).toEqual(quotas);
    return tenantId;
  };
  const expectQuota = (res: LightMyRequestResponse, quota: string, limit: number, maxRetryAfter: number) => {
    expect(res.statusCode, res.body).toBe(429);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const body = res.json();
    expect(body).toMatchObject({ type: 'urn:sync-orchestrator:problem:quota-exceeded', quota, limit });
    const retryAfter = Number(res.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(maxRetryAfter);
    expect(body.retryAfter).toBe(retryAfter);
    return body as Record<string, unknown>;
  };
  const startReconcile = async (app: FastifyInstance, tenantId: string, batchId = uniqueId('qb')) =>
    app.inject({
      method: 'POST',
      url: '/api/reconcile',
      headers: { ...(await stack.bearer(['reconcile:write'], [tenantId])), 'idempotency-key': uniqueId('k') },
      payload: { batchId, source: { kind: 'tenant', tenantId, collection: 'users' }, options: { dryRun: true } },
    });
  const workflowExists = async (batchId: string) => {
    try {
      await stack.deps.temporal.client.workflow.getHandle(WorkflowIds.reconcile(batchId)).describe();
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  };
  const cancel = async (tenantId: string, batchId: string) => {
    const res = await one.inject({
      method: 'POST',
      url: `/api/reconcile/${batchId}/cancel`,
      headers: { ...(await stack.bearer(['reconcile:write'], [tenantId])), 'idempotency-key': uniqueId('k') },
    });
    expect(res.statusCode, res.body).toBeLessThan(300);
    // Cancellation of a run no worker polls is recorded at once; terminate so the slot is free for sure.
    await stack.deps.temporal.client.workflow
      .getHandle(WorkflowIds.reconcile(batchId))
      .terminate('test: free the slot')
      .catch(() => undefined);
  };

  it('ensure calls per minute: shared by two API apps; the refused call starts no sync; other tenants pass', async () => {
    const tenantId = await register({ ensurePerMinute: 2 });
    const other = await register({});
    // The window is a clock minute: do not straddle its end.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 15_000) await new Promise((r) => setTimeout(r, left + 100));
    const headers = await stack.bearer(['sync:write'], [tenantId, other]);
    const ensure = (app: FastifyInstance, id: string) => app.inject({ method: 'POST', url: `/api/sync/tenants/${id}/ensure`, headers });
    expect((await ensure(one, tenantId)).statusCode).toBe(200);
    expect((await ensure(two, tenantId)).statusCode).toBe(200);
    const runs = createSyncStore(stack.deps.mongo.db);
    const before = await runs.getStatus(tenantId);
    const refused = expectQuota(await ensure(two, tenantId), 'ensure_per_minute', 2, 60);
    expect(refused.tenantId).toBe(tenantId);
    expect(await runs.getStatus(tenantId)).toEqual(before);
    expect((await ensure(one, other)).statusCode).toBe(200);
  });

  it('concurrent reconcile batches per tenant: the second is refused and writes nothing; a repeat of the first passes; freed on close', async () => {
    const tenantId = await register({ reconcileConcurrentBatches: 1 });
    const first = uniqueId('qb');
    expect((await startReconcile(one, tenantId, first)).statusCode).toBe(202);
    const second = uniqueId('qb');
    expectQuota(await startReconcile(two, tenantId, second), 'reconcile_concurrent_batches', 1, 60);
    expect(await createReconcileStore(stack.deps.mongo.db).getBatch(second)).toBeNull();
    expect(await workflowExists(second)).toBe(false);
    // The same request again (same batch, same spec) is the same work, not more of it.
    const repeat = await startReconcile(two, tenantId, first);
    expect(repeat.statusCode, repeat.body).toBe(202);
    expect(repeat.json().created).toBe(false);
    await cancel(tenantId, first);
    expect((await startReconcile(two, tenantId, second)).statusCode).toBe(202);
    await cancel(tenantId, second);
  });

  it('reconcile starts per hour: the refused start spends nothing and names when to retry', async () => {
    const tenantId = await register({ reconcileStartsPerHour: 1, reconcileConcurrentBatches: 5 });
    const first = uniqueId('qb');
    expect((await startReconcile(one, tenantId, first)).statusCode).toBe(202);
    const second = uniqueId('qb');
    expectQuota(await startReconcile(two, tenantId, second), 'reconcile_starts_per_hour', 1, 3_600);
    expect(await workflowExists(second)).toBe(false);
    await cancel(tenantId, first);
  });

  it('the global cap on running reconciles counts every tenant', async () => {
    const tenants = [await register({}), await register({}), await register({}), await register({})];
    const started: Array<[string, string]> = [];
    for (const t of tenants.slice(0, 3)) {
      const batchId = uniqueId('qb');
      expect((await startReconcile(started.length % 2 ? one : two, t, batchId)).statusCode).toBe(202);
      started.push([t, batchId]);
    }
    const refused = expectQuota(await startReconcile(one, tenants[3]!), 'reconcile_concurrent', 3, 60);
    expect(refused.global).toBe(true);
    for (const [t, b] of started) await cancel(t, b);
    expect((await startReconcile(two, tenants[3]!)).statusCode).toBe(202);
  });

  it('the global cap on migration runs: a second dry run is refused while one runs', async () => {
    await setup();
    const run = (app: FastifyInstance) =>
      app.inject({
        method: 'POST',
        url: '/api/migrations/run',
        headers: { ...root, 'idempotency-key': uniqueId('mk') },
        payload: { dryRun: true },
      });
    const first = await run(one);
    expect(first.statusCode, first.body).toBe(202);
    expectQuota(await run(two), 'migrations_concurrent', 1, 60);
    await stack.deps.temporal.client.workflow.getHandle(first.json().workflowId as string).terminate('test: free the slot');
    const third = await run(two);
    expect(third.statusCode, third.body).toBe(202);
    await stack.deps.temporal.client.workflow.getHandle(third.json().workflowId as string).terminate('test: done');
  });

  it('Redis away: quotas admit the work (logged once), within a bounded wait', async () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) });
    const log = createLogger({ name: 'quota-test', level: 'warn', destination });
    const redis = createRedis({ ...stack.deps.config, REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, log, 'quota-test');
    try {
      const q = createQuotaService({
        redis,
        scope: 'down',
        log,
        settings: {
          tenant: { ensurePerMinute: 0, reconcileConcurrentBatches: 0, reconcileStartsPerHour: 0 },
          global: { reconcileConcurrent: 0, migrationsConcurrent: 0 },
        },
      });
      const t0 = performance.now();
      await q.takeEnsure('t', undefined);
      await q.takeEnsure('t', undefined);
      expect(performance.now() - t0).toBeLessThan(2_000);
      expect(lines.filter((l) => l.includes('quota store unavailable'))).toHaveLength(1);
    } finally {
      redis.disconnect();
    }
  });
});
