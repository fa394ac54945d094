import { readFileSync } from 'node:fs';
import { compileErrors, validate } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';
import { OPENAPI_FILES, type OpenApiDocument } from '../../../openapi/generate';

// The committed document (equal to what the routes serve: openapi-files.test.ts) validates with
// @readme/openapi-parser: the OpenAPI 3.0 JSON Schema plus the rules a schema cannot state
// (path parameters declared, no duplicate parameters or operationIds, valid component names).

const committed = () => JSON.parse(readFileSync(OPENAPI_FILES.json, 'utf8')) as OpenApiDocument;
/** The parser's own document type (it mutates what it is given: pass a copy). */
const forParser = (doc: OpenApiDocument) => structuredClone(doc) as unknown as Parameters<typeof validate>[0];

interface Operation {
  parameters?: Array<{ in: string; name: string }>;
  responses: Record<string, unknown>;
}
const operations = (doc: OpenApiDocument) =>
  Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op: op as Operation })));

describe('OpenAPI document', () => {
  it('is valid OpenAPI 3 with no warnings', async () => {
    const doc = committed();
    expect(doc.openapi).toMatch(/^3\./);
    const result = await validate(forParser(doc));
    expect(result.valid ? '' : compileErrors(result)).toBe('');
    expect(result.warnings).toEqual([]);
  });

  it('is refused once a path parameter goes undeclared (the validator checks more than the schema)', async () => {
    const doc = structuredClone(committed());
    const op = doc.paths['/api/sync/tenants/{tenantId}/ensure']!.post as Operation;
    op.parameters = (op.parameters ?? []).filter((p) => p.in !== 'path');
    const result = await validate(forParser(doc));
    expect(result.valid).toBe(false);
  });

  it('documents a 2xx answer and the 401 problem for every /api operation', () => {
    const bad = operations(committed())
      .filter(({ path }) => path.startsWith('/api/'))
      .filter(({ op }) => !Object.keys(op.responses).some((s) => /^2\d\d$/.test(s)) || !('401' in op.responses))
      .map(({ method, path }) => `${method.toUpperCase()} ${path}`);
    expect(bad).toEqual([]);
  });
});
