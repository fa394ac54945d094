import { CACHED_NAMESPACES } from '../cache-bus';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import type { AppConfig } from '../config';
import type { Logger } from '../logger';
import { createCacheMetrics } from '../metrics';
import { duplicateRedis, type Redis } from '../redis';
import { withTimeout } from '../timeout';
import { cacheRedisPrefix, jsonBusDriver, STORE_NAME } from '../cache-bus';
import { clusterSafeRedisDriver } from './redis-driver';
import { dateAwareSerializer } from './serializer';

// The read cache of the API and the worker (bentocache): an in-process L1 in front of a Redis L2,
// and a Redis bus that tells every other process to drop its L1 copy when an entry changes. getOrSet is
// stampede-protected (one loader per key and process; the others wait for it). Redis away →
// every read goes straight to MongoDB (the L1 too is bypassed: no process could hear an
// invalidation), logged once per outage; when Redis is back the namespaces are flushed, since
// invalidations sent meanwhile were lost. A cache failure never fails a request.

export const CacheNamespaces = CACHED_NAMESPACES;
export type CacheNamespace = (typeof CacheNamespaces)[number];

/** A cache call never holds a request longer than this (ioredis retries a lost Redis for seconds). */
const CACHE_REDIS_TIMEOUT_MS = 250;
/** In-process entries per process (tenants and statuses are small documents). */
const L1_MAX_ITEMS = 20_000;
/** After a cache error on a live connection, how often to look whether Redis answers again. */
const RECOVERY_CHECK_MS = 1_000;

export interface CacheOptions {
  /** The app's Redis: the cache makes its own two connections from it (fail-fast commands, a subscriber). */
  redis: Redis;
  /** What the cached data belongs to (the platform database name): every key and channel is under it. */
  scope: string;
  enabled: boolean;
  ttlMs: Record<CacheNamespace, number>;
  log: Logger;
}

export interface NamespaceStats {
  /** Reads answered from L1 or L2. */
  hits: number;
  /** Reads that ran the loader (not cached, expired or invalidated). */
  misses: number;
  /** Reads that went to MongoDB without the cache (cache off, Redis away, a cache error). */
  bypassed: number;
  invalidations: number;
  /** hits / all reads; null before the first read. */
  hitRate: number | null;
}

export interface CacheStats {
  enabled: boolean;
  /** `up`: reads use the cache; `down`: Redis is away and reads bypass it; `off`: CACHE_ENABLED=false. */
  redis: 'up' | 'down' | 'off';
  namespaces: Record<CacheNamespace, NamespaceStats>;
}

export interface CacheNamespaceHandle {
  /** The cached value of `key`, or `load()`'s (then cached; null is cached too). A loader error propagates, uncached. */
  getOrSet<T>(key: string, load: () => Promise<T>): Promise<T>;
  /** Drops `key` here, in Redis and (over the bus) in every other process. Never throws. */
  invalidate(key: string): Promise<void>;
}

export interface AppCache {
  namespace(name: CacheNamespace): CacheNamespaceHandle;
  stats(): CacheStats;
  close(): Promise<void>;
}

type Counts = Omit<NamespaceStats, 'hitRate'>;

const hitRate = (c: Counts): number | null => {
  const reads = c.hits + c.misses + c.bypassed;
  return reads === 0 ? null : c.hits / reads;
};

/** Per-namespace counters, also exported as metrics (cache_hits_total, cache_misses_total). */
export function createCacheCounters() {
  const metrics = createCacheMetrics();
  const counts = Object.fromEntries(CacheNamespaces.map((n) => [n, { hits: 0, misses: 0, bypassed: 0, invalidations: 0 }])) as Record<
    CacheNamespace,
    Counts
  >;
  return {
    hit(ns: CacheNamespace) {
      counts[ns].hits++;
      metrics.hits.add(1, { namespace: ns });
    },
    miss(ns: CacheNamespace, reason: 'absent' | 'bypass') {
      if (reason === 'bypass') counts[ns].bypassed++;
      else counts[ns].misses++;
      metrics.misses.add(1, { namespace: ns, reason });
    },
    invalidated(ns: CacheNamespace) {
      counts[ns].invalidations++;
    },
    snapshot: (): Record<CacheNamespace, NamespaceStats> =>
      Object.fromEntries(CacheNamespaces.map((n) => [n, { ...counts[n], hitRate: hitRate(counts[n]) }])) as Record<
        CacheNamespace,
        NamespaceStats
      >,
  };
}

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** CACHE_ENABLED=false: every read is a bypass, counted as one. */
function disabledCache(counters: ReturnType<typeof createCacheCounters>): AppCache {
  return {
    namespace: (ns) => ({
      getOrSet: (_key, load) => {
        counters.miss(ns, 'bypass');
        return load();
      },
      invalidate: async () => undefined,
    }),
    stats: () => ({ enabled: false, redis: 'off', namespaces: counters.snapshot() }),
    close: async () => undefined,
  };
}

