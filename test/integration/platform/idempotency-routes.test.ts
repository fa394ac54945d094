import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Db } from 'mongodb';
import { driftOf, generatePair } from '../../../fixtures/reconcile-data';
import { startFixtureUpstream, type FixtureUpstream } from '../../../fixtures/upstream/server';
import { freePort } from '../../../infra/dev/servers';
import { Collections } from '../../../infra/mongo';
import { createRedis, type Redis } from '../../../infra/redis';
import { MigrationNames } from '../../../shared/migrations';
import { mutableRegistry } from '../../helpers/migrations';
import { queuesClause, stackInfo, uniqueId } from '../../helpers/stack';
import { useStack, type Stack } from '../../helpers/use-stack';

// What the README promises of Idempotency-Key records beyond ordering: scoped by route, 5xx
// answers not stored, and the two routes that require a key — 503 when Redis is down, and a
// reconcile batch named by the key, so a lost record cannot start a second batch.

describe('Idempotency-Key: route scope, 5xx, required keys', () => {
  let upstream: FixtureUpstream;
  let admin: Record<string, string>;
  const registry = mutableRegistry();
  const redises: Redis[] = [];
  afterAll(() => redises.forEach((r) => r.disconnect())); // after the stack's apps closed (hooks run in reverse)
  const stack = useStack({ worker: { settings: { tenantSync: { pageSize: 500 }, migrations: { registry } } } });
  const app = (extra: Parameters<Stack['buildApp']>[1] = {}) =>
    stack.buildApp({ USE_TEMPORAL_FOR_AUTH: false, SYNC_FRESHNESS_MS: 0 }, { migrations: registry, ...extra });
  const redisAt = (url: string) => {
    const r = createRedis({ REDIS_URL: url });
    redises.push(r);
    return r;
  };
  /** Workflow IDs of one type on this file's task queue (visibility). */
  const workflowsOf = async (type: string) => {
    const ids: string[] = [];
    const query = `${queuesClause(stack.deps.config.TEMPORAL_TASK_QUEUE)} AND WorkflowType = '${type}'`;
    for await (const wf of stack.deps.temporal.client.workflow.list({ query })) ids.push(wf.workflowId);
    return ids.sort();
  };

  beforeAll(async () => {
    upstream = await startFixtureUpstream();
    admin = await stack.bearer(['admin']);
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it('is scoped by route: one key on two routes runs both; on one route with other params → 422', async () => {
    const a = await app();
    const [t1, t2] = [uniqueId('rs1'), uniqueId('rs2')];
    for (const t of [t1, t2]) upstream.seedTenant(t, { collections: { users: 3 }, token: `tok-${t}` });
    const headers = { ...admin, 'idempotency-key': uniqueId('same-key') };
    const register = (t: string) =>
      a.inject({
        method: 'POST',
        url: '/api/tenants',
        headers,
        payload: {
          tenantId: t,
          name: t,
          source: { kind: 'http', settings: { baseUrl: upstream.baseUrl(t), token: `tok-${t}` } },
          collections: [{ name: 'users', essential: true }],
        },
      });
    const reg = await register(t1);
    expect(reg.statusCode, reg.body).toBe(201);
    // The same key on another route is another record: it runs, and is no replay of the first.
    const ensure = await a.inject({ method: 'POST', url: `/api/sync/tenants/${t1}/ensure`, headers });
    expect(ensure.statusCode, ensure.body).toBe(200);
    expect(ensure.headers['idempotent-replayed']).toBeUndefined();
    expect(ensure.json()).toMatchObject({ tenantId: t1, essentialReady: true });
    expect((await a.inject({ method: 'POST', url: `/api/sync/tenants/${t1}/ensure`, headers })).headers['idempotent-replayed']).toBe(
      'true',
    );
    // The route is its pattern: another tenant in the path is another request under the same record.
    expect((await register(t2)).statusCode).toBe(422);
    expect((await a.inject({ method: 'POST', url: `/api/sync/tenants/${t2}/ensure`, headers })).statusCode).toBe(422);
  });

  it('a 5xx answer is not stored: the same key runs again once the dependency is back', async () => {
    const headers = { ...admin, 'idempotency-key': uniqueId('mk-5xx') };
    const post = (a: FastifyInstance) => a.inject({ method: 'POST', url: '/api/migrations/run', headers, payload: { dryRun: true } });
    // An API process without Temporal answers 503 (migrations run as workflows) …
    const failed = await post(await app({ temporal: undefined }));
    expect(failed.statusCode, failed.body).toBe(503);
    // … and one with Temporal, sharing the Redis, runs the very same request.
    const a = await app();
    const ran = await post(a);
    expect(ran.statusCode, ran.body).toBe(202);
    expect(ran.headers['idempotent-replayed']).toBeUndefined();
    const again = await post(a);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(ran.body);
    expect(await stack.deps.temporal.client.workflow.getHandle(ran.json().workflowId).result()).toMatchObject({
      dryRun: true,
      results: [],
    });
  });

  it('POST /api/migrations/run requires a key (400) and, with Redis down, answers 503 and starts nothing', async () => {
    const before = await workflowsOf(MigrationNames.runWorkflow);
    const noKey = await (await app()).inject({ method: 'POST', url: '/api/migrations/run', headers: admin, payload: { dryRun: true } });
    expect(noKey.statusCode).toBe(400);
    expect(noKey.json().detail).toMatch(/Idempotency-Key header is required/);
    const down = await (
      await app({ redis: redisAt(`redis://127.0.0.1:${await freePort()}`) })
    ).inject({
      method: 'POST',
      url: '/api/migrations/run',
      headers: { ...admin, 'idempotency-key': uniqueId('mk-down') },
      payload: { dryRun: true },
    });
    expect(down.statusCode, down.body).toBe(503);
    expect(down.headers['content-type']).toContain('application/problem+json');
    expect(await workflowsOf(MigrationNames.runWorkflow)).toEqual(before);
  });

  it('a lost Redis record cannot start a second reconcile batch: the batch ID derives from the key', async () => {
    const data: Db = stack.deps.mongo.client.db(uniqueId('idrc').replace(/-/g, '_'));
    try {
      await generatePair(data, { source: 'src', target: 'tgt' }, 50, driftOf(50, 0.1));
      const body = {
        source: { kind: 'namespace', db: data.databaseName, collection: 'src' },
        target: { db: data.databaseName, collection: 'tgt' },
        options: { dryRun: true },
      };
      const headers = { ...admin, 'idempotency-key': uniqueId('rk-lost') };
      const first = await (await app()).inject({ method: 'POST', url: '/api/reconcile', headers, payload: body });
      expect(first.statusCode, first.body).toBe(202);
      expect(first.json()).toMatchObject({ created: true });
      const { batchId, workflowId } = first.json() as { batchId: string; workflowId: string };
      // The same request through a Redis that has lost every record (another logical database).
      const forgetful = await app({ redis: redisAt(`${stackInfo().redisUrl.replace(/\/\d*$/, '')}/7`) });
      const second = await forgetful.inject({ method: 'POST', url: '/api/reconcile', headers, payload: body });
      expect(second.statusCode, second.body).toBe(202);
      expect(second.headers['idempotent-replayed']).toBeUndefined();
      expect(second.json()).toMatchObject({ batchId, workflowId, created: false });
      expect(await stack.deps.mongo.db.collection(Collections.reconcileBatches).countDocuments({ _id: batchId } as never)).toBe(1);
      await stack.deps.temporal.client.workflow.getHandle(workflowId).result();
      const runs: string[] = [];
      for await (const wf of stack.deps.temporal.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(wf.runId);
      expect(runs).toHaveLength(1);
    } finally {
      await data.dropDatabase().catch(() => undefined);
    }
  });
});
