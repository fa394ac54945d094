import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { startFixtureUpstream, type FixtureUpstream } from '../../../fixtures/upstream/server';
import { WorkflowIds } from '../../../shared/constants';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';
import { startWorkerProcess, type WorkerProcess } from '../../helpers/worker-process';

// The worker draining on SIGTERM, as a rollout or Ctrl-C delivers it: it stops polling, lets the
// activity in flight finish within SHUTDOWN_TIMEOUT_MS (the SDK's grace time; its own default of
// 10 s would cancel this one), exits 0 — and a
// worker started after it finishes the workflow from there, without redoing the finished activity.

describe('worker shutdown', () => {
  const stack = useStack({});
  let upstream: FixtureUpstream;
  let app: FastifyInstance;
  const workers: WorkerProcess[] = [];
  const env = () => ({
    SHUTDOWN_TIMEOUT_MS: '14000',
    ...(stack.deps.config.SECRETS_KEY ? { SECRETS_KEY: stack.deps.config.SECRETS_KEY } : {}),
  });
  const start = async () => {
    const w = await startWorkerProcess(stack.deps.config, env());
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    upstream = await startFixtureUpstream();
    app = await stack.buildApp({ USE_TEMPORAL_FOR_AUTH: true, SYNC_FRESHNESS_MS: 0, TEMPORAL_AUTH_TIMEOUT_MS: 20_000 });
  });
  afterAll(async () => {
    await Promise.allSettled(workers.map((w) => w.stop()));
    await upstream?.close();
  });

  it('SIGTERM with an activity in flight: it finishes, the worker exits 0, the next worker completes the run', async () => {
    const tenantId = uniqueId('drain');
    upstream.seedTenant(tenantId, { collections: { users: 5, audit: 5 }, token: `tok-${tenantId}` });
    const reg = await app.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: await stack.bearer(['admin']),
      payload: {
        tenantId,
        name: tenantId,
        source: { kind: 'http', settings: { baseUrl: upstream.baseUrl(tenantId), token: `tok-${tenantId}`, timeoutMs: 20_000 } },
        collections: [
          { name: 'users', essential: true },
          { name: 'audit', essential: false },
        ],
      },
    });
    expect(reg.statusCode, reg.body).toBe(201);
    // Longer than the SDK's default grace (10 s): only SHUTDOWN_TIMEOUT_MS lets it finish.
    upstream.setLatency(tenantId, 'audit', 11_000);

    const first = await start();
    const login = await app.inject({
      method: 'POST',
      url: `/api/sync/tenants/${tenantId}/ensure`,
      headers: await stack.bearer(['sync:write'], [tenantId]),
    });
    expect(login.statusCode, login.body).toBe(200);
    expect(login.json()).toMatchObject({ syncMethod: 'temporal', essentialReady: true });

    // The non-essential collection's activity is under way (its first page is being served slowly).
    const end = Date.now() + 15_000;
    while (upstream.requestCount(tenantId, 'audit') === 0) {
      if (Date.now() > end) throw new Error('the audit activity never started');
      await new Promise((r) => setTimeout(r, 50));
    }
    const signalled = Date.now();
    first.kill('SIGTERM');
    expect(await first.exited, first.output().slice(-3000)).toBe(0);
    const took = Date.now() - signalled;
    expect(took).toBeGreaterThan(9_000); // it waited for the activity…
    expect(took).toBeLessThan(14_000 + 5_000); // …within its budget
    expect(first.output()).toContain('shutdown complete');
    const served = upstream.recordsServed(tenantId, 'audit');
    expect(served).toBe(5); // the activity finished on the draining worker

    // Nothing polls now: the run waits, then the next worker finishes it from where it stood.
    const handle = stack.deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId));
    expect((await handle.describe()).status.name).toBe('RUNNING');
    upstream.setLatency(tenantId, 'audit', 0);
    await start();
    await handle.result();
    expect(upstream.recordsServed(tenantId, 'audit')).toBe(served);
  });
});
