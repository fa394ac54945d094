import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createCache, type AppCache } from '../../../infra/cache/cache';
import { createLogger } from '../../../infra/logger';
import { WorkflowIds } from '../../../shared/constants';
import { registerMongoTenant } from '../../helpers/api';
import { startTestWorker, uniqueId, type TestWorker } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// The worker reads a login's tenant through its own cache (infra/cache, as workers/worker.ts
// builds it): a login's collection syncs and the logins after it read the registry from the
// cache, and a tenant changed through the API reaches the worker's cache at once over the bus —
// the next login through Temporal syncs from the new source, not from a cached old one.

describe("the worker's tenant cache", () => {
  const stack = useStack({});
  let cache: AppCache;
  let worker: TestWorker;
  let app: FastifyInstance;

  beforeAll(async () => {
    const d = stack.deps;
    cache = createCache({
      redis: d.redis,
      scope: d.mongo.db.databaseName,
      enabled: true,
      ttlMs: { tenants: 60_000, 'sync-status': 10_000 },
      log: createLogger({ name: 'worker-cache-test', level: 'silent' }),
    });
    worker = await startTestWorker({ ...d, cache });
    app = await stack.buildApp({ USE_TEMPORAL_FOR_AUTH: true, SYNC_FRESHNESS_MS: 0, TEMPORAL_AUTH_TIMEOUT_MS: 20_000, LOGIN_HEDGE: false });
  });
  afterAll(async () => {
    await worker?.stop();
    await cache?.close();
  });

  const login = async (tenantId: string) => {
    const res = await app.inject({
      method: 'POST',
      url: `/api/sync/tenants/${tenantId}/ensure`,
      headers: await stack.bearer(['sync:write'], [tenantId]),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ syncMethod: 'temporal', essentialReady: true });
    // Its run to the end (the rest too), so the next login starts a sync of its own instead of joining this one.
    await stack.deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId)).result();
  };
  const seed = async (prefix: string) => {
    const db = stack.deps.mongo.client.db(uniqueId(`wc-${prefix}`).replace(/-/g, '_'));
    await db
      .collection('users')
      .insertMany(Array.from({ length: 5 }, (_, i) => ({ _id: `${prefix}-${i}` as never, n: i, updatedAt: new Date() })));
    return db.databaseName;
  };
  const targetIds = async (tenantId: string) =>
    (
      await stack.deps.mongo
        .tenantDb(tenantId)
        .collection('users')
        .find({}, { projection: { _id: 1 } })
        .toArray()
    )
      .map((d) => String(d._id))
      .sort();

  it('reads the tenant once for many logins, and a change through the API reaches it at once', async () => {
    const tenantId = uniqueId('wcache');
    await registerMongoTenant(app, stack.deps, { tenantId, database: await seed('a'), collections: ['users', 'orders'] });
    await login(tenantId);
    expect(await targetIds(tenantId)).toEqual(['a-0', 'a-1', 'a-2', 'a-3', 'a-4']);
    const after1 = cache.stats().namespaces.tenants;
    await login(tenantId);
    await login(tenantId);
    const after3 = cache.stats().namespaces.tenants;
    // The later logins' collection syncs were answered by the worker's cache.
    expect(after3.hits - after1.hits, JSON.stringify({ after1, after3 })).toBeGreaterThanOrEqual(4);
    expect(after3.misses).toBe(after1.misses);

    // The tenant now reads another database: the worker must see it on the next login.
    await registerMongoTenant(app, stack.deps, { tenantId, database: await seed('b'), collections: ['users', 'orders'], existing: true });
    await expect
      .poll(
        async () => {
          await login(tenantId);
          return (await targetIds(tenantId)).filter((id) => id.startsWith('b-'));
        },
        { timeout: 5_000, interval: 100 },
      )
      .toEqual(['b-0', 'b-1', 'b-2', 'b-3', 'b-4']);
  });
});
