import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Scopes } from '../../infra/auth-token';
import { problemResponses } from '../schemas';
import type { SecretsService } from '../services/maintenance/secrets';

// Secrets at rest (tenant source tokens/URIs, reconcile URIs): counts per key ID, and rotation
// to the keyring's primary key in bounded batches, which the CLI repeats until none remain.
// Secrets of every tenant: a platform operation (admin on a '*' token). No answer holds a value.

const DEFAULT_LIMIT = 200;

const Failure = Type.Object({ where: Type.String(), message: Type.String() });
const StatusResponse = Type.Object({
  primaryKeyId: Type.String(),
  usingDevKey: Type.Boolean(),
  byKey: Type.Record(Type.String(), Type.Integer(), { description: 'sealed values per key ID' }),
  plaintext: Type.Integer({ description: 'values still stored in clear' }),
  unknownKeys: Type.Array(Type.String(), { description: 'key IDs in use that SECRETS_KEY does not list' }),
  total: Type.Integer(),
});
const RotateBody = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5_000, description: `secrets to re-seal (default ${DEFAULT_LIMIT})` })) },
  { additionalProperties: false },
);
const RotateResponse = Type.Object({
  primaryKeyId: Type.String(),
  rotated: Type.Integer(),
  skipped: Type.Integer({ description: 'changed by someone else meanwhile: left as they wrote it' }),
  remaining: Type.Integer({ description: 'still to do: call again until 0' }),
  failed: Type.Array(Failure),
});

const secrets: FastifyPluginAsyncTypebox<{ service: SecretsService }> = async (app, { service }) => {
  const admin = { auth: { scope: Scopes.admin, tenants: 'platform' as const } };

  app.get('/api/secrets/status', { config: admin, schema: { response: { 200: StatusResponse, ...problemResponses } } }, async () =>
    service.status(),
  );

  app.post(
    '/api/secrets/rotate',
    {
      config: { ...admin, idempotency: { required: true } },
      schema: { body: RotateBody, response: { 200: RotateResponse, ...problemResponses } },
    },
    async (req) => {
      const r = await service.rotateBatch(req.body.limit ?? DEFAULT_LIMIT);
      req.log.info(
        { primaryKeyId: r.primaryKeyId, rotated: r.rotated, skipped: r.skipped, failed: r.failed.length, remaining: r.remaining },
        'secrets rotation batch',
      );
      return r;
    },
  );
};

export default secrets;
