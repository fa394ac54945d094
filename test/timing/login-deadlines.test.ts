import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { startFixtureUpstream, type FixtureUpstream } from '../../fixtures/upstream/server';
import { freePort } from '../../infra/dev/servers';
import { createTemporalClient } from '../../infra/temporal';
import type { AppConfig } from '../../infra/config';
import { bearer, buildTestApp } from '../helpers/api';
import { connectTestDeps, startTestWorker, uniqueId, type TestDeps, type TestWorker } from '../helpers/stack';

// Deadline assertions of the login path. They measure wall-clock time, so they run in their own
// vitest project after every other integration file, one at a time, on a quiet machine.

const COLLECTIONS = [
  { name: 'users', essential: true, size: 10 },
  { name: 'roles', essential: true, size: 10 },
  { name: 'settings', essential: true, size: 10 },
  { name: 'audit', essential: false, size: 10 },
];

describe('login deadlines', () => {
  let deps: TestDeps;
  let worker: TestWorker;
  let upstream: FixtureUpstream;
  let admin: Record<string, string>;
  let syncer: Record<string, string>;
  const apps: FastifyInstance[] = [];

  const app = async (overrides: Partial<AppConfig> = {}, extra: Parameters<typeof buildTestApp>[2] = {}) => {
    const a = await buildTestApp(deps, { SYNC_FRESHNESS_MS: 0, TEMPORAL_AUTH_TIMEOUT_MS: 10_000, ...overrides }, extra);
    apps.push(a);
    return a;
  };

  async function registerTenant(a: FastifyInstance, opts: { collections?: typeof COLLECTIONS } = {}): Promise<string> {
    const tenantId = uniqueId('t');
    const cols = opts.collections ?? COLLECTIONS;
    upstream.seedTenant(tenantId, { collections: Object.fromEntries(cols.map((c) => [c.name, c.size])) });
    const res = await a.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: admin,
      payload: { tenantId, name: tenantId, source: { kind: 'http', settings: { baseUrl: upstream.baseUrl(tenantId), timeoutMs: 5_000 } }, collections: cols.map(({ name, essential }) => ({ name, essential })) },
    });
    expect(res.statusCode).toBe(201);
    return tenantId;
  }

  const ensure = (a: FastifyInstance, tenantId: string) => a.inject({ method: 'POST', url: `/api/sync/tenants/${tenantId}/ensure`, headers: syncer });

  beforeAll(async () => {
    deps = await connectTestDeps();
    worker = await startTestWorker(deps);
    upstream = await startFixtureUpstream();
    admin = await bearer(deps, ['admin']);
    syncer = await bearer(deps, ['sync:write', 'sync:read']);
  });
  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.close()));
    await worker?.stop();
    await upstream?.close();
    await deps?.close();
  });

  it('Temporal unreachable → direct fallback within the timeout + 500 ms', async () => {
    const dead = createTemporalClient({ TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`, TEMPORAL_NAMESPACE: 'default' });
    const a = await app({ USE_TEMPORAL_FOR_AUTH: true, TEMPORAL_AUTH_TIMEOUT_MS: 800 }, { temporal: dead });
    // Small collections: the assertion is about the fallback's deadline, not the sync's size.
    const tenantId = await registerTenant(a);
    const t0 = Date.now();
    const body = (await ensure(a, tenantId)).json();
    const elapsed = Date.now() - t0;
    expect(body).toMatchObject({ syncMethod: 'direct', fallbackUsed: true, essentialReady: true });
    expect(['unavailable', 'timeout']).toContain(body.fallbackReason);
    expect(elapsed).toBeLessThan(800 + 500);
    // `dead` stays open: closing it while the SDK's retry timer is pending throws from a timer.
  });

  it('the breaker opens after the configured failures and closes after recovery', async () => {
    const queue = uniqueId('tq-breaker');
    const a = await app({ USE_TEMPORAL_FOR_AUTH: true, TEMPORAL_TASK_QUEUE: queue, TEMPORAL_AUTH_TIMEOUT_MS: 1_000, TEMPORAL_BREAKER_FAILURES: 3, TEMPORAL_BREAKER_RESET_MS: 1_000 });
    const tenantId = await registerTenant(a);
    const reasons: string[] = [];
    for (let i = 0; i < 3; i++) reasons.push((await ensure(a, tenantId)).json().fallbackReason);
    expect(reasons).toEqual(['timeout', 'timeout', 'timeout']);
    const health = (await a.inject({ method: 'GET', url: '/api/sync/health', headers: syncer })).json();
    expect(health.breaker.state).toBe('open');
    expect(health.status).toBe('degraded');
    const t0 = Date.now();
    const open = (await ensure(a, tenantId)).json();
    expect(open).toMatchObject({ fallbackUsed: true, fallbackReason: 'circuit_open', essentialReady: true });
    expect(Date.now() - t0).toBeLessThan(1_000); // no wait for the Temporal deadline
    const late = await startTestWorker({ ...deps, config: { ...deps.config, TEMPORAL_TASK_QUEUE: queue } });
    try {
      await new Promise((r) => setTimeout(r, 1_100));
      const probe = (await ensure(a, tenantId)).json();
      expect(probe).toMatchObject({ syncMethod: 'temporal', fallbackUsed: false });
      expect((await a.inject({ method: 'GET', url: '/api/sync/health', headers: syncer })).json().breaker.state).toBe('closed');
    } finally {
      await late.stop();
    }
  });

});
