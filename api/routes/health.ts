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
import { POLLER_RECENT_MS, type PresenceAnswer, type WorkerPresence } from '../services/tenant-sync/worker-presence';

const Check = Type.Object({
  ok: Type.Boolean(),
  latencyMs: Type.Number(),
  error: Type.Optional(Type.String()),
  status: Type.Optional(
    Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('unknown')], {
      description:
        'temporal only: ok when a worker polls the login task queue; degraded when none does or the server does not answer (logins go direct, the API stays ready); unknown when the describe did not answer',
    }),
  ),
  pollers: Type.Optional(
    Type.Integer({ description: `temporal only: workers polling the login task queue (last poll within ${POLLER_RECENT_MS / 1000} s)` }),
  ),
  taskQueue: Type.Optional(Type.String({ description: 'temporal only: the task queue logins start on' })),
});

export type DependencyName = 'mongodb' | 'redis' | 'temporal';

/** The worker part of the temporal check (the server itself answered). */
function workerFields(a: PresenceAnswer) {
  if (a.state === 'unknown') {
    return { status: 'unknown' as const, taskQueue: a.taskQueue, error: `worker presence unknown: ${a.error ?? ''}` };
  }
  return { status: a.state === 'present' ? ('ok' as const) : ('degraded' as const), pollers: a.pollers ?? 0, taskQueue: a.taskQueue };
}

/**
 * Pings every dependency in parallel, each bounded by `timeoutMs`; with `presence`, the temporal
 * check also tells whether a worker polls the login task queue (same bound).
 */
export async function checkDependencies(deps: AppDeps, timeoutMs: number, presence?: Pick<WorkerPresence, 'check'>) {
  const workers = deps.temporal ? presence?.check(timeoutMs) : undefined;
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
  const checks = Object.fromEntries(entries) as Record<DependencyName, { ok: boolean; latencyMs: number; error?: string }>;
  if (workers && checks.temporal.ok) return { ...checks, temporal: { ...checks.temporal, ...workerFields(await workers) } };
  if (!checks.temporal.ok) return { ...checks, temporal: { ...checks.temporal, status: 'degraded' as const } };
  return checks;
}

const health: FastifyPluginAsyncTypebox<{ deps: AppDeps; presence?: Pick<WorkerPresence, 'check'> }> = async (app, { deps, presence }) => {
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
      // First thing on SIGTERM: a load balancer polling readiness stops sending while requests are still served.
      if (deps.draining?.()) {
        return sendProblem(req, reply, new AppError('not-ready', 'Unavailable: shutting down', { extras: { failed: [], draining: true } }));
      }
      const checks = await checkDependencies(deps, deps.config.READY_TIMEOUT_MS, presence);
      // MongoDB and Redis are needed by every request. Temporal is not: logins go direct while it
      // is away (its own routes answer their 503s), and every API process would fail the same check
      // at once, so a load balancer would drop all of them for nothing. It shows as degraded instead.
      const failed = Object.entries(checks)
        .filter(([n, c]) => !c.ok && n !== 'temporal')
        .map(([n]) => n);
      if (failed.length > 0) {
        return sendProblem(req, reply, new AppError('not-ready', `Unavailable: ${failed.join(', ')}`, { extras: { failed, checks } }));
      }
      return { status: 'ready' as const, checks };
    },
  );
};

export default health;
