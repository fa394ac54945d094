import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { mintToken } from '../../infra/auth-token';
import type { AppConfig } from '../../infra/config';
import type { TestDeps } from './stack';

/** The real app over the file's real clients, with config overrides. */
export function buildTestApp(
  deps: TestDeps,
  overrides: Partial<AppConfig> = {},
  extra: Partial<Parameters<typeof buildApp>[0]> = {},
): Promise<FastifyInstance> {
  return buildApp({
    config: { ...deps.config, ...overrides },
    log: deps.log,
    mongo: deps.mongo,
    redis: deps.redis,
    temporal: deps.temporal,
    ...extra,
  });
}

export async function bearer(
  deps: TestDeps,
  scopes: string[],
  tenants: string[] | '*' = '*',
  sub = 'test-user',
): Promise<Record<string, string>> {
  const token = await mintToken(deps.config.AUTH_JWT_SECRET, { sub, scopes, tenants, ttlSeconds: 600 });
  return { authorization: `Bearer ${token}` };
}

export interface MongoTenant {
  tenantId: string;
  /** The upstream: a database on the file's own MongoDB server. */
  database: string;
  /** Collection names (`users` is essential) or plans. @default ['users'] */
  collections?: ReadonlyArray<string | { name: string; essential: boolean }>;
  /** More registry fields (fairnessWeight, quotas…). */
  extra?: Record<string, unknown>;
  /** The tenant is registered already: this re-registers it (an update, 200). */
  existing?: boolean;
}

/**
 * Registers a tenant whose upstream is a database on the file's MongoDB (POST /api/tenants as
 * admin on '*'); expects 201 (200 with `existing`) and answers the tenant view.
 */
export async function registerMongoTenant(app: FastifyInstance, deps: TestDeps, t: MongoTenant): Promise<Record<string, unknown>> {
  const collections = (t.collections ?? ['users']).map((c) => (typeof c === 'string' ? { name: c, essential: c === 'users' } : c));
  const res = await app.inject({
    method: 'POST',
    url: '/api/tenants',
    headers: await bearer(deps, ['admin'], '*'),
    payload: {
      tenantId: t.tenantId,
      name: t.tenantId,
      source: { kind: 'mongodb', settings: { uri: deps.config.MONGODB_URI, database: t.database } },
      collections,
      ...t.extra,
    },
  });
  if (res.statusCode !== (t.existing ? 200 : 201)) throw new Error(`registering ${t.tenantId}: ${res.statusCode} ${res.body}`);
  return res.json() as Record<string, unknown>;
}
