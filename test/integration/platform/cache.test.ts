import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Db } from 'mongodb';
import { freePort } from '../../../infra/dev/servers';
import { MetricNames } from '../../../infra/metrics';
import { createRedis, type Redis } from '../../../infra/redis';
import { startTelemetry, type Telemetry } from '../../../infra/telemetry';
import { WorkflowIds } from '../../../shared/constants';
import { CLEAR_BATCH, clearRemote, createRemoteInvalidator, l2Key } from '../../../infra/cache-bus';
import { createLogger } from '../../../infra/logger';
import { registerMongoTenant } from '../../helpers/api';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// The login path's cache (infra/cache): invalidation across two API apps over one Redis,
// a finished sync (direct in another app, or the worker's workflow) seen at once by the next
// login's freshness check, hit and miss counters (GET /api/cache/stats and /health/metrics), and
// an app whose cache Redis is a dead port answering every request correctly from MongoDB.

interface Ensure {
  tenantId: string;
  correlationId: string;
  syncMethod: string;
  fresh: boolean;
  essentialReady: boolean;
  collections: Array<{ name: string; essential: boolean }>;
}
interface NsStats {
  hits: number;
  misses: number;
  bypassed: number;
  invalidations: number;
}
interface Stats {
  enabled: boolean;
  redis: string;
  namespaces: Record<'tenants' | 'sync-status', NsStats>;
}

