import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createServer } from 'node:net';
import { busChannel, busNamespace, decodeEnvelope, encodeEnvelope, l2Key, storeChannel, STORE_NAME } from '../../../infra/cache-bus';
import { createCache, createCacheCounters, type AppCache, type CacheNamespaceHandle } from '../../../infra/cache/cache';
import { cachedSyncStore, cachedTenantRepository } from '../../../activities/tenant-sync/cached-stores';
import { deserialize, serialize } from '../../../infra/cache/serializer';
import type { TenantRepository } from '../../../activities/tenant-sync/registry';
import type { SyncStore } from '../../../activities/tenant-sync/store';
import { createLogger } from '../../../infra/logger';

// The cache's pure parts: the Date-keeping serializer, the bus envelope and key layout, the
// counters, the wrappers' invalidations, and an app cache over an unreachable Redis (bypass).

const log = createLogger({ name: 'test', level: 'silent' });

describe('cache serializer', () => {
  it('keeps Dates, nested and in arrays, and everything else as JSON does', () => {
    const v = { _id: 't1', createdAt: new Date('2026-01-02T03:04:05.678Z'), nested: { at: [new Date(0)], n: 1, s: 'x', nil: null } };
    const back = deserialize(serialize(v)) as typeof v;
    expect(back).toEqual(v);
    expect(back.createdAt).toBeInstanceOf(Date);
    expect(back.nested.at[0]).toBeInstanceOf(Date);
    expect(deserialize(serialize(null))).toBeNull();
  });

  it('leaves objects that merely have a $date field among others alone', () => {
    expect(deserialize(JSON.stringify({ a: { $date: 'x', other: 1 } }))).toEqual({ a: { $date: 'x', other: 1 } });
  });
});

describe('cache bus and keys', () => {
  it('round-trips an envelope and refuses foreign messages', () => {
    const e = { busId: 'b1', payload: { type: 'delete' as const, keys: ['t1'], namespace: busNamespace('db', 'tenants') } };
    expect(decodeEnvelope(encodeEnvelope(e))).toEqual(e);
    expect(decodeEnvelope('not json')).toBeUndefined();
    expect(decodeEnvelope(JSON.stringify({ busId: 'b', payload: { keys: 'x' } }))).toBeUndefined();
  });

  it('puts every key and channel under the scope', () => {
    expect(l2Key('db', 'sync-status', 't1')).toBe('cache:db:sync-status:t1');
    expect(busChannel('db', storeChannel(STORE_NAME))).toBe('cache:db:bentocache.notifications:platform');
    expect(busNamespace('db', 'tenants')).toBe('cache:db:tenants');
  });
});

describe('cache counters', () => {
  it('counts per namespace and computes the hit rate over all reads', () => {
    const c = createCacheCounters();
    expect(c.snapshot().tenants.hitRate).toBeNull();
    c.hit('tenants');
    c.hit('tenants');
    c.hit('tenants');
    c.miss('tenants', 'absent');
    c.miss('sync-status', 'bypass');
    c.invalidated('tenants');
    const s = c.snapshot();
    expect(s.tenants).toEqual({ hits: 3, misses: 1, bypassed: 0, invalidations: 1, hitRate: 0.75 });
    expect(s['sync-status']).toEqual({ hits: 0, misses: 0, bypassed: 1, invalidations: 0, hitRate: 0 });
  });
});

/** A cache that records invalidations and always loads. */
function recordingCache(): { cache: AppCache; invalidated: string[] } {
  const invalidated: string[] = [];
  const handle = (ns: string): CacheNamespaceHandle => ({
    getOrSet: (_key, load) => load(),
    invalidate: async (key) => {
      invalidated.push(`${ns}:${key}`);
    },
  });
  return {
    invalidated,
    cache: {
      namespace: handle,
      stats: () => ({ enabled: true, redis: 'up', namespaces: createCacheCounters().snapshot() }),
      close: async () => undefined,
    },
  };
}

describe('cached stores', () => {
  it('invalidate the tenant after an upsert and the status after a recorded run', async () => {
    const { cache, invalidated } = recordingCache();
    const repo = {
      get: async (id: string) => ({ _id: id }),
      upsert: async (t: { tenantId: string }) => ({ created: true, tenant: { _id: t.tenantId } }),
    } as unknown as TenantRepository;
    const store = { getStatus: async () => null, recordRun: async () => undefined } as unknown as SyncStore;
    const tenants = cachedTenantRepository(repo, cache);
    const sync = cachedSyncStore(store, cache);
    expect(await tenants.get('t1')).toEqual({ _id: 't1' });
    await tenants.upsert({ tenantId: 't1' } as never);
    await sync.recordRun({ tenantId: 't2' } as never);
    expect(invalidated).toEqual(['tenants:t1', 'sync-status:t2']);
  });
});

describe('app cache over an unreachable Redis', () => {
  it('loads every read from the source, fast, and never throws on invalidation', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const redis = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 2, retryStrategy: (n) => Math.min(n * 200, 2_000) });
    redis.on('error', () => undefined);
    const cache = createCache({ redis, scope: 'unit', enabled: true, ttlMs: { tenants: 60_000, 'sync-status': 10_000 }, log });
    try {
      let loads = 0;
      const t0 = performance.now();
      for (let i = 0; i < 5; i++) {
        expect(await cache.namespace('tenants').getOrSet('t1', async () => ++loads)).toBe(i + 1);
        await cache.namespace('tenants').invalidate('t1');
      }
      expect(performance.now() - t0).toBeLessThan(2_000);
      await expect(cache.namespace('tenants').getOrSet('t1', () => Promise.reject(new Error('mongo down')))).rejects.toThrow('mongo down');
      expect(cache.stats()).toMatchObject({ enabled: true, redis: 'down' });
      expect(cache.stats().namespaces.tenants).toMatchObject({ hits: 0, bypassed: 6, invalidations: 5 });
    } finally {
      await cache.close();
      redis.disconnect();
    }
  });

  it('disabled: every read is a bypass', async () => {
    const redis = new Redis({ lazyConnect: true });
    const cache = createCache({ redis, scope: 'unit', enabled: false, ttlMs: { tenants: 1_000, 'sync-status': 1_000 }, log });
    expect(await cache.namespace('sync-status').getOrSet('t', async () => 'v')).toBe('v');
    expect(cache.stats()).toMatchObject({ enabled: false, redis: 'off' });
    expect(cache.stats().namespaces['sync-status'].bypassed).toBe(1);
    redis.disconnect();
  });
});
