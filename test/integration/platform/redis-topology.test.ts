import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis as IORedis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import { createStackProbeActivities } from '../../../activities/probe/activities';
import { createCache, type AppCache } from '../../../infra/cache/cache';
import { ClusterSafeRedisDriver } from '../../../infra/cache/redis-driver';
import { createQuotaService, QuotaExceededError, quotaKeys } from '../../../api/services/quotas/quotas';
import { clearRemote, invalidateRemote, l2Key } from '../../../infra/cache-bus';
import { createLogger } from '../../../infra/logger';
import { keyHolders, type Redis } from '../../../infra/redis';
import { QuotaIds } from '../../../shared/quotas';
import { registerMongoTenant } from '../../helpers/api';
import {
  sentinelFailover,
  sentinelMaster,
  startRedisCluster,
  startRedisSentinel,
  type RedisTopologyHandle,
} from '../../helpers/redis-topology';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// The platform's Redis use on a real Redis Cluster (3 masters) and a real Sentinel set (master,
// replica, one sentinel), each started here on loopback and free ports — never the shared
// stack's Redis. The same code paths as in production, with assertions that fail when Redis
// refuses a command (most of them swallow Redis errors by design: rate limits pass, quotas admit,
// the cache bypasses): rate limits, Idempotency-Key claim and replay, the direct-sync lock, quota
// slots and counters, the cache across two processes (bus, L2, clears on every master), the stack
// probe; and on Sentinel, a failover the clients follow.

const DAY_MS = 86_400_000;

/** Warnings and errors the file's clients log (the app's, the cache's, the quota store's). */
function capturedLog() {
  const lines: string[] = [];
  const destination = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) });
  return { lines, log: createLogger({ name: 'redis-topology', level: 'warn', destination }) };
}

/** Keys matching `match` on each master (a cluster's keys live on the master owning their slot). */
async function keysPerMaster(redis: Redis, match: string): Promise<number[]> {
  const counts: number[] = [];
  for (const node of keyHolders(redis)) {
    let [cursor, n] = ['0', 0];
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 500);
      [cursor, n] = [next, n + keys.length];
    } while (cursor !== '0');
    counts.push(n);
  }
  return counts;
}

async function eventually<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await fn();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
    last = await fn();
  }
  return last;
}

/**
 * The errors a topology mistake shows as (a multi-slot command, a redirect not followed, a write
 * on a replica, no master). The fallbacks log the Redis error they took (quota store, cache,
 * idempotency, lock), so such a line means a code path gave up because of the topology. A timeout
 * on a loaded machine is not one of them.
 */
const REDIS_TROUBLE = /CROSSSLOT|MOVED|ASK |READONLY|CLUSTERDOWN|TRYAGAIN|no master known|Failed to refresh slots/;
/CROSSSLOT|MOVED|ASK |quota store unavailable|cache: Redis unavailable|idempotency store unavailable|redis lock unavailable/;

