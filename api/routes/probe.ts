import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Scopes } from '../../infra/auth-token';
import type { TemporalHandle } from '../../infra/temporal';
import { DependencyUnavailableError } from '../errors';
import { problemResponses } from '../schemas';
import { runStackProbe, STACK_PROBE_TIMEOUT_MS } from '../services/probe/stack-probe';

// The deep health check (`health --deep`): runs the stack-probe workflow through this API's
// Temporal client and a worker on its task queue. Admin on a "*" token only: it is a platform
// diagnostic and every call writes a probe document and key.

const MAX_TIMEOUT_MS = 60_000;

/** A JSON object is required (`{}` for the defaults): anything else is a 400 that starts nothing. */
const ProbeBody = Type.Object(
  {
    timeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1_000,
        maximum: MAX_TIMEOUT_MS,
        description: `bound on the probe, start to result (default ${STACK_PROBE_TIMEOUT_MS})`,
      }),
    ),
  },
  { additionalProperties: false },
);
const ProbeAnswer = Type.Object({
  ok: Type.Literal(true),
  latencyMs: Type.Number({ description: 'start to result of the probe workflow' }),
  workflowId: Type.String(),
});

export interface ProbeRoutesOptions {
  /** Absent when TEMPORAL_ENABLED=false: the probe answers 503. */
  temporal?: TemporalHandle;
  taskQueue: string;
  /** Bound on one probe when the body names none. @default STACK_PROBE_TIMEOUT_MS */
  timeoutMs?: number;
}

const probe: FastifyPluginAsyncTypebox<ProbeRoutesOptions> = async (app, o) => {
  app.post(
    '/api/probe',
    {
      config: { auth: { scope: Scopes.admin, tenants: 'platform' } },
      schema: { body: ProbeBody, response: { 200: ProbeAnswer, ...problemResponses } },
    },
    async (req) => {
      if (!o.temporal)
        throw new DependencyUnavailableError('temporal', 'The stack probe is a Temporal workflow and TEMPORAL_ENABLED=false');
      const r = await runStackProbe({
        temporal: o.temporal,
        taskQueue: o.taskQueue,
        timeoutMs: req.body.timeoutMs ?? o.timeoutMs ?? STACK_PROBE_TIMEOUT_MS,
        startedBy: req.principal?.sub ?? 'api',
        correlationId: req.correlationId,
      });
      req.log.info({ workflowId: r.workflowId, latencyMs: r.latencyMs }, 'stack probe done');
      return { ok: r.ok, latencyMs: r.latencyMs, workflowId: r.workflowId };
    },
  );
};

export default probe;
