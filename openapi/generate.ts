import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { Redis } from 'ioredis';
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript';
import { format, resolveConfig } from 'prettier';
import { buildApp } from '../api/app';
import { loadConfig } from '../infra/config';
import { createLogger } from '../infra/logger';
import { tenantDbName, type Mongo } from '../infra/mongo';
import { createTemporalClient } from '../infra/temporal';

// The API's OpenAPI document and the TypeScript types openapi-typescript makes from it, both
// committed under openapi/ (sdk/client.ts types its calls with them). test/unit/platform/
// openapi-files.test.ts fails when they differ from what the routes generate now.
// Run: npm run openapi:generate            (writes what differs)
//      npm run openapi:generate -- --check (writes nothing; exits 1 naming stale files)

export const OPENAPI_FILES = {
  json: fileURLToPath(new URL('./openapi.json', import.meta.url)),
  types: fileURLToPath(new URL('./schema.d.ts', import.meta.url)),
} as const;

/** An OpenAPI 3 document, as far as this module reads it. */
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

/**
 * Clients that never connect unless a request uses them: buildApp only wires them up, and
 * /docs/json touches none, so the document needs no running server.
 */
function idleClients(config: ReturnType<typeof loadConfig>) {
  const client = new MongoClient(config.MONGODB_URI, { serverSelectionTimeoutMS: 1_000 });
  const mongo: Mongo = {
    client,
    db: client.db(config.MONGODB_DB),
    tenantDb: (tenantId) => client.db(tenantDbName(tenantId)),
    close: () => client.close(),
  };
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  return { mongo, redis, temporal: createTemporalClient(config) };
}

/**
 * The document GET /docs/json serves, from an app built in-process. Config is the defaults only
 * (never the caller's environment), so every machine generates the same bytes.
 */
export async function buildOpenApiDocument(): Promise<OpenApiDocument> {
  const config = loadConfig({});
  const log = createLogger({ name: 'openapi', level: 'silent' });
  const clients = idleClients(config);
  const app = await buildApp({ config, log, ...clients, closeClients: true });
  try {
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    if (res.statusCode !== 200) throw new Error(`GET /docs/json answered ${res.statusCode}: ${res.body.slice(0, 200)}`);
    return res.json<OpenApiDocument>();
  } finally {
    // Redis with lazyConnect never connected: quit would wait for a connection, disconnect does not.
    clients.redis.disconnect();
    await app.close();
  }
}

/** Prettier with the project's settings, so the committed files pass `prettier --check .` as generated. */
async function prettier(text: string, file: string): Promise<string> {
  const options = (await resolveConfig(file)) ?? {};
  return format(text, { ...options, filepath: file });
}

/** The two files' contents for a document: the JSON as served, and openapi-typescript's `paths`, `components`… */
export async function renderOpenApiFiles(doc: OpenApiDocument): Promise<{ json: string; types: string }> {
  const json = await prettier(`${JSON.stringify(doc, null, 2)}\n`, OPENAPI_FILES.json);
  // Passed as an object, so openapi-typescript fetches nothing; it validates the document itself.
  const ast = await openapiTS(doc as unknown as OpenAPI3, { silent: true });
  const types = await prettier(`${COMMENT_HEADER}${astToString(ast)}`, OPENAPI_FILES.types);
  return { json, types };
}

/** The committed files (relative paths) that differ from `wanted`. */
export function staleOpenApiFiles(wanted: { json: string; types: string }): string[] {
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  };
  return (['json', 'types'] as const)
    .filter((k) => read(OPENAPI_FILES[k]) !== wanted[k])
    .map((k) => relative(process.cwd(), OPENAPI_FILES[k]));
}

async function main(argv: readonly string[]): Promise<number> {
  const wanted = await renderOpenApiFiles(await buildOpenApiDocument());
  const stale = staleOpenApiFiles(wanted);
  if (stale.length === 0) {
    process.stdout.write('openapi/openapi.json and openapi/schema.d.ts match the routes.\n');
    return 0;
  }
  if (argv.includes('--check')) {
    process.stderr.write(`Out of date with the routes: ${stale.join(', ')}. Run: npm run openapi:generate\n`);
    return 1;
  }
  writeFileSync(OPENAPI_FILES.json, wanted.json);
  writeFileSync(OPENAPI_FILES.types, wanted.types);
  process.stdout.write(`Wrote ${stale.join(', ')}\n`);
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
