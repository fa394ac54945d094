import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { freePort } from '../../../infra/dev/servers';
import { promSum } from '../../../infra/dev/prom-text';
import { MetricNames } from '../../../infra/metrics';
import { Collections } from '../../../infra/mongo';
import { createRedis, type Redis } from '../../../infra/redis';
import { startTelemetry, type Telemetry } from '../../../infra/telemetry';
import { loginQueueOf } from '../../../api/services/tenant-sync/worker-presence';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// The API metrics the alert rules read that no request path counts by itself, read from the real
// stores and the real Temporal server at scrape time: a stuck sync run, a terminated workflow (a
// dead letter), the worker polling the login queue, no reconcile running; and the idempotency
// store's errors counted when its Redis is away.

/** Sum of the samples of exactly `name` carrying these labels; undefined when there is none. */
const valueOf = promSum;

describe('API gauges and counters behind the alert rules', () => {
  const stack = useStack({ worker: true });
  const redises: Redis[] = [];
  let telemetry: Telemetry;
  let app: FastifyInstance;
  const probeType = 'alertMetricsUnknownWorkflow';
  let text = '';

  const scrape = async () => {
    const res = await app.inject({ method: 'GET', url: '/health/metrics' });
    expect(res.statusCode).toBe(200);
    return res.body;
  };

  beforeAll(async () => {
    telemetry = await startTelemetry({ serviceName: 'test' });
    const { deps } = stack;
    app = await stack.buildApp({}, { telemetry });

    // A sync run that started an hour ago and never marked progress: stuck by SYNC_STUCK_AFTER_MS.
    await deps.mongo.db.collection(Collections.syncRuns).insertOne({
      _id: uniqueId('run') as never,
      tenantId: uniqueId('stuck-tenant'),
      state: 'running',
      method: 'temporal',
      startedAt: new Date(Date.now() - 3_600_000),
      collections: [],
    });
    // A workflow terminated before its first task (delayed start: no worker ever sees it): a dead letter.
    const handle = await deps.temporal.client.workflow.start(probeType, {
      taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
      workflowId: uniqueId('dead-letter'),
      startDelay: '1 hour',
    });
    await handle.terminate('alert-metrics test');

    // A second app whose Redis is away: a keyed POST fails to claim its key (503) and is counted.
    const dead = createRedis({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    redises.push(dead);
    const down = await stack.buildApp({}, { redis: dead });
    const admin = await stack.bearer(['admin'], '*');
    const r = await down.inject({
      method: 'POST',
      url: '/api/migrations/run',
      headers: { ...admin, 'idempotency-key': uniqueId('k') },
      payload: { dryRun: true },
    });
    expect(r.statusCode, r.body).toBe(503);

    // Visibility may lag the terminate, and the failed-runs reading is reused for 60 s: scrape until it shows.
    const until = Date.now() + 80_000;
    do {
      text = await scrape();
      if (valueOf(text, MetricNames.failedRuns, { workflow_type: probeType }) === 1) break;
      await new Promise((res) => setTimeout(res, 2_000));
    } while (Date.now() < until);
  }, 150_000);
  afterAll(async () => {
    redises.forEach((r) => r.disconnect());
    await telemetry?.shutdown();
  });

  it('counts the stuck sync run as stuck, not active', () => {
    expect(valueOf(text, MetricNames.syncStuck), text.slice(0, 3000)).toBe(1);
    expect(valueOf(text, MetricNames.syncActive)).toBe(0);
  });

  it('lists the terminated workflow among the failed runs, by type', () => {
    expect(valueOf(text, MetricNames.failedRuns, { workflow_type: probeType })).toBe(1);
  });

  it('sees the worker polling the login task queue', () => {
    const q = loginQueueOf(stack.deps.config);
    expect(valueOf(text, MetricNames.workerPollers, { task_queue: q })).toBeGreaterThanOrEqual(1);
  });

  it('reports no reconcile batch running and none stalled', () => {
    expect(valueOf(text, MetricNames.reconcileBatchesRunning)).toBe(0);
    expect(valueOf(text, MetricNames.reconcileBatchStalled)).toBe(0);
  });

  it('counts the failed idempotency claim, and reports the heap share of its limit', () => {
    expect(valueOf(text, MetricNames.idempotencyStoreErrors, { operation: 'claim' })).toBeGreaterThanOrEqual(1);
    const heap = valueOf(text, MetricNames.heapUsage)!;
    expect(heap).toBeGreaterThan(0);
    expect(heap).toBeLessThan(1);
  });
});
