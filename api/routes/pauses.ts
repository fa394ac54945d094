import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Scopes } from '../../infra/auth-token';
import { WORK_KINDS } from '../../shared/work';
import { problemResponses } from '../schemas';
import type { PauseService } from '../services/maintenance/pauses';

// Pause and resume a kind of work (api/services/maintenance/pauses.ts): admin, platform-wide (a
// pause refuses every tenant's starts of that kind). Both are idempotent by nature: pausing a
// paused kind keeps its first pause, resuming a running kind changes nothing.

const platform = { auth: { scope: Scopes.admin, tenants: 'platform' as const } };

const KindParams = Type.Object({ kind: Type.Union(WORK_KINDS.map((k) => Type.Literal(k))) }, { additionalProperties: false });
const PauseBody = Type.Object({ reason: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false });
const Paused = Type.Object({
  kind: Type.String(),
  pausedBy: Type.String(),
  reason: Type.String(),
  pausedAt: Type.String(),
  created: Type.Boolean({ description: 'false: it was paused already (the first pause is kept)' }),
  schedules: Type.Array(Type.String(), { description: 'Schedules this pause paused' }),
});
const Resumed = Type.Object({
  kind: Type.String(),
  resumed: Type.Boolean({ description: 'false: it was not paused' }),
  schedules: Type.Array(Type.String(), { description: 'Schedules this resume unpaused' }),
});

const pauses: FastifyPluginAsyncTypebox<{ pauses: PauseService }> = async (app, o) => {
  app.post(
    '/api/ops/work/:kind/pause',
    { config: platform, schema: { params: KindParams, body: PauseBody, response: { 200: Paused, ...problemResponses } } },
    async (req) => o.pauses.pause(req.params.kind, req.principal?.sub ?? 'unknown', req.body.reason),
  );
  app.post(
    '/api/ops/work/:kind/resume',
    { config: platform, schema: { params: KindParams, response: { 200: Resumed, ...problemResponses } } },
    async (req) => o.pauses.resume(req.params.kind, req.principal?.sub ?? 'unknown'),
  );
};

export default pauses;
