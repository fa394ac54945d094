import fp from 'fastify-plugin';
import type { Redis } from '../../infra/redis';

// The shared Redis (rate limits, idempotency, locks) as `app.redis` — one server, Sentinel or a
// Cluster (infra/redis.ts); with `close` the app owns it.

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis;
  }
}

export interface RedisPluginOptions {
  /** The client (infra/redis.ts createRedis). */
  redis: Redis;
  /** Quit it when the app closes. @default false (its creator closes it) */
  close?: boolean;
}

export default fp<RedisPluginOptions>(
  async (app, o) => {
    app.decorate<Redis>('redis', o.redis);
    const quit = async () => {
      await o.redis.quit().catch((err: unknown) => app.log.warn({ err }, 'redis quit failed'));
    };
    if (o.close) app.addHook('onClose', quit);
  },
  { name: 'redis' },
);
