import { expect } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { startFixtureUpstream, type FixtureUpstream } from '../../fixtures/upstream/server';
import type { AppConfig } from '../../infra/config';
import { bearer, buildTestApp } from './api';
import { connectTestDeps, startTestWorker, uniqueId, type TestDeps, type TestWorker } from './stack';

// One login-sync test bench: real clients, a worker, the fixture upstream, tokens, and apps
// built with per-test config. Shared by the tenant-sync and login-deadline files.

export interface CollectionSpec {
  name: string;
  essential: boolean;
  size: number;
}

export interface LoginBench {
  deps: TestDeps;
  upstream: FixtureUpstream;
  admin: Record<string, string>;
  syncer: Record<string, string>;
  app(overrides?: Partial<AppConfig>, extra?: Parameters<typeof buildTestApp>[2]): Promise<FastifyInstance>;
  registerTenant(a: FastifyInstance, collections: readonly CollectionSpec[]): Promise<string>;
  ensure(a: FastifyInstance, tenantId: string): Promise<Awaited<ReturnType<FastifyInstance['inject']>>>;
  close(): Promise<void>;
}

/** `workerOptions`: extra worker options (e.g. a test migration registry). */
export async function startLoginBench(workerOptions: Parameters<typeof startTestWorker>[1] = {}): Promise<LoginBench> {
  const deps = await connectTestDeps();
  const worker: TestWorker = await startTestWorker(deps, workerOptions);
  const upstream = await startFixtureUpstream();
  const admin = await bearer(deps, ['admin']);
  const syncer = await bearer(deps, ['sync:write', 'sync:read']);
  const apps: FastifyInstance[] = [];
  return {
    deps,
    upstream,
    admin,
    syncer,
    async app(overrides = {}, extra = {}) {
      const a = await buildTestApp(deps, { SYNC_FRESHNESS_MS: 0, TEMPORAL_AUTH_TIMEOUT_MS: 10_000, ...overrides }, extra);
      apps.push(a);
      return a;
    },
    async registerTenant(a, cols) {
      const tenantId = uniqueId('t');
      upstream.seedTenant(tenantId, { collections: Object.fromEntries(cols.map((c) => [c.name, c.size])), token: `tok-${tenantId}` });
      const res = await a.inject({
        method: 'POST',
        url: '/api/tenants',
        headers: admin,
        payload: {
          tenantId,
          name: `Tenant ${tenantId}`,
          source: { kind: 'http', settings: { baseUrl: upstream.baseUrl(tenantId), token: `tok-${tenantId}`, timeoutMs: 5_000 } },
          collections: cols.map(({ name, essential }) => ({ name, essential })),
        },
      });
      expect(res.statusCode).toBe(201);
      return tenantId;
    },
    ensure: async (a, tenantId) => a.inject({ method: 'POST', url: `/api/sync/tenants/${tenantId}/ensure`, headers: syncer }),
    async close() {
      await Promise.allSettled(apps.map((a) => a.close()));
      await worker.stop();
      await upstream.close();
      await deps.close();
    },
  };
}
