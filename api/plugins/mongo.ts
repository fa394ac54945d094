import fp from 'fastify-plugin';
import type { Mongo } from '../../infra/mongo';

// The platform's MongoDB as `app.mongo`. The entry point connects it; with `close` the app owns it.

declare module 'fastify' {
  interface FastifyInstance {
    mongo: Mongo;
  }
}

export interface MongoPluginOptions {
  /** The connected client (infra/mongo.ts connectMongo). */
  mongo: Mongo;
  /** Close it when the app closes. @default false (its creator closes it) */
  close?: boolean;
}

export default fp<MongoPluginOptions>(
  async (app, o) => {
    app.decorate('mongo', o.mongo);
    if (o.close) app.addHook('onClose', async () => o.mongo.close().catch((err: unknown) => app.log.warn({ err }, 'mongo close failed')));
  },
  { name: 'mongo' },
);
