import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument, renderOpenApiFiles, staleOpenApiFiles } from '../../../openapi/generate';

// The committed openapi/openapi.json and openapi/schema.d.ts are what the routes generate now:
// a route change without `npm run openapi:generate` fails here (and sdk/client.ts's types would lag).

describe('committed OpenAPI files', () => {
  it('match the document the app serves and the types openapi-typescript makes from it', async () => {
    const doc = await buildOpenApiDocument();
    expect(Object.keys(doc.paths)).toContain('/api/sync/tenants/{tenantId}/ensure');
    const stale = staleOpenApiFiles(await renderOpenApiFiles(doc));
    expect(stale, 'out of date with the routes: run `npm run openapi:generate` and commit openapi/').toEqual([]);
  }, 60_000);
});
