import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { pingMongo } from '../../infra/mongo';
import { pingRedis } from '../../infra/redis';
import { pingTemporal } from '../../infra/temporal';
import { withTimeout } from '../../infra/timeout';
import { redactConnectionDetails } from '../../shared/redact';
import { AppError } from '../errors';
import { sendProblem } from '../plugins/error-handler';
import { problemResponse } from '../schemas';
import type { AppDeps } from '../app';

const Check = Type.Object({ ok: Type.Boolean(), latencyMs: Type.Number(), error: Type.Optional(Type.String()) });

export type DependencyName = 'mongodb' | 'redis' | 'temporal';

/** Pings every dependency in parallel, each bounded by `timeoutMs`. */
export async function checkDependencies(deps: AppDeps, timeoutMs: number) {
  const probes: Record<DependencyName, (() => Promise<void>) | undefined> = {
    mongodb: () => pingMongo(deps.mongo, timeoutMs),
    redis: () => pingRedis(deps.redis),
    temporal: deps.temporal ? () => pingTemporal(deps.temporal!, timeoutMs) : undefined,
  };
  const entries = await Promise.all(
    Object.entries(probes).map(async ([name, probe]) => {
      if (!probe) return [name, { ok: true, latencyMs: 0, error: 'disabled (TEMPORAL_ENABLED=false)' }] as const;
      const t0 = performance.now();
      try {
        await withTimeout(name, timeoutMs, () => probe());
        return [name, { ok: true, latencyMs: Math.round(performance.now() - t0) }] as const;
      } catch (err) {
        return [
          name,
          {
            ok: false,
            latencyMs: Math.round(performance.now() - t0),
            error: redactConnectionDetails(err instanceof Error ? err.message : String(err)).slice(0, 200),
          },
        ] as const;
      }
    }),
  );
  return Object.fromEntries(entries) as Record<DependencyName, { ok: boolean; latencyMs: number; error?: string }>;
}

const health: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get(
    '/health',
    { schema: { response: { 200: Type.Object({ status: Type.Literal('ok'), uptimeSeconds: Type.Number() }) } } },
    async () => ({
      status: 'ok' as const,
      uptimeSeconds: Math.round(process.uptime()),
    }),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        response: {
          200: Type.Object({ status: Type.Literal('ready'), checks: Type.Record(Type.String(), Check) }),
          503: problemResponse('Not ready: a dependency check failed'),
        },
      },
    },
    async (req, reply) => {
      const checks = await checkDependencies(deps, deps.config.READY_TIMEOUT_MS);
      const failed = Object.entries(checks)
        .filter(([, c]) => !c.ok)
        .map(([n]) => n);
      if (failed.length > 0) {
        return sendProblem(req, reply, new AppError('not-ready', `Unavailable: ${failed.join(', ')}`, { extras: { failed, checks } }));
      }
      return { status: 'ready' as const, checks };
    },
  );
};

export default health;
