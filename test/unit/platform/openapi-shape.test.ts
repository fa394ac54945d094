import { readFileSync, statSync } from 'node:fs';
import Fastify from 'fastify';
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import openapi from '../../../api/plugins/openapi';
import { problemResponses } from '../../../api/schemas';
import { OPENAPI_FILES, type OpenApiDocument } from '../../../openapi/generate';

// The shape of the committed document (equal to what the routes serve: openapi-files.test.ts):
// error answers are application/problem+json and refer to the one shared Problem; every route
// that reads the Idempotency-Key declares it; and the document stays small.

interface Parameter {
  in: string;
  name: string;
  required?: boolean;
  description?: string;
}
interface Response {
  $ref?: string;
  description?: string;
  content?: Record<string, { schema?: unknown }>;
}
interface Operation {
  parameters?: Parameter[];
  responses: Record<string, Response>;
}
type Document = OpenApiDocument & {
  components: { schemas: Record<string, { required?: string[] }>; responses: Record<string, Response> };
};

const committed = () => JSON.parse(readFileSync(OPENAPI_FILES.json, 'utf8')) as Document;
const operations = (doc: OpenApiDocument) =>
  Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, method, op: op as Operation })),
  );
const keyHeader = (op: Operation) => op.parameters?.find((p) => p.in === 'header' && p.name === 'Idempotency-Key');
const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

/** The size of openapi/openapi.json when every route repeated the Problem schema inline for 9 codes. */
const BYTES_BEFORE_SHARED_PROBLEM = 576_679;

describe('OpenAPI document shape', () => {
  it('answers every 4xx and 5xx as application/problem+json, a $ref to components.schemas.Problem', () => {
    const doc = committed();
    expect(doc.components.schemas.Problem?.required).toEqual(['type', 'title', 'status', 'detail', 'correlationId']);
    const resolve = (r: Response) => (r.$ref ? doc.components.responses[r.$ref.replace('#/components/responses/', '')] : r);
    const bad = operations(doc).flatMap(({ key, op }) =>
      Object.entries(op.responses)
        .filter(([status]) => Number(status) >= 400)
        .filter(([, r]) => {
          const content = resolve(r)?.content ?? {};
          return Object.keys(content).join() !== 'application/problem+json' || !isRef(content['application/problem+json']?.schema);
        })
        .map(([status]) => `${key} ${status}`),
    );
    expect(bad).toEqual([]);
  });

  it('holds the Problem schema once, and each common error answer once in components.responses', () => {
    const doc = committed();
    // The Problem's required list, once (371 times when each answer repeated it).
    expect(JSON.stringify(doc).match(/"required":\["type","title","status","detail","correlationId"\]/g)).toHaveLength(1);
    for (const [status, r] of Object.entries(problemResponses)) {
      expect(doc.components.responses[`Problem${status}`]).toEqual({
        description: r.description,
        content: { 'application/problem+json': { schema: PROBLEM_REF } },
      });
    }
    // Every /api operation refers to the shared 401 (openapi-validate.test.ts: each documents one).
    const inline401 = operations(doc).filter(({ key, op }) => key.includes(' /api/') && op.responses['401']?.$ref === undefined);
    expect(inline401.map((o) => o.key)).toEqual([]);
  });

  it('declares the Idempotency-Key header on every POST, required where the route requires it', () => {
    const posts = operations(committed()).filter((o) => o.method === 'post');
    expect(posts.filter(({ op }) => !keyHeader(op)?.description).map((o) => o.key)).toEqual([]);
    const required = posts.filter(({ op }) => keyHeader(op)?.required).map((o) => o.key);
    expect(required.sort()).toEqual(
      [
        'POST /api/migrations/backups',
        'POST /api/migrations/backups/prune',
        'POST /api/migrations/backups/{id}/restore',
        'POST /api/migrations/run',
        'POST /api/reconcile',
        'POST /api/reconcile/bulk',
        'POST /api/schedules/{id}/trigger',
        'POST /api/secrets/rotate',
      ].sort(),
    );
    const others = operations(committed()).filter((o) => o.method !== 'post' && keyHeader(o.op));
    expect(others.map((o) => o.key)).toEqual([]);
  });

  it('derives the header from the route config, for any new route, without touching request validation', async () => {
    const app = Fastify();
    await app.register(openapi);
    const ok = { response: { 200: Type.Object({ ok: Type.Boolean() }), ...problemResponses } };
    app.post('/must', { config: { idempotency: { required: true } }, schema: ok }, async () => ({ ok: true }));
    app.post('/may', { schema: { ...ok, headers: Type.Object({ 'x-trace': Type.String() }) } }, async () => ({ ok: true }));
    app.get('/read', { schema: ok }, async () => ({ ok: true }));
    await app.ready();
    const doc = app.swagger() as unknown as OpenApiDocument;
    const op = (path: string, method: string) => doc.paths[path]![method] as Operation;
    expect(keyHeader(op('/must', 'post'))).toMatchObject({ required: true, description: expect.stringMatching(/^Required/) });
    expect(keyHeader(op('/may', 'post'))).toMatchObject({ required: false, description: expect.stringMatching(/^Optional/) });
    expect(op('/may', 'post').parameters?.map((p) => p.name)).toEqual(['x-trace', 'Idempotency-Key']);
    expect(keyHeader(op('/read', 'get'))).toBeUndefined();
    expect(op('/must', 'post').responses['429']).toEqual({ $ref: '#/components/responses/Problem429' });
    // Documentation only: the idempotency plugin (absent here) is what refuses a missing key.
    expect((await app.inject({ method: 'POST', url: '/must', headers: { 'x-other': '1' } })).statusCode).toBe(200);
    await app.close();
  });

  it('is under half its size before the shared Problem', () => {
    const bytes = statSync(OPENAPI_FILES.json).size;
    expect(bytes, `${bytes} bytes`).toBeLessThan(BYTES_BEFORE_SHARED_PROBLEM / 2);
  });
});

function isRef(schema: unknown): boolean {
  return JSON.stringify(schema) === JSON.stringify(PROBLEM_REF);
}
