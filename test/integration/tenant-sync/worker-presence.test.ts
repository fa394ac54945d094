import { beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { WorkflowNotFoundError } from '@temporalio/client';
import { createTemporalClient } from '../../../infra/temporal';
import { WorkflowIds } from '../../../shared/constants';
import { laneQueue } from '../../../shared/lanes';
import { registerMongoTenant } from '../../helpers/api';
import { startTestWorker, uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Worker-aware routing and readiness on the real server (issue 16 item 3): an app whose login
// queue nobody polls answers logins direct at once (no_worker, no Temporal call) and reports
// Temporal degraded with 0 pollers; with this file's worker polling, logins go through Temporal
// and readiness says ok. Presence is asked of the queue a login starts on (the interactive lane).

describe('worker presence: login routing and readiness', () => {
  const stack = useStack({ worker: true });
  let tenantId: string;
  const base = { USE_TEMPORAL_FOR_AUTH: true, SYNC_FRESHNESS_MS: 0, TEMPORAL_AUTH_TIMEOUT_MS: 10_000 } as const;
  const ensure = async (app: FastifyInstance) => {
    const t0 = performance.now();
    const res = await app.inject({
      method: 'POST',
      url: `/api/sync/tenants/${tenantId}/ensure`,
      headers: await stack.bearer(['sync:write'], [tenantId]),
    });
    const ms = performance.now() - t0;
    expect(res.statusCode, res.body).toBe(200);
    return { body: res.json(), ms };
  };
  const ready = async (app: FastifyInstance) => {
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().checks.temporal as { ok: boolean; status?: string; pollers?: number; taskQueue?: string };
  };
  const syncHealth = async (app: FastifyInstance) => {
    const res = await app.inject({ method: 'GET', url: '/api/sync/health', headers: await stack.bearer(['sync:read'], '*') });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const workflowExists = (id: string) =>
    stack.deps.temporal.client.workflow
      .getHandle(id)
      .describe()
      .then(
        () => true,
        (err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return false;
          throw err;
        },
      );

  beforeAll(async () => {
    tenantId = uniqueId('presence');
    const source = stack.deps.mongo.client.db(uniqueId('presence_src').replace(/-/g, '_'));
    await source.collection('users').insertOne({ _id: 'u1' as never, name: 'one', updatedAt: new Date() });
    // Registered through any app: every app of this file shares the platform database.
    const registrar = await stack.buildApp({ USE_TEMPORAL_FOR_AUTH: false });
    await registerMongoTenant(registrar, stack.deps, { tenantId, database: source.databaseName });
  });

  it('nobody polls the login queue: the first login goes direct (no_worker), the next in < 50 ms, readiness degraded with 0 pollers', async () => {
    const queue = uniqueId('tq-nobody');
    const app = await stack.buildApp({ ...base, TEMPORAL_TASK_QUEUE: queue });
    // The very first login waits (at most 200 ms) for the first describe, then goes direct.
    const first = await ensure(app);
    expect(first.body).toMatchObject({ syncMethod: 'direct', fallbackUsed: true, fallbackReason: 'no_worker', essentialReady: true });
    expect(first.body.workflowId).toBeUndefined();
    expect(first.ms).toBeLessThan(2_000);
    // With the answer cached, a login makes no Temporal call: it costs what a direct sync costs.
    // Other files run beside this one, so it is compared with direct logins made in turn with it
    // (the fastest of ten each, within 50 ms); the absolute < 50 ms median is in test/timing/.
    const direct = await stack.buildApp({ ...base, USE_TEMPORAL_FOR_AUTH: false, TEMPORAL_TASK_QUEUE: queue });
    const timed: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await ensure(app);
      expect(r.body).toMatchObject({ syncMethod: 'direct', fallbackReason: 'no_worker', essentialReady: true });
      timed.push(r.ms);
      plain.push((await ensure(direct)).ms);
    }
    const fmt = (xs: number[]) => xs.map((t) => t.toFixed(1)).join(', ');
    expect(Math.min(...timed), `no_worker ${fmt(timed)} ms; direct ${fmt(plain)} ms`).toBeLessThan(Math.min(...plain) + 50);
    expect(Math.max(...timed)).toBeLessThan(2_000); // never the 10 s deadline
    expect(await workflowExists(WorkflowIds.tenantSync(tenantId))).toBe(false);
    expect(await ready(app)).toMatchObject({ ok: true, status: 'degraded', pollers: 0, taskQueue: laneQueue(queue, 'interactive') });
    // The operator's view says it too.
    expect(await syncHealth(app)).toMatchObject({
      status: 'degraded',
      workers: { state: 'absent', pollers: 0, taskQueue: laneQueue(queue, 'interactive') },
    });
  });

  it("this file's worker polls: readiness ok with pollers ≥ 1, logins through Temporal", async () => {
    const app = await stack.buildApp(base);
    const queue = stack.deps.config.TEMPORAL_TASK_QUEUE;
    // The worker started moments ago: readiness describes again until its first poll shows.
    let temporal = await ready(app);
    for (let i = 0; i < 40 && temporal.status !== 'ok'; i++) {
      await new Promise((r) => setTimeout(r, 250));
      temporal = await ready(app);
    }
    expect(temporal).toMatchObject({ ok: true, status: 'ok', taskQueue: laneQueue(queue, 'interactive') });
    expect(temporal.pollers).toBeGreaterThanOrEqual(1);
    const { body } = await ensure(app);
    expect(body).toMatchObject({ syncMethod: 'temporal', fallbackUsed: false, essentialReady: true });
    const health = await syncHealth(app);
    expect(health.workers).toMatchObject({ state: 'present', taskQueue: laneQueue(queue, 'interactive') });
    expect(health.workers.pollers).toBeGreaterThanOrEqual(1);
    expect(body.fallbackReason).toBeUndefined();
  });

  it('presence is asked of the queue a login starts on: a worker without lanes serves an app without lanes only', async () => {
    const queue = uniqueId('tq-nolanes');
    const config = { ...stack.deps.config, TEMPORAL_TASK_QUEUE: queue, TEMPORAL_LANES: false };
    const worker = await startTestWorker({ ...stack.deps, config });
    // A process without lanes has a client without the lanes interceptor (infra/temporal.ts).
    const plainClient = createTemporalClient(config);
    try {
      const withLanes = await stack.buildApp({ ...base, TEMPORAL_TASK_QUEUE: queue });
      const withoutLanes = await stack.buildApp({ ...base, TEMPORAL_TASK_QUEUE: queue, TEMPORAL_LANES: false }, { temporal: plainClient });
      let plain = await ready(withoutLanes);
      for (let i = 0; i < 40 && plain.status !== 'ok'; i++) {
        await new Promise((r) => setTimeout(r, 250));
        plain = await ready(withoutLanes);
      }
      expect(plain).toMatchObject({ status: 'ok', taskQueue: queue });
      expect(await ready(withLanes)).toMatchObject({ status: 'degraded', pollers: 0, taskQueue: laneQueue(queue, 'interactive') });
      expect((await ensure(withLanes)).body).toMatchObject({ syncMethod: 'direct', fallbackReason: 'no_worker' });
      expect((await ensure(withoutLanes)).body).toMatchObject({ syncMethod: 'temporal', fallbackUsed: false });
    } finally {
      await worker.stop();
      await plainClient.close();
    }
  });

  it('WORKER_PRESENCE_TTL_MS=0: not checked — a login on an unpolled queue waits for the deadline, readiness as before', async () => {
    const app = await stack.buildApp({
      ...base,
      TEMPORAL_TASK_QUEUE: uniqueId('tq-unchecked'),
      TEMPORAL_AUTH_TIMEOUT_MS: 300,
      WORKER_PRESENCE_TTL_MS: 0,
    });
    const { body } = await ensure(app);
    expect(body).toMatchObject({ syncMethod: 'direct', fallbackReason: 'timeout' });
    // The start went through to a queue nobody polls: end that run.
    await stack.deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId)).terminate('test over');
    const temporal = await ready(app);
    expect(temporal.ok).toBe(true);
    expect(temporal.status).toBeUndefined();
    expect(temporal.pollers).toBeUndefined();
  });
});
