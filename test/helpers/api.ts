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
