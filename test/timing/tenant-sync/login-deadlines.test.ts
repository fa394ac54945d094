import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { freePort } from '../../../infra/dev/servers';
import { createTemporalClient } from '../../../infra/temporal';
import { startTestWorker, uniqueId, type TestDeps } from '../../helpers/stack';
import { startLoginBench, type LoginBench } from '../../helpers/login';

// Deadline assertions of the login path. They measure wall-clock time, so they run in their own
// vitest project after every other integration file, one at a time, on a quiet machine.

const COLLECTIONS = [
  { name: 'users', essential: true, size: 10 },
  { name: 'roles', essential: true, size: 10 },
  { name: 'settings', essential: true, size: 10 },
  { name: 'audit', essential: false, size: 10 },
];

describe('login deadlines', () => {
  let bench: LoginBench;
  const app: LoginBench['app'] = (o, e) => bench.app(o, e);
  const registerTenant = (a: FastifyInstance) => bench.registerTenant(a, COLLECTIONS);
  const ensure = (a: FastifyInstance, tenantId: string) => bench.ensure(a, tenantId);
  let deps: TestDeps;
  let syncer: Record<string, string>;
  beforeAll(async () => {
    bench = await startLoginBench();
    deps = bench.deps;
    syncer = bench.syncer;
  });
  afterAll(async () => bench?.close());

  it('Temporal unreachable → direct fallback within the timeout + 500 ms, then the breaker opens', async () => {
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
    // The breaker opens at once on `unavailable`, after TEMPORAL_BREAKER_FAILURES (5) in a row on
    // `timeout`; from then on logins go direct without waiting for Temporal.
    const reasons: string[] = [body.fallbackReason];
    while (reasons.length <= 5 && reasons.at(-1) !== 'circuit_open') reasons.push((await ensure(a, tenantId)).json().fallbackReason);
    const opened = reasons.indexOf('circuit_open');
    expect(opened, reasons.join()).toBeGreaterThan(0);
    expect(
      reasons.slice(0, opened).every((r) => r === 'timeout' || r === 'unavailable'),
      reasons.join(),
    ).toBe(true);
    if (reasons[0] === 'unavailable') expect(opened).toBe(1);
    const t1 = Date.now();
    expect((await ensure(a, tenantId)).json()).toMatchObject({ fallbackReason: 'circuit_open', essentialReady: true });
    expect(Date.now() - t1).toBeLessThan(800);
    // `dead` stays open: closing it while the SDK's retry timer is pending throws from a timer.
  });

  it('the breaker opens after the configured failures and closes after recovery', async () => {
    const queue = uniqueId('tq-breaker');
    const a = await app({
      USE_TEMPORAL_FOR_AUTH: true,
      TEMPORAL_TASK_QUEUE: queue,
      TEMPORAL_AUTH_TIMEOUT_MS: 1_000,
      TEMPORAL_BREAKER_FAILURES: 3,
      TEMPORAL_BREAKER_RESET_MS: 1_000,
      // Nobody polls this queue on purpose (the timeouts): without the presence check, which
      // would answer no_worker at once (test/integration/tenant-sync/worker-presence.test.ts).
      WORKER_PRESENCE_TTL_MS: 0,
    });
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