/** The cache as config sets it (CACHE_ENABLED, CACHE_TENANT_TTL_MS, CACHE_STATUS_TTL_MS): the API's and the worker's. */
export function cacheFromConfig(
  config: Pick<AppConfig, 'CACHE_ENABLED' | 'CACHE_TENANT_TTL_MS' | 'CACHE_STATUS_TTL_MS'>,
  o: Pick<CacheOptions, 'redis' | 'scope' | 'log'>,
): AppCache {
  return createCache({
    ...o,
    enabled: config.CACHE_ENABLED,
    ttlMs: { tenants: config.CACHE_TENANT_TTL_MS, 'sync-status': config.CACHE_STATUS_TTL_MS },
  });
}

export function createCache(o: CacheOptions): AppCache {
  const counters = createCacheCounters();
  if (!o.enabled) return disabledCache(counters);
  const log = o.log.child({ component: 'cache' });
  // Commands fail at once while disconnected (no offline queue) and after a short timeout otherwise.
  // Both are of the app's Redis topology (one server, Sentinel or Cluster: infra/redis.ts).
  const commands = duplicateRedis(o.redis, {
    connectionName: 'sync-orchestrator:cache',
    enableOfflineQueue: false,
    commandTimeout: CACHE_REDIS_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
  });
  const subscriber = duplicateRedis(o.redis, { connectionName: 'sync-orchestrator:cache-bus' });

  let outage = false;
  let recoveryTimer: NodeJS.Timeout | undefined;
  const redisUp = () => commands.status === 'ready' && subscriber.status === 'ready';
  const down = (what: string, err: unknown) => {
    if (!outage) log.warn({ what, err: errText(err) }, 'cache: Redis unavailable, reads go straight to MongoDB');
    outage = true;
    // A timeout leaves the connection "ready" (no ready event will follow): look again shortly.
    recoveryTimer ??= setInterval(recover, RECOVERY_CHECK_MS).unref();
  };
  commands.on('error', (err: unknown) => down('redis', err));
  subscriber.on('error', (err: unknown) => down('redis bus', err));

  const bento = new BentoCache({
    default: STORE_NAME,
    prefix: cacheRedisPrefix(o.scope),
    serializer: dateAwareSerializer,
    grace: false,
    suppressL2Errors: true,
    l2CircuitBreakerDuration: '2s',
    stores: {
      [STORE_NAME]: bentostore()
        .useL1Layer(memoryDriver({ maxItems: L1_MAX_ITEMS }))
        .useL2Layer(clusterSafeRedisDriver({ connection: commands, prefix: cacheRedisPrefix(o.scope) }))
        .useBus(jsonBusDriver({ publisher: commands, subscriber, scope: o.scope, onError: down })),
    },
  });
  const stacks = Object.fromEntries(CacheNamespaces.map((n) => [n, bento.namespace(n)])) as Record<
    CacheNamespace,
    ReturnType<typeof bento.namespace>
  >;

  // Back from an outage: what was invalidated meanwhile never reached Redis or the other processes.
  function recover() {
    if (!outage || !redisUp()) return;
    outage = false;
    clearInterval(recoveryTimer);
    recoveryTimer = undefined;
    log.info('cache: Redis reachable again, namespaces flushed');
    for (const ns of CacheNamespaces)
      void withTimeout(`cache clear ${ns}`, 5_000, () => stacks[ns].clear()).catch((err: unknown) => down(`clear ${ns}`, err));
  }
  commands.on('ready', recover);
  subscriber.on('ready', recover);

  function namespace(ns: CacheNamespace): CacheNamespaceHandle {
    const stack = stacks[ns];
    const ttl = o.ttlMs[ns];
    return {
      async getOrSet<T>(key: string, load: () => Promise<T>): Promise<T> {
        if (outage || !redisUp()) {
          counters.miss(ns, 'bypass');
          return load();
        }
        let loaded = false;
        let loadFailure: { err: unknown } | undefined;
        const factory = async () => {
          loaded = true;
          try {
            return await load();
          } catch (err) {
            loadFailure = { err };
            throw err;
          }
        };
        try {
          const value = (await stack.getOrSet({ key, ttl, factory })) as T;
          if (loaded) counters.miss(ns, 'absent');
          else counters.hit(ns);
          return value;
        } catch (err) {
          if (loadFailure) throw loadFailure.err;
          // The cache itself failed: answer from MongoDB.
          down(`getOrSet ${ns}`, err);
          counters.miss(ns, 'bypass');
          return load();
        }
      },
      async invalidate(key: string): Promise<void> {
        counters.invalidated(ns);
        try {
          await withTimeout(`cache invalidate ${ns}`, CACHE_REDIS_TIMEOUT_MS * 2, () => stack.delete({ key }));
        } catch (err) {
          // Not lost: the outage's recovery flushes the namespace everywhere.
          down(`invalidate ${ns}`, err);
        }
      },
    };
  }

  const handles = Object.fromEntries(CacheNamespaces.map((n) => [n, namespace(n)])) as Record<CacheNamespace, CacheNamespaceHandle>;
  return {
    namespace: (ns) => handles[ns],
    stats: () => ({ enabled: true, redis: redisUp() ? 'up' : 'down', namespaces: counters.snapshot() }),
    async close() {
      clearInterval(recoveryTimer);
      await bento.disconnect().catch(() => undefined);
      commands.disconnect();
      subscriber.disconnect();
    },
  };
}
