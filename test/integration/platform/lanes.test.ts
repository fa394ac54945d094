import { afterAll, describe, expect, it } from 'vitest';
import type { Db } from 'mongodb';
import { CleanupNames, CleanupTargets, type CleanupWorkflow } from '../../../shared/cleanup';
import { WorkflowIds } from '../../../shared/constants';
import { laneQueues } from '../../../shared/lanes';
import type { SyncRunRecord } from '../../../shared/tenant-sync';
import { registerMongoTenant } from '../../helpers/api';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Lanes (shared/lanes.ts): capacity held back per kind of work, on the real server. The file's
// worker has ONE main-lane activity slot, and a cleanup activity holds it for the whole file;
// a login's tenant sync still runs every collection (its activities have the interactive
// lane's slots), and a reconcile's partition scan runs on the bulk lane while its plan waits.

let release!: () => void;
const held = new Promise<void>((r) => (release = r));
let holding = false;
afterAll(() => release());

describe('lanes: a login never waits for a slot bulk work holds', () => {
  const stack = useStack({
    worker: {
      slots: { activities: 1, workflowTasks: 4 },
      activityOverrides: {
        // Holds the main lane's only activity slot until the file ends.
        cleanupExpired: async () => {
          holding = true;
          await held;
          return { target: CleanupTargets.syncRuns, cutoff: new Date(0).toISOString(), deleted: {}, total: 0, batches: 0 };
        },
      },
    },
    app: { config: { USE_TEMPORAL_FOR_AUTH: true, TEMPORAL_AUTH_TIMEOUT_MS: 20_000 } },
  });
  let data: Db;
  const queues = () => laneQueues(stack.deps.config.TEMPORAL_TASK_QUEUE);

  const holdMainSlot = async () => {
    if (holding) return;
    await stack.deps.temporal.client.workflow.start<CleanupWorkflow>(CleanupNames.cleanupWorkflow, {
      taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
      workflowId: uniqueId('lanes-hold'),
      args: [{ target: CleanupTargets.syncRuns, retentionMs: 1 }],
    });
    const until = Date.now() + 15_000;
    while (!holding && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(holding).toBe(true);
  };

  it('a login sync runs on the interactive lane and finishes every collection while the main lane is full', async () => {
    await holdMainSlot();
    const tenantId = uniqueId('lanes');
    data = stack.deps.mongo.client.db(uniqueId('lanes').replace(/-/g, '_'));
    for (const c of ['users', 'orders']) await data.collection(c).insertOne({ _id: 'r1' as never, n: 1, updatedAt: new Date() });
    await registerMongoTenant(stack.app, stack.deps, {
      tenantId,
      database: data.databaseName,
      collections: [
        { name: 'users', essential: true },
        { name: 'orders', essential: false },
      ],
    });
    const res = await stack.app.inject({
      method: 'POST',
      url: `/api/sync/tenants/${tenantId}/ensure`,
      headers: await stack.bearer(['sync:write'], [tenantId]),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().syncMethod).toBe('temporal');
    const handle = stack.deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId));
    // `orders` is a regular activity: with one main slot held it could only run on the lane.
    const run = (await handle.result()) as SyncRunRecord;
    expect(run.collections.map((c) => [c.name, c.status])).toEqual([
      ['users', 'synced'],
      ['orders', 'synced'],
    ]);
    expect((await handle.describe()).taskQueue).toBe(queues().interactive);
    const scheduled = (await handle.fetchHistory()).events?.flatMap((e) => e.activityTaskScheduledEventAttributes ?? []) ?? [];
    expect(scheduled.length).toBeGreaterThan(0);
    for (const a of scheduled) expect(a.taskQueue?.name).toBe(queues().interactive);
    expect(holding).toBe(true); // the main slot was held throughout
  });

  it('a reconcile scans on the bulk lane; its control activities stay on the main lane', async () => {
    await holdMainSlot();
    const tenantId = uniqueId('lanes-rc');
    data ??= stack.deps.mongo.client.db(uniqueId('lanes').replace(/-/g, '_'));
    await registerMongoTenant(stack.app, stack.deps, { tenantId, database: data.databaseName });
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/reconcile',
      headers: { ...(await stack.bearer(['reconcile:write'], [tenantId])), 'idempotency-key': uniqueId('k') },
      payload: { source: { kind: 'tenant', tenantId, collection: 'users' }, options: { dryRun: true } },
    });
    expect(res.statusCode, res.body).toBe(202);
    const handle = stack.deps.temporal.client.workflow.getHandle(res.json().workflowId as string);
    // Its plan waits for the held main slot; release it, and the batch runs to its end.
    const until = Date.now() + 10_000;
    let events = (await handle.fetchHistory()).events ?? [];
    while (!events.some((e) => e.activityTaskScheduledEventAttributes) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      events = (await handle.fetchHistory()).events ?? [];
    }
    expect(events.some((e) => e.activityTaskStartedEventAttributes)).toBe(false); // the plan is still waiting
    release();
    await handle.result();
    const scheduled = ((await handle.fetchHistory()).events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes ?? []);
    const byType = new Map(scheduled.map((a) => [a.activityType?.name, a.taskQueue?.name]));
    expect(byType.get('reconcilePartition')).toBe(queues().bulk);
    expect(byType.get('planReconcile')).toBe(queues().main);
    expect(byType.get('finishReconcile')).toBe(queues().main);
  });

  it('the work view shows each lane with the worker polling it', async () => {
    const res = await stack.app.inject({ method: 'GET', url: '/api/ops/work', headers: await stack.bearer(['ops:read'], '*') });
    expect(res.statusCode, res.body).toBe(200);
    const lanes = res.json().lanes as Array<{ lane: string; taskQueue: string; pollers: { workflow: unknown[]; activity: unknown[] } }>;
    expect(lanes.map((l) => [l.lane, l.taskQueue])).toEqual([
      ['interactive', queues().interactive],
      ['bulk', queues().bulk],
    ]);
    expect(lanes[0]!.pollers.workflow.length).toBeGreaterThan(0);
    expect(lanes[1]!.pollers.activity.length).toBeGreaterThan(0);
  });
});
