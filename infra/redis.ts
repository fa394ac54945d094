import { Redis } from 'ioredis';
import type { AppConfig } from './config';
import type { Logger } from './logger';

export type { Redis } from 'ioredis';

/** ioredis client that keeps reconnecting with capped backoff and never crashes the process on error. */
export function createRedis(config: Pick<AppConfig, 'REDIS_URL'>, log?: Logger, name = 'main'): Redis {
  const redis = new Redis(config.REDIS_URL, {
    connectionName: `sync-orchestrator:${name}`,
    maxRetriesPerRequest: 2,
    connectTimeout: 3_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    lazyConnect: false,
  });
  let lastError = '';
  redis.on('error', (err: Error) => {
    if (err.message !== lastError) log?.warn({ err: err.message }, 'redis error');
    lastError = err.message;
  });
  redis.on('ready', () => {
    if (lastError) log?.info('redis reconnected');
    lastError = '';
  });
  return redis;
}

export async function pingRedis(redis: Redis): Promise<void> {
  const pong = await redis.ping();
  if (pong !== 'PONG') throw new Error(`unexpected PING answer: ${pong}`);
}
