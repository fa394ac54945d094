import { describe, expect, it } from 'vitest';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Db } from 'mongodb';
import { createReconcileStore } from '../../../activities/reconcile/store';
import { createLogger } from '../../../infra/logger';
import { WorkflowIds } from '../../../shared/constants';
import { ensureSchedules } from '../../../workers/schedules';
import { registerMongoTenant } from '../../helpers/api';
import { startApiProcess } from '../../helpers/api-process';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Pause and resume a kind of work across two API apps over one database: while paused, new
// starts of that kind (and only that kind) are refused with a 503 naming the pause and who set it,
// running executions carry on, the pause shows in /api/sync/health, and pausing cleanup pauses
// the task queue's schedules — resuming unpauses only those the pause paused. No worker polls
// the file's queue here: started runs stay running.

type Headers = Record<string, string>;

describe('work pauses', () => {
  const stack = useStack({});
  let one: FastifyInstance;
  let two: FastifyInstance;
  let data: Db;
  let root: Headers;
  let tenantId: string;

  const setup = async () => {
    if (one) return;
    [one, two] = [await stack.buildApp(), await stack.buildApp()];
    root = await stack.bearer(['admin'], '*', 'ops-alice');
    data = stack.deps.mongo.client.db(uniqueId('pause').replace(/-/g, '_'));
    await data.collection('users').insertOne({ _id: 'u1' as never, n: 1, updatedAt: new Date() });
    tenantId = uniqueId('p');
    await registerMongoTenant(one, stack.deps, { tenantId, database: data.databaseName });
  };
  const post = (app: FastifyInstance, url: string, payload?: object, headers: Headers = root) =>
    app.inject({ method: 'POST', url, headers: { ...headers, 'idempotency-key': uniqueId('k') }, ...(payload ? { payload } : {}) });
  const reconcile = (app: FastifyInstance, batchId = uniqueId('pb')) =>
    post(app, '/api/reconcile', { batchId, source: { kind: 'tenant', tenantId, collection: 'users' }, options: { dryRun: true } });
  const expectPaused = (res: LightMyRequestResponse, kind: string, reason: string) => {
    expect(res.statusCode, res.body).toBe(503);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ type: 'urn:sync-orchestrator:problem:work-paused', kind, pausedBy: 'ops-alice', reason });
    expect(res.json().detail).toContain('ops-alice');
  };
  const exists = async (workflowId: string) => {
    try {
      return (await stack.deps.temporal.client.workflow.getHandle(workflowId).describe()).status.name;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  };

  it('a reconcile pause refuses new batches in every API app, only reconcile, and lets the running one run', async () => {
    await setup();
    const running = uniqueId('pb');
    expect((await reconcile(one, running)).statusCode).toBe(202);

    const paused = await post(one, '/api/ops/work/reconcile/pause', { reason: 'incident 42' });
    expect(paused.statusCode, paused.body).toBe(200);
    expect(paused.json()).toMatchObject({ kind: 'reconcile', pausedBy: 'ops-alice', reason: 'incident 42', created: true });
    // Pausing again keeps the first pause (who, why, when).
    const again = await post(two, '/api/ops/work/reconcile/pause', { reason: 'other' }, await stack.bearer(['admin'], '*', 'ops-bob'));
    expect(again.json()).toMatchObject({ pausedBy: 'ops-alice', reason: 'incident 42', created: false });

    const refusedId = uniqueId('pb');
    expectPaused(await reconcile(two, refusedId), 'reconcile', 'incident 42');
    expect(await createReconcileStore(stack.deps.mongo.db).getBatch(refusedId)).toBeNull();
    expect(await exists(WorkflowIds.reconcile(refusedId))).toBeUndefined();
    // A repeat of the batch already started is the same work: it still answers.
    expect((await reconcile(two, running)).statusCode).toBe(202);
    expect(await exists(WorkflowIds.reconcile(running))).toBe('RUNNING');

    // Other kinds still start.
    const clients = await post(two, '/api/clients/sync', { keys: [uniqueId('c')] });
    expect(clients.statusCode, clients.body).toBe(202);
    const health = await two.inject({ method: 'GET', url: '/api/sync/health', headers: root });
    expect(health.json().pauses).toEqual([expect.objectContaining({ kind: 'reconcile', pausedBy: 'ops-alice' })]);

    const resumed = await post(two, '/api/ops/work/reconcile/resume');
    expect(resumed.json()).toMatchObject({ kind: 'reconcile', resumed: true });
    expect((await post(one, '/api/ops/work/reconcile/resume')).json()).toMatchObject({ resumed: false });
    expect((await reconcile(one, refusedId)).statusCode).toBe(202);
    expect((await one.inject({ method: 'GET', url: '/api/sync/health', headers: root })).json().pauses).toEqual([]);
    for (const id of [running, refusedId]) await stack.deps.temporal.client.workflow.getHandle(WorkflowIds.reconcile(id)).terminate('test');
    await stack.deps.temporal.client.workflow.getHandle(clients.json().workflowId as string).terminate('test');
  });

  it('a real second API process honours a pause set through the first, and its resume', async () => {
    await setup();
    const other = await startApiProcess(stack.deps.config);
    try {
      const start = (batchId: string) =>
        fetch(`${other.url}/api/reconcile`, {
          method: 'POST',
          headers: { ...root, 'content-type': 'application/json', 'idempotency-key': uniqueId('k') },
          body: JSON.stringify({ batchId, source: { kind: 'tenant', tenantId, collection: 'users' }, options: { dryRun: true } }),
        });
      expect((await post(one, '/api/ops/work/reconcile/pause', { reason: 'cross-process' })).statusCode).toBe(200);
      const refused = await start(uniqueId('pb'));
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({ kind: 'reconcile', pausedBy: 'ops-alice', reason: 'cross-process' });
      // Resumed through the other process: the first app starts again.
      const resumed = await fetch(`${other.url}/api/ops/work/reconcile/resume`, { method: 'POST', headers: root });
      expect(await resumed.json()).toMatchObject({ kind: 'reconcile', resumed: true });
      const batchId = uniqueId('pb');
      expect((await reconcile(one, batchId)).statusCode).toBe(202);
      await stack.deps.temporal.client.workflow.getHandle(WorkflowIds.reconcile(batchId)).terminate('test');
    } finally {
      await other.stop();
    }
  });

  it('client upsert and migration pauses refuse their own starts', async () => {
    await setup();
    expect((await post(one, '/api/ops/work/client-upsert/pause', { reason: 'config freeze' })).statusCode).toBe(200);
    expect((await post(one, '/api/ops/work/migrations/pause', { reason: 'release' })).statusCode).toBe(200);
    expectPaused(await post(two, '/api/clients/sync', { keys: [uniqueId('c')] }), 'client-upsert', 'config freeze');
    expectPaused(await post(two, '/api/migrations/run', { dryRun: true }), 'migrations', 'release');
    expect((await post(two, '/api/ops/work/client-upsert/resume')).json().resumed).toBe(true);
    expect((await post(two, '/api/ops/work/migrations/resume')).json().resumed).toBe(true);
    const run = await post(two, '/api/migrations/run', { dryRun: true });
    expect(run.statusCode, run.body).toBe(202);
    await stack.deps.temporal.client.workflow.getHandle(run.json().workflowId as string).terminate('test');
  });

  it("a cleanup pause pauses the queue's schedules and refuses triggers; resume unpauses only those it paused", async () => {
    await setup();
    const log = createLogger({ name: 'test', level: 'silent' });
    const made = await ensureSchedules({ client: stack.deps.temporal.client, config: stack.deps.config, log });
    const ids = [...made.created, ...made.updated];
    expect(ids.length).toBeGreaterThan(1);
    const operators = ids[0]!;
    await stack.deps.temporal.client.schedule.getHandle(operators).pause('operator: investigating');

    const paused = await post(one, '/api/ops/work/cleanup/pause', { reason: 'db maintenance' });
    expect(paused.statusCode, paused.body).toBe(200);
    expect([...paused.json().schedules].sort()).toEqual(ids.slice(1).sort());
    for (const id of ids) expect((await stack.deps.temporal.client.schedule.getHandle(id).describe()).state.paused, id).toBe(true);
    expectPaused(await post(two, `/api/schedules/${encodeURIComponent(ids[1]!)}/trigger`, {}), 'cleanup', 'db maintenance');

    const resumed = await post(two, '/api/ops/work/cleanup/resume');
    expect([...resumed.json().schedules].sort()).toEqual(ids.slice(1).sort());
    const states = await Promise.all(ids.map(async (id) => (await stack.deps.temporal.client.schedule.getHandle(id).describe()).state));
    expect(states[0]).toMatchObject({ paused: true, note: 'operator: investigating' });
    for (const s of states.slice(1)) expect(s.paused).toBe(false);
    for (const id of ids) await stack.deps.temporal.client.schedule.getHandle(id).delete();
  });

  it('bad input: an unknown kind or a missing reason is a 400 and pauses nothing; logins cannot be paused', async () => {
    await setup();
    for (const [url, payload] of [
      ['/api/ops/work/tenant-sync/pause', { reason: 'x' }],
      ['/api/ops/work/everything/pause', { reason: 'x' }],
      ['/api/ops/work/reconcile/pause', {}],
      ['/api/ops/work/reconcile/pause', { reason: '' }],
    ] as const) {
      const res = await post(one, url, payload);
      expect(res.statusCode, `${url} ${res.body}`).toBe(400);
    }
    expect((await one.inject({ method: 'GET', url: '/api/sync/health', headers: root })).json().pauses).toEqual([]);
  });
});
