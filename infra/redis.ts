import { Cluster, Redis as IORedis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { AppConfig } from './config';
import type { Logger } from './logger';

// Every Redis client of the platform is made here, for the topology REDIS_MODE names: one
// server (REDIS_URL), a Redis Cluster (an ioredis Cluster seeded from REDIS_CLUSTER_NODES) or a
// master found through Sentinel (REDIS_SENTINELS). Callers see one type: the commands they use
// (single-key commands, EVAL over keys of one slot, MULTI on one key, pub/sub) are common to both.

/** A client of the platform's Redis: one server or Sentinel-managed master (ioredis Redis), or a Redis Cluster. */
export type Redis = IORedis | Cluster;

export type RedisTopologyConfig = Pick<AppConfig, 'REDIS_URL'> &
  Partial<
    Pick<
      AppConfig,
      | 'REDIS_MODE'
      | 'REDIS_CLUSTER_NODES'
      | 'REDIS_SENTINELS'
      | 'REDIS_SENTINEL_NAME'
      | 'REDIS_SENTINEL_PASSWORD'
      | 'REDIS_COMMAND_TIMEOUT_MS'
    >
  >;

/** What createRedis builds: the client kind and its options (pure, so it is unit-tested). */
export type RedisTopology =
  | { mode: 'standalone'; url: string; options: RedisOptions }
  | { mode: 'sentinel'; options: RedisOptions }
  | { mode: 'cluster'; nodes: ClusterNode[]; options: ClusterOptions };

const hostPortOf = (entry: string): { host: string; port: number } => {
  const i = entry.lastIndexOf(':');
  return { host: entry.slice(0, i), port: Number(entry.slice(i + 1)) };
};

/** Connection settings every client shares (reconnect with capped backoff, fail a command after 2 retries). */
const SHARED: RedisOptions = { maxRetriesPerRequest: 2, connectTimeout: 3_000, lazyConnect: false };
const backoff = (times: number) => Math.min(times * 200, 2_000);

/** The client REDIS_MODE asks for; REDIS_URL's credentials and TLS apply to the data nodes in every mode. */
export function redisTopology(config: RedisTopologyConfig, connectionName: string): RedisTopology {
  const url = new URL(config.REDIS_URL);
  const BASE: RedisOptions = config.REDIS_COMMAND_TIMEOUT_MS ? { ...SHARED, commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS } : SHARED;
  const auth: RedisOptions = {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  const db = Number(url.pathname.replace(/^\//, '') || '0');
  const mode = config.REDIS_MODE ?? 'standalone';
  if (mode === 'cluster') {
    const seeds = config.REDIS_CLUSTER_NODES?.length ? config.REDIS_CLUSTER_NODES : [`${url.hostname}:${url.port || '6379'}`];
    if (db !== 0) throw new TypeError(`REDIS_URL names database ${db}: a Redis Cluster has only database 0`);
    return {
      mode,
      nodes: seeds.map(hostPortOf),
      options: {
        clusterRetryStrategy: backoff,
        // Every command goes to a master: replicas may lag, and locks and counters must not.
        scaleReads: 'master',
        redisOptions: { ...BASE, ...auth, connectionName },
      },
    };
  }
  if (mode === 'sentinel') {
    return {
      mode,
      options: {
        ...BASE,
        ...auth,
        db,
        connectionName,
        retryStrategy: backoff,
        sentinels: (config.REDIS_SENTINELS ?? []).map(hostPortOf),
        name: config.REDIS_SENTINEL_NAME ?? 'mymaster',
        ...(config.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: config.REDIS_SENTINEL_PASSWORD } : {}),
        ...(auth.tls ? { enableTLSForSentinelMode: true } : {}),
        sentinelRetryStrategy: backoff,
        // Follow a failover at once (+switch-master from the sentinels), and reconnect — through the
        // sentinels, to the new master — when a write lands on a demoted one (READONLY).
        failoverDetector: true,
        reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
      },
    };
  }
  return { mode: 'standalone', url: config.REDIS_URL, options: { ...BASE, connectionName, retryStrategy: backoff } };
}

/** Logs each distinct error once, and a reconnection after one. */
function watch(redis: Redis, log: Logger | undefined): void {
  let lastError = '';
  const onError = (err: Error) => {
    if (err.message !== lastError) log?.warn({ err: err.message }, 'redis error');
    lastError = err.message;
  };
  redis.on('error', onError);
  if (redis instanceof Cluster) redis.on('node error', onError);
  redis.on('ready', () => {
    if (lastError) log?.info('redis reconnected');
    lastError = '';
  });
}

/** ioredis client for the configured topology that keeps reconnecting with capped backoff and never crashes the process on error. */
export function createRedis(config: RedisTopologyConfig, log?: Logger, name = 'main'): Redis {
  const t = redisTopology(config, `sync-orchestrator:${name}`);
  const redis: Redis =
    t.mode === 'cluster' ? new Cluster(t.nodes, t.options) : t.mode === 'sentinel' ? new IORedis(t.options) : new IORedis(t.url, t.options);
  watch(redis, log);
  return redis;
}

/** Per-connection overrides for a second client of the same topology. */
export interface DuplicateOptions {
  connectionName: string;
  /** false: commands fail at once while disconnected. @default the original's */
  enableOfflineQueue?: boolean;
  /** Fail a command that has no answer after this long (ms). @default none */
  commandTimeout?: number;
  /** @default the original's */
  maxRetriesPerRequest?: number;
}

/** Another connection (or, on a cluster, set of connections) to the same Redis as `redis`, with these overrides. */
export function duplicateRedis(redis: Redis, o: DuplicateOptions): Redis {
  const { connectionName, enableOfflineQueue, ...perNode } = o;
  if (redis instanceof Cluster) {
    return redis.duplicate([], {
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      redisOptions: { ...redis.options.redisOptions, ...perNode, connectionName },
    });
  }
  return redis.duplicate({ ...perNode, connectionName, ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }) });
}

/** The servers that hold keys: every master of a cluster, else the one client. */
export function keyHolders(redis: Redis): IORedis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/**
 * Deletes every key matching `match` (a SCAN glob; never KEYS, which blocks Redis), on every
 * master of a cluster: SCAN in steps of `count`, then one UNLINK per key in a pipeline to the node
 * that answered (single-key commands: keys of many slots never meet in one command). Returns the
 * keys removed.
 */
export async function unlinkMatching(redis: Redis, match: string, count: number): Promise<number> {
  let removed = 0;
  const nodes = keyHolders(redis);
  // A cluster client knows its masters once connected: none known would silently delete nothing.
  if (nodes.length === 0) throw new Error('redis cluster: no master known yet (not connected)');
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', count);
      cursor = next;
      if (keys.length === 0) continue;
      const results = (await node.pipeline(keys.map((k) => ['unlink', k])).exec()) ?? [];
      for (const [err, n] of results) {
        if (err) throw err;
        removed += Number(n);
      }
    } while (cursor !== '0');
  }
  return removed;
}

export async function pingRedis(redis: Redis): Promise<void> {
  const pong = await redis.ping();
  if (pong !== 'PONG') throw new Error(`unexpected PING answer: ${pong}`);
}
