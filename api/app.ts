import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AppConfig } from '../infra/config';
import type { Logger } from '../infra/logger';
import type { Mongo } from '../infra/mongo';
import type { Redis } from '../infra/redis';
import type { TemporalHandle } from '../infra/temporal';
import requestContext, { correlationIdFrom } from './plugins/request-context';
import errorHandler from './plugins/error-handler';
import auth from './plugins/auth';
import healthRoutes from './routes/health';

/** Everything the API needs, created by the entry point (or a test) and closed by it. */
export interface AppDeps {
  config: AppConfig;
  log: Logger;
  mongo: Mongo;
  redis: Redis;
  /** Absent when TEMPORAL_ENABLED=false. */
  temporal?: TemporalHandle;
}

/** Fastify factory: plugins, then routes. Only api/server.ts listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Request logs are our own (request-context plugin): redacted, hashed users, one line each way.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'correlationId' }),
    genReqId: correlationIdFrom,
    bodyLimit: 256 * 1024,
    trustProxy: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(requestContext);
  await app.register(errorHandler);
  await app.register(auth, { secret: deps.config.AUTH_JWT_SECRET });

  await app.register(healthRoutes, { deps });
  await app.ready();
  return app;
}
