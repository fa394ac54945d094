import { RedisDriver } from 'bentocache/drivers/redis';
import type { CreateDriverResult, RedisConfig } from 'bentocache/types';
import { unlinkMatching } from '../redis';

// bentocache's Redis L2 driver, made safe on a Redis Cluster: its clear() SCANs one node only
// (ioredis sends SCAN to a random node) and its deleteMany() pipelines keys of many slots, which
// a cluster refuses. Both are redone here over every master with single-key UNLINKs; the other
// operations are single-key already.

/** Keys per SCAN step of a clear. */
const CLEAR_SCAN_COUNT = 1_000;

export class ClusterSafeRedisDriver extends RedisDriver {
  override namespace(namespace: string): ClusterSafeRedisDriver {
    return new ClusterSafeRedisDriver({ ...this.config, connection: this.getConnection(), prefix: this.createNamespacePrefix(namespace) });
  }

  override async clear(): Promise<void> {
    const keyPrefix = this.getConnection().options.keyPrefix ?? '';
    await unlinkMatching(this.getConnection(), `${keyPrefix}${this.prefix ? `${this.prefix}:` : ''}*`, CLEAR_SCAN_COUNT);
  }

  override async deleteMany(keys: string[]): Promise<boolean> {
    await Promise.all(keys.map((k) => this.getConnection().unlink(this.getItemKey(k))));
    return true;
  }
}

/** bentocache's `redisDriver(...)`, with the cluster-safe driver. */
export function clusterSafeRedisDriver(options: RedisConfig): CreateDriverResult<ClusterSafeRedisDriver> {
  return { options, factory: (config: RedisConfig) => new ClusterSafeRedisDriver(config) };
}