describe('login-path cache', () => {
  const stack = useStack({ worker: true });
  let telemetry: Telemetry;
  let data: Db;
  let syncer: Record<string, string>;
  let ops: Record<string, string>;
  let deadRedis: Redis;

  beforeAll(async () => {
    // Instruments are made when an app is built: telemetry first, as api/server.ts does.
    telemetry = await startTelemetry({ serviceName: 'test-cache' });
    data = stack.deps.mongo.client.db(uniqueId('cache').replace(/-/g, '_'));
    await data.collection('users').insertMany([
      { _id: 'u1' as never, n: 1, updatedAt: new Date() },
      { _id: 'u2' as never, n: 2, updatedAt: new Date() },
    ]);
    await data.collection('roles').insertOne({ _id: 'r1' as never, n: 1, updatedAt: new Date() });
    syncer = await stack.bearer(['sync:write', 'sync:read']);
    ops = await stack.bearer(['ops:read']);
    deadRedis = createRedis({ ...stack.deps.config, REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, undefined, 'dead');
  });
  afterAll(async () => {
    deadRedis?.disconnect();
    await telemetry?.shutdown();
  });

  const register = (app: FastifyInstance, tenantId: string, collections: Array<string | { name: string; essential: boolean }>) =>
    registerMongoTenant(app, stack.deps, { tenantId, database: data.databaseName, collections });
  /** Re-registers an existing tenant (200) with these collections. */
  const update = (app: FastifyInstance, tenantId: string, collections: Array<{ name: string; essential: boolean }>) =>
    registerMongoTenant(app, stack.deps, { tenantId, database: data.databaseName, collections, existing: true });
  const ensure = async (app: FastifyInstance, tenantId: string): Promise<Ensure> => {
    const res = await app.inject({ method: 'POST', url: `/api/sync/tenants/${tenantId}/ensure`, headers: syncer });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<Ensure>();
  };
  const stats = async (app: FastifyInstance): Promise<Stats> => {
    const res = await app.inject({ method: 'GET', url: '/api/cache/stats', headers: ops });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<Stats>();
  };
  const direct = { USE_TEMPORAL_FOR_AUTH: false, SYNC_FRESHNESS_MS: 0 };

  it('a tenant registered through one app is read through another at once', async () => {
    const [one, two] = [await stack.buildApp(direct), await stack.buildApp(direct)];
    const tenantId = uniqueId('c-inv');
    await register(one, tenantId, ['users']);
    expect((await ensure(two, tenantId)).collections.map((c) => c.name)).toEqual(['users']);
    // Cached in two now (and in Redis): a second login reads no tenant from MongoDB.
    const before = (await stats(two)).namespaces.tenants;
    await ensure(two, tenantId);
    const after = (await stats(two)).namespaces.tenants;
    expect(after.misses).toBe(before.misses);
    expect(after.hits).toBeGreaterThan(before.hits);
    expect(await stack.deps.redis.exists(l2Key(stack.deps.mongo.db.databaseName, 'tenants', tenantId))).toBe(1);

    // The change goes through one; two answers from the new entry on its very next login.
    await update(one, tenantId, [
      { name: 'users', essential: true },
      { name: 'roles', essential: false },
    ]);
    const changed = await ensure(two, tenantId);
    expect(changed.collections.map((c) => c.name)).toEqual(['users', 'roles']);
    expect((await stats(one)).namespaces.tenants.invalidations).toBeGreaterThanOrEqual(2);
  });

  it('a write outside the API (a migration, a restore, a rotation) clears the namespace in every app at once', async () => {
    const [one, two] = [await stack.buildApp(direct), await stack.buildApp(direct)];
    const tenants = [uniqueId('c-clr'), uniqueId('c-clr')];
    for (const t of tenants) await register(one, t, ['users']);
    for (const t of tenants) for (const app of [one, two]) await ensure(app, t); // cached in both apps and in Redis
    const scope = stack.deps.mongo.db.databaseName;
    const statusKey = l2Key(scope, 'sync-status', uniqueId('c-nobody')); // no login invalidates it
    await stack.deps.redis.set(statusKey, 'kept'); // another namespace's entry, which a clear must leave
    // What a migration does: rewrite the registry documents behind the cache's back.
    await stack.deps.mongo.db
      .collection('tenants')
      .updateMany({ _id: { $in: tenants } as never }, { $push: { collections: { name: 'roles', essential: false } } as never });
    expect((await ensure(two, tenants[0]!)).collections.map((c) => c.name)).toEqual(['users']); // still the cached copy
    const invalidator = createRemoteInvalidator(stack.deps.redis, scope, createLogger({ name: 't', level: 'silent' }));
    await invalidator.clear('tenants');
    for (const t of tenants) expect(await stack.deps.redis.exists(l2Key(scope, 'tenants', t))).toBe(0);
    expect(await stack.deps.redis.get(statusKey)).toBe('kept');
    // Every app empties its in-process copy on the bus message: the next login reads the new registry.
    await expect
      .poll(async () => (await ensure(one, tenants[1]!)).collections.map((c) => c.name), { timeout: 2_000 })
      .toEqual(['users', 'roles']);
    await expect
      .poll(async () => (await ensure(two, tenants[0]!)).collections.map((c) => c.name), { timeout: 2_000 })
      .toEqual(['users', 'roles']);
    await stack.deps.redis.unlink(statusKey);
  });

  it('clears a namespace of more keys than one SCAN batch, and nothing else', async () => {
    const scope = `clr_${uniqueId('s').replace(/-/g, '_')}`;
    const keys = Array.from({ length: CLEAR_BATCH * 2 + 7 }, (_, i) => l2Key(scope, 'tenants', `t${i}`));
    for (const k of keys) await stack.deps.redis.set(k, '1', 'EX', 120);
    await stack.deps.redis.set(l2Key(scope, 'sync-status', 't0'), '1', 'EX', 120);
    expect(await clearRemote(stack.deps.redis, scope, 'tenants')).toBe(keys.length);
    expect(await stack.deps.redis.exists(...keys)).toBe(0);
    expect(await stack.deps.redis.exists(l2Key(scope, 'sync-status', 't0'))).toBe(1);
  });

  it('counts a first read as a miss and repeat reads as hits, in the stats and in the metrics', async () => {
    const app = await stack.buildApp(direct, { telemetry });
    const tenantId = uniqueId('c-hits');
    await register(app, tenantId, ['users']);
    const s0 = (await stats(app)).namespaces.tenants;
    await ensure(app, tenantId);
    const s1 = (await stats(app)).namespaces.tenants;
    // The login's read misses; the direct sync's own read of the tenant (one collection) hits.
    expect(s1.misses - s0.misses).toBe(1);
    expect(s1.hits - s0.hits).toBe(1);
    await ensure(app, tenantId);
    const s2 = (await stats(app)).namespaces.tenants;
    expect(s2.misses - s1.misses).toBe(0);
    expect(s2.hits - s1.hits).toBe(2);
    expect(s2.bypassed).toBe(s0.bypassed);

    const scrape = await app.inject({ method: 'GET', url: '/health/metrics' });
    expect(scrape.statusCode).toBe(200);
    const line = (name: string, labels: string) => scrape.body.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    expect(line(MetricNames.cacheHits, 'namespace="tenants"')).toBeDefined();
    expect(line(MetricNames.cacheMisses, 'namespace="tenants"')).toContain('reason="absent"');
    expect(Number(line(MetricNames.cacheHits, 'namespace="tenants"')!.split(' ').pop())).toBeGreaterThanOrEqual(3);
  });

  it('a sync that finished in another app is seen at once by the next freshness check', async () => {
    const fresh = { USE_TEMPORAL_FOR_AUTH: false, SYNC_FRESHNESS_MS: 3_600_000 };
    const [reader, syncerApp] = [await stack.buildApp(fresh), await stack.buildApp(direct)];
    const tenantId = uniqueId('c-fresh');
    await register(reader, tenantId, ['users']);
    // First login syncs; the second answers from the status it now caches.
    const first = await ensure(reader, tenantId);
    expect(first.fresh).toBe(false);
    const second = await ensure(reader, tenantId);
    expect(second).toMatchObject({ fresh: true, correlationId: first.correlationId });
    expect((await ensure(reader, tenantId)).correlationId).toBe(first.correlationId);
    expect((await stats(reader)).namespaces['sync-status'].hits).toBeGreaterThanOrEqual(1);

    // Another process syncs (freshness 0 forces it): reader's very next login answers from that run.
    const other = await ensure(syncerApp, tenantId);
    expect(other.correlationId).not.toBe(first.correlationId);
    expect(await ensure(reader, tenantId)).toMatchObject({ fresh: true, correlationId: other.correlationId });
  });

  it("a workflow's finishing activity (on the worker) invalidates the status for every app", async () => {
    const reader = await stack.buildApp({ USE_TEMPORAL_FOR_AUTH: false, SYNC_FRESHNESS_MS: 3_600_000 });
    const viaTemporal = await stack.buildApp({ USE_TEMPORAL_FOR_AUTH: true, SYNC_FRESHNESS_MS: 0, TEMPORAL_AUTH_TIMEOUT_MS: 20_000 });
    const tenantId = uniqueId('c-wf');
    await register(reader, tenantId, ['users']);
    const first = await ensure(reader, tenantId);
    expect((await ensure(reader, tenantId)).correlationId).toBe(first.correlationId); // cached now

    const run = await ensure(viaTemporal, tenantId);
    expect(run.syncMethod).toBe('temporal');
    await stack.deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId)).result();
    expect(await ensure(reader, tenantId)).toMatchObject({ fresh: true, correlationId: run.correlationId });
  });

  it('with its cache Redis down, an app answers every request correctly from MongoDB', async () => {
    const app = await stack.buildApp(direct, { cacheRedis: deadRedis });
    const healthy = await stack.buildApp(direct);
    const tenantId = uniqueId('c-down');
    const t0 = performance.now();
    await register(app, tenantId, ['users']);
    for (let i = 0; i < 5; i++) {
      const r = await ensure(app, tenantId);
      expect(r).toMatchObject({ tenantId, essentialReady: true });
      expect(r.collections.map((c) => c.name)).toEqual(['users']);
    }
    // A change through the app without Redis is read at once by itself and, from MongoDB, by a healthy app.
    await update(app, tenantId, [
      { name: 'users', essential: true },
      { name: 'roles', essential: false },
    ]);
    expect((await ensure(app, tenantId)).collections.map((c) => c.name)).toEqual(['users', 'roles']);
    expect((await ensure(healthy, tenantId)).collections.map((c) => c.name)).toEqual(['users', 'roles']);
    // No request waited on the lost Redis (ioredis alone would retry for seconds per command).
    expect(performance.now() - t0).toBeLessThan(10_000);
    const s = await stats(app);
    expect(s).toMatchObject({ enabled: true, redis: 'down' });
    expect(s.namespaces.tenants.hits).toBe(0);
    expect(s.namespaces.tenants.bypassed).toBeGreaterThanOrEqual(6);
  });

  it('CACHE_ENABLED=false reads straight from MongoDB', async () => {
    const app = await stack.buildApp({ ...direct, CACHE_ENABLED: false });
    const tenantId = uniqueId('c-off');
    await register(app, tenantId, ['users']);
    await ensure(app, tenantId);
    const s = await stats(app);
    expect(s).toMatchObject({ enabled: false, redis: 'off' });
    expect(s.namespaces.tenants).toMatchObject({ hits: 0, misses: 0 });
    expect(s.namespaces.tenants.bypassed).toBeGreaterThanOrEqual(2);
  });
});
