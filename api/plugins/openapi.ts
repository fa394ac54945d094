import fp from 'fastify-plugin';
import swagger, { type SwaggerTransform } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifySchema } from 'fastify';
import { isDeepStrictEqual } from 'node:util';
import { Type } from 'typebox';
import { problemResponses, sharedSchemas } from '../schemas';
import { IDEMPOTENCY_KEY, routeIdempotency, type RouteIdempotency } from './idempotency';

// OpenAPI generated from the route schemas; UI at /docs, JSON at /docs/json. The shared schemas
// (api/schemas.ts) are added here, before any route, and become components.schemas by $id; the
// common error answers (problemResponses) are written once, as components.responses.

const KEY_HEADER = 'Idempotency-Key';
const KEY_TERMS =
  '1–255 visible ASCII characters; a retry sends the same key. The same key with the same payload replays the stored answer (Idempotent-Replayed: true); with another payload: 422; while the first request still runs: 409.';

/** The Idempotency-Key as a header parameter of a route that reads it (documentation only: the idempotency plugin validates it). */
function withKeyHeader(schema: FastifySchema | undefined, idempotency: RouteIdempotency): FastifySchema {
  const headers = (schema?.headers ?? {}) as { properties?: Record<string, unknown>; required?: string[] };
  const key = Type.String({
    pattern: IDEMPOTENCY_KEY.source,
    description: idempotency.required ? `Required: the operation must never run twice by accident. ${KEY_TERMS}` : `Optional. ${KEY_TERMS}`,
  });
  const required = [...(headers.required ?? []), ...(idempotency.required ? [KEY_HEADER] : [])];
  return {
    ...schema,
    headers: {
      type: 'object',
      ...headers,
      properties: { ...headers.properties, [KEY_HEADER]: key },
      ...(required.length > 0 ? { required } : {}),
      additionalProperties: true,
    },
  };
}

/** Each route as documented: its schema, plus what it reads that its schema does not state. */
const transform: SwaggerTransform = ({ schema, url, route }) => {
  const idempotency = routeIdempotency(route);
  return { schema: idempotency ? withKeyHeader(schema, idempotency) : schema, url };
};

type Responses = Record<string, unknown>;
interface Document {
  paths?: Record<string, Record<string, { responses?: Responses } | undefined>>;
  components?: { responses?: Responses };
}

/** problemResponses as the document states them, by component name (Problem400…). */
const PROBLEM_RESPONSES: Responses = Object.fromEntries(
  Object.entries(problemResponses).map(([status, r]) => [
    `Problem${status}`,
    { description: r.description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
  ]),
);

/** Every operation's answer that is one of problemResponses becomes a $ref to its component (in place). */
function shareProblemResponses(doc: Document): void {
  for (const pathItem of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(pathItem)) {
      const responses = op?.responses ?? {};
      for (const [status, response] of Object.entries(responses)) {
        const name = `Problem${status}`;
        if (isDeepStrictEqual(response, PROBLEM_RESPONSES[name])) responses[status] = { $ref: `#/components/responses/${name}` };
      }
    }
  }
  doc.components = { ...doc.components, responses: { ...doc.components?.responses, ...PROBLEM_RESPONSES } };
}

export default fp(
  async (app) => {
    for (const schema of sharedSchemas) app.addSchema(schema);
    await app.register(swagger, {
      openapi: {
        info: {
          title: 'sync-orchestrator API',
          version: '1.0.0',
          description: 'Tenant sync at login and the data operations behind it, as durable Temporal workflows.',
        },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
        security: [{ bearer: [] }],
      },
      // A shared schema is named by its $id (components.schemas.Problem), not def-0.
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
      transform,
      transformObject: (d) => {
        if (!('openapiObject' in d)) return d.swaggerObject;
        shareProblemResponses(d.openapiObject as Document);
        return d.openapiObject;
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  },
  { name: 'openapi' },
);