function topologySuite(
  name: 'cluster' | 'sentinel',
  start: () => Promise<RedisTopologyHandle>,
  env: (h: RedisTopologyHandle) => Record<string, string>,
) {
  describe(`Redis ${name}`, () => {
    let servers: RedisTopologyHandle | undefined;
    const { lines, log } = capturedLog();
    // Registered before the stack, so it runs after the stack's clients closed (afterAll runs in reverse).
    beforeAll(async () => {
      const t0 = Date.now();
      servers = await start();
      process.stdout.write(`[redis-topology] ${name}: servers ready in ${Date.now() - t0} ms (${servers.pids.length} processes)\n`);
    });
    afterAll(async () => {
      await servers?.stop();
    });
    const stack = useStack(() => ({ env: env(servers!), log }));
    let app: FastifyInstance;
    let dataDb: string;
    const cachesToClose: AppCache[] = [];
    afterAll(async () => {
      await Promise.all(cachesToClose.map((c) => c.close()));
    });

    beforeAll(async () => {
      app = await stack.buildApp({ USE_TEMPORAL_FOR_AUTH: false, SYNC_FRESHNESS_MS: 0 });
      dataDb = uniqueId('rt').replace(/-/g, '_');
      await stack.deps.mongo.client
        .db(dataDb)
        .collection('users')
        .insertMany([
          { _id: 'u1' as never, n: 1, updatedAt: new Date() },
          { _id: 'u2' as never, n: 2, updatedAt: new Date() },
        ]);
    });
    afterAll(async () => {
      await stack.deps.mongo.client
        .db(dataDb)
        .dropDatabase()
        .catch(() => undefined);
    });

    it('the clients are of the configured topology and /health/ready sees Redis', async () => {
      const redis = stack.deps.redis;
      if (name === 'cluster') {
        expect(redis).toBeInstanceOf(Cluster);
        await redis.ping();
        expect(
          keyHolders(redis)
            .map((n) => `${n.options.host}:${n.options.port}`)
            .sort(),
        ).toEqual([...servers!.nodes].sort());
      } else {
        expect(redis).toBeInstanceOf(IORedis);
        expect((redis as IORedis).options.sentinels).toHaveLength(1);
        expect(await redis.info('replication')).toContain('role:master');
      }
      const ready = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode, ready.body).toBe(200);
    });

    it('rate limits: the per-subject and per-tenant counters count and refuse', async () => {
      const limited = await stack.buildApp({ RATE_LIMIT_PER_SUBJECT: 3, RATE_LIMIT_PER_TENANT: 2, RATE_LIMIT_WINDOW_MS: DAY_MS });
      const h = await stack.bearer(['sync:read'], '*', uniqueId('rl-sub'));
      const codes: number[] = [];
      for (let i = 0; i < 4; i++)
        codes.push((await limited.inject({ method: 'GET', url: '/api/sync/method-stats', headers: h })).statusCode);
      expect(codes).toEqual([200, 200, 200, 429]);
      const tenant = uniqueId('rl-t');
      const perTenant: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = await stack.bearer(['sync:read'], [tenant], uniqueId('rl-s'));
        perTenant.push((await limited.inject({ method: 'GET', url: `/api/sync/tenants/${tenant}/status`, headers: t })).statusCode);
      }
      expect(perTenant).toEqual([200, 200, 429]);
    });

    it('Idempotency-Key: claimed, replayed, and a changed payload refused', async () => {
      const headers = { ...(await stack.bearer(['admin'], '*', uniqueId('idem'))), 'idempotency-key': uniqueId('k') };
      const tenantId = uniqueId('idem-t');
      const register = (name: string) =>
        app.inject({
          method: 'POST',
          url: '/api/tenants',
          headers,
          payload: {
            tenantId,
            name,
            source: { kind: 'mongodb', settings: { uri: stack.deps.config.MONGODB_URI, database: dataDb } },
            collections: [{ name: 'users', essential: true }],
          },
        });
      const first = await register(tenantId);
      expect(first.statusCode, first.body).toBe(201);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const replay = await register(tenantId);
      expect(replay.statusCode).toBe(201);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body).toBe(first.body);
      expect((await register('another name')).statusCode).toBe(422);
    });

    it('direct-sync logins run under the single-flight lock and read the tenant through the cache', async () => {
      const tenantId = uniqueId('login');
      await registerMongoTenant(app, stack.deps, { tenantId, database: dataDb });
      const syncer = await stack.bearer(['sync:write', 'sync:read'], '*', uniqueId('syncer'));
      const ensure = () => app.inject({ method: 'POST', url: `/api/sync/tenants/${tenantId}/ensure`, headers: syncer });
      const [a, b] = await Promise.all([ensure(), ensure()]);
      for (const r of [a, b]) {
        expect(r.statusCode, r.body).toBe(200);
        expect(r.json()).toMatchObject({ tenantId, essentialReady: true });
      }
      const target = stack.deps.mongo.client.db(`tenant_${tenantId}`).collection('users');
      expect(await target.countDocuments()).toBe(2);
      await target.db.dropDatabase();
      // The tenant entry is in the L2 (on whichever master owns its slot), and the next login hits it.
      expect(await stack.deps.redis.exists(l2Key(stack.deps.mongo.db.databaseName, 'tenants', tenantId))).toBe(1);
      const stats = async () =>
        (await app.inject({ method: 'GET', url: '/api/cache/stats', headers: await stack.bearer(['ops:read']) })).json<{
          redis: string;
          namespaces: { tenants: { hits: number } };
        }>();
      const before = await stats();
      expect(before.redis).toBe('up');
      expect((await ensure()).statusCode).toBe(200);
      expect((await stats()).namespaces.tenants.hits).toBeGreaterThan(before.namespaces.tenants.hits);
    });

    it('quotas: slot sets of a tenant and the platform admit and refuse together; window counters count', async () => {
      const scope = uniqueId('qscope');
      const at = Date.now();
      const q = createQuotaService({
        redis: stack.deps.redis,
        scope,
        log,
        now: () => at,
        settings: {
          tenant: { ensurePerMinute: 2, reconcileConcurrentBatches: 1, reconcileStartsPerHour: 10 },
          global: { reconcileConcurrent: 2, migrationsConcurrent: 1 },
        },
      });
      const running = async () => 'running' as const;
      const refused = async (p: Promise<unknown>) => {
        const err = await p.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(QuotaExceededError);
        return (err as QuotaExceededError).quota;
      };
      const a1 = await q.admitReconcile('w-a1', { tenantId: 'a' }, running);
      expect(await refused(q.admitReconcile('w-a2', { tenantId: 'a' }, running))).toBe(QuotaIds.reconcileConcurrentBatches);
      await q.admitReconcile('w-b1', { tenantId: 'b' }, running);
      expect(await refused(q.admitReconcile('w-c1', { tenantId: 'c' }, running))).toBe(QuotaIds.reconcileConcurrent);
      expect(await stack.deps.redis.zrange(quotaKeys.running(scope, 'reconcile'), '0', '-1')).toEqual(['w-a1', 'w-b1']);
      await a1.release();
      await q.admitReconcile('w-c1', { tenantId: 'c' }, running);
      expect(await stack.deps.redis.zcard(quotaKeys.running(scope, 'reconcile', 'c'))).toBe(1);

      await q.takeEnsure('a', undefined);
      await q.takeEnsure('a', undefined);
      expect(await refused(q.takeEnsure('a', undefined))).toBe(QuotaIds.ensurePerMinute);
      await q.admitMigrations('m1', running);
      expect(await refused(q.admitMigrations('m2', running))).toBe(QuotaIds.migrationsConcurrent);
    });

    it('cache: two processes share entries, an invalidation reaches the other, clears empty every master', async () => {
      const scope = uniqueId('cscope');
      const open = (): AppCache =>
        createCache({ redis: stack.deps.redis, scope, enabled: true, ttlMs: { tenants: 60_000, 'sync-status': 60_000 }, log });
      const [one, two] = [open(), open()];
      try {
        await eventually(
          'both caches up',
          async () => [one.stats().redis, two.stats().redis],
          (s) => s.every((r) => r === 'up'),
        );
        const [a, b] = [one.namespace('tenants'), two.namespace('tenants')];
        expect(await a.getOrSet('k', async () => 'v1')).toBe('v1');
        expect(await b.getOrSet('k', async () => 'not read')).toBe('v1'); // from the L2
        expect(two.stats().namespaces.tenants.hits).toBe(1);
        await a.invalidate('k');
        // The bus drops two's in-process copy: its next read loads.
        await eventually(
          'invalidation seen by the other process',
          () => b.getOrSet('k', async () => 'v2'),
          (v) => v === 'v2',
        );

        const keys = Array.from({ length: 60 }, (_, i) => `t${i}`);
        for (const k of keys) await a.getOrSet(k, async () => `value-${k}`);
        const spread = await keysPerMaster(stack.deps.redis, `${l2Key(scope, 'tenants', '')}*`);
        expect(spread.reduce((x, y) => x + y, 0)).toBe(61);
        if (name === 'cluster') expect(spread.filter((n) => n > 0).length).toBeGreaterThan(1);
        // A worker-side clear: SCAN + UNLINK on every master, then the clear message.
        expect(await clearRemote(stack.deps.redis, scope, 'tenants')).toBe(61);
        expect(await keysPerMaster(stack.deps.redis, `${l2Key(scope, 'tenants', '')}*`)).toEqual(spread.map(() => 0));
        await eventually(
          'the clear reached both in-process copies',
          async () => [await a.getOrSet('t0', async () => 'fresh'), await b.getOrSet('t1', async () => 'fresh')],
          (v) => v.every((x) => x === 'fresh'),
        );
        // A worker-side drop of one entry (the finishing activity's invalidateRemote).
        await invalidateRemote(stack.deps.redis, scope, 'tenants', 't0');
        await eventually(
          "the worker's drop reached the in-process copy",
          () => a.getOrSet('t0', async () => 'after-remote'),
          (v) => v === 'after-remote',
        );
        expect(lines.filter((l) => REDIS_TROUBLE.test(l)).map((l) => l.slice(0, 300))).toEqual([]);
      } finally {
        await Promise.all([one.close(), two.close()]);
      }
    });

    it("the cache's L2 driver clears a namespace on every master and deletes many keys of many slots", async () => {
      const prefix = `cache:${uniqueId('drv')}`;
      const driver = new ClusterSafeRedisDriver({ connection: stack.deps.redis, prefix }).namespace('ns');
      const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
      for (const k of keys) await driver.set(k, 'v', 60_000);
      expect(await driver.get('k7')).toBe('v');
      await driver.deleteMany(keys.slice(0, 10));
      expect(await driver.get('k3')).toBeUndefined();
      expect((await keysPerMaster(stack.deps.redis, `${prefix}:ns:*`)).reduce((x, y) => x + y, 0)).toBe(30);
      await driver.clear();
      expect(await keysPerMaster(stack.deps.redis, `${prefix}:*`)).toEqual(keyHolders(stack.deps.redis).map(() => 0));
    });

    it('the stack probe writes its Redis key', async () => {
      const probeId = uniqueId('probe');
      const res = await createStackProbeActivities(stack.deps).writeProbe(probeId);
      expect(res).toMatchObject({ probeId, mongoWritten: true, redisWritten: true });
      expect(await stack.deps.redis.get(`probe:${probeId}`)).toBe(res.at);
      expect(await stack.deps.redis.ttl(`probe:${probeId}`)).toBeGreaterThan(3_500);
    });

    it('no fallback took a topology error (CROSSSLOT, MOVED, READONLY…) from Redis', () => {
      expect(lines.filter((l) => REDIS_TROUBLE.test(l)).map((l) => l.slice(0, 300))).toEqual([]);
    });

    if (name === 'cluster') {
      it('control: the cluster refuses one command over keys of two slots (what the hash tags avoid)', async () => {
        const err = await stack.deps.redis.eval("return redis.call('GET', KEYS[1])", 2, 'quota:x:running:a', 'quota:x:running:b').then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(String(err)).toMatch(/CROSSSLOT/);
      });
    }

    if (name === 'sentinel') {
      it('after a failover the clients follow the new master: locks, idempotency and the cache bus keep working', async () => {
        const sentinel = servers!.sentinels[0]!;
        const before = await sentinelMaster(sentinel);
        expect(before).toBe(servers!.nodes[0]);
        // Two cache processes connected before the failover, each holding an entry in its L1.
        const scope = uniqueId('fo-cache');
        const open = (): AppCache =>
          createCache({ redis: stack.deps.redis, scope, enabled: true, ttlMs: { tenants: 60_000, 'sync-status': 60_000 }, log });
        const caches = [open(), open()];
        cachesToClose.push(...caches);
        await eventually(
          'both caches up',
          async () => caches.map((c) => c.stats().redis),
          (s) => s.every((r) => r === 'up'),
        );
        const [a, b] = caches.map((c) => c.namespace('tenants'));
        expect(await a!.getOrSet('k', async () => 'v1')).toBe('v1');
        expect(await b!.getOrSet('k', async () => 'not read')).toBe('v1');
        const t0 = Date.now();
        await sentinelFailover(sentinel);
        const after = await eventually(
          'sentinel promoted the replica',
          () => sentinelMaster(sentinel),
          (m) => m !== before,
          15_000,
        );
        expect(after).toBe(servers!.nodes[1]);
        // The app's client moves to the new master (Sentinel's +switch-master, or READONLY from the
        // demoted one). Until then a write may still land on the old master: Redis replication is
        // asynchronous, so writes in the failover window can be lost (see the README).
        const newPort = after.split(':')[1];
        await eventually(
          "the app's client is on the new master",
          async () => (await stack.deps.redis.info('server').catch((e: unknown) => String(e))).match(/tcp_port:(\d+)/)?.[1],
          (p) => p === newPort,
          15_000,
        );
        const key = `probe:${uniqueId('fo')}`;
        expect(await stack.deps.redis.set(key, '1', 'EX', 60)).toBe('OK');
        const direct = new IORedis(Number(newPort), '127.0.0.1', { lazyConnect: true });
        try {
          expect(await direct.exists(key)).toBe(1);
          expect(await direct.info('replication')).toContain('role:master');
        } finally {
          direct.disconnect();
        }
        await stack.deps.redis.del(key);
        const headers = { ...(await stack.bearer(['admin'], '*', uniqueId('fo-idem'))), 'idempotency-key': uniqueId('fo-k') };
        const tenantId = uniqueId('fo-t');
        const register = () =>
          app.inject({
            method: 'POST',
            url: '/api/tenants',
            headers,
            payload: {
              tenantId,
              name: tenantId,
              source: { kind: 'mongodb', settings: { uri: stack.deps.config.MONGODB_URI, database: dataDb } },
              collections: [{ name: 'users', essential: true }],
            },
          });
        expect((await register()).statusCode).toBe(201);
        expect((await register()).headers['idempotent-replayed']).toBe('true');
        // The bus resubscribed on the new master: an invalidation still reaches the other process.
        await eventually(
          'both caches up again',
          async () => caches.map((c) => c.stats().redis),
          (s) => s.every((r) => r === 'up'),
          15_000,
        );
        await eventually(
          'an invalidation after the failover reaches the other process',
          async () => {
            await a!.invalidate('k');
            return b!.getOrSet('k', async () => 'v2');
          },
          (v) => v === 'v2',
          10_000,
        );
        process.stdout.write(`[redis-topology] sentinel failover: clients on the new master within ${Date.now() - t0} ms\n`);
      });
    }
  });
}

topologySuite(
  'cluster',
  () => startRedisCluster(3),
  (h) => ({
    REDIS_MODE: 'cluster',
    REDIS_URL: `redis://${h.nodes[0]}`,
    REDIS_CLUSTER_NODES: h.nodes.join(','),
  }),
);

topologySuite(
  'sentinel',
  () => startRedisSentinel('mymaster'),
  (h) => ({
    REDIS_MODE: 'sentinel',
    // Credentials and database only: the master's address comes from the sentinel.
    REDIS_URL: 'redis://127.0.0.1:1/0',
    REDIS_SENTINELS: h.sentinels.join(','),
    REDIS_SENTINEL_NAME: 'mymaster',
  }),
);
