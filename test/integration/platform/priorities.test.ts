import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { generateClient, writeClient } from '../../../fixtures/clients';
import type { temporal } from '@temporalio/proto';
import type { Db } from 'mongodb';
import { defineMigration } from '../../../activities/migrations/registry';
import { startClientUpsert } from '../../../activities/client-upsert/start';
import { createTemporalClient } from '../../../infra/temporal';
import { WorkflowIds } from '../../../shared/constants';
import { PLATFORM_FAIRNESS_KEY, PriorityClasses } from '../../../shared/priorities';
import { registerMongoTenant } from '../../helpers/api';
import { mutableRegistry } from '../../helpers/migrations';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Task-queue priority and fairness read back from the server (issue: logins first, no noisy
// tenant): every start, every child and every activity carries its class and the tenant (or
// `platform`) as fairness key, and the tenant's registry weight; TEMPORAL_PRIORITY=false starts
// everything without (the FIFO mode the load bench compares with).

type Priority = temporal.api.common.v1.IPriority | null | undefined;

const registry = mutableRegistry();
const migration = `${uniqueId('m')}-prio`;
registry.add(
  defineMigration({
    name: migration,
    description: 'no-op, for its priority',
    collections: [],
    up: async () => undefined,
    verify: async () => ({ ok: true, message: 'nothing to check' }),
  }),
);

const clientsDir = mkdtempSync(path.join(tmpdir(), 'clients-prio-'));
const clientKey = uniqueId('prio-client');
writeClient(clientsDir, generateClient(clientKey, { routes: 2 }));
afterAll(() => rmSync(clientsDir, { recursive: true, force: true }));

describe('task-queue priority and fairness', () => {
  const stack = useStack({
    worker: { settings: { migrations: { registry, batchSize: 100 }, clientUpsert: { dir: clientsDir } } },
    app: { config: { USE_TEMPORAL_FOR_AUTH: true, TEMPORAL_AUTH_TIMEOUT_MS: 20_000 }, extra: { migrations: registry } },
  });
  let data: Db;

  const register = async (tenantId: string, extra: Record<string, unknown> = {}) => {
    data ??= stack.deps.mongo.client.db(uniqueId('prio').replace(/-/g, '_'));
    await data.collection('users').updateOne({ _id: 'u1' as never }, { $set: { n: 1, updatedAt: new Date() } }, { upsert: true });
    return (await registerMongoTenant(stack.app, stack.deps, { tenantId, database: data.databaseName, extra })) as {
      fairnessWeight: number;
    };
  };

  /** The run's own priority, and that of every activity and child it scheduled. */
  const prioritiesOf = async (workflowId: string) => {
    const handle = stack.deps.temporal.client.workflow.getHandle(workflowId);
    await handle.result().catch(() => undefined);
    const own = (await handle.describe()).raw.workflowExecutionInfo?.priority as Priority;
    const history = await handle.fetchHistory();
    const activities: Priority[] = [];
    const children: Array<{ type: string; workflowId: string; priority: Priority }> = [];
    for (const e of history.events ?? []) {
      if (e.activityTaskScheduledEventAttributes) activities.push(e.activityTaskScheduledEventAttributes.priority);
      const child = e.startChildWorkflowExecutionInitiatedEventAttributes;
      if (child) children.push({ type: child.workflowType?.name ?? '', workflowId: child.workflowId ?? '', priority: child.priority });
    }
    return { own, activities, children };
  };

  it('a login sync runs first (class 1), keyed and weighted by its tenant, down to every activity', async () => {
    const tenantId = uniqueId('prio-login');
    expect((await register(tenantId, { fairnessWeight: 3 })).fairnessWeight).toBe(3);
    const res = await stack.app.inject({
      method: 'POST',
      url: `/api/sync/tenants/${tenantId}/ensure`,
      headers: await stack.bearer(['sync:write'], [tenantId]),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().syncMethod).toBe('temporal');
    const p = await prioritiesOf(WorkflowIds.tenantSync(tenantId));
    const expected = { priorityKey: PriorityClasses.login, fairnessKey: tenantId, fairnessWeight: 3 };
    expect(p.own).toMatchObject(expected);
    expect(p.activities.length).toBeGreaterThan(0);
    for (const a of p.activities) expect(a).toMatchObject(expected);
  });

  it('a reconcile of a tenant runs at class 3 under the tenant key; a tenant without a weight gets 1', async () => {
    const tenantId = uniqueId('prio-rc');
    expect((await register(tenantId)).fairnessWeight).toBe(1);
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/reconcile',
      headers: { ...(await stack.bearer(['reconcile:write'], [tenantId])), 'idempotency-key': uniqueId('k') },
      payload: { source: { kind: 'tenant', tenantId, collection: 'users' }, options: { dryRun: true } },
    });
    expect(res.statusCode, res.body).toBe(202);
    const p = await prioritiesOf(res.json().workflowId as string);
    expect(p.own).toMatchObject({ priorityKey: PriorityClasses.reconcile, fairnessKey: tenantId });
    expect(p.own?.fairnessWeight ?? 0).toBe(0); // weight 1 is the server's default: not sent
    expect(p.activities.length).toBeGreaterThan(0);
    for (const a of p.activities) expect(a).toMatchObject({ priorityKey: PriorityClasses.reconcile, fairnessKey: tenantId });
  });

  it('a migration run and its children run at class 2 under the platform key', async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/migrations/run',
      headers: { ...(await stack.bearer(['admin'], '*')), 'idempotency-key': uniqueId('mk') },
      payload: { names: [migration] },
    });
    expect(res.statusCode, res.body).toBe(202);
    const p = await prioritiesOf(res.json().workflowId as string);
    const expected = { priorityKey: PriorityClasses.migrations, fairnessKey: PLATFORM_FAIRNESS_KEY };
    expect(p.own).toMatchObject(expected);
    expect(p.children.map((c) => c.type)).toEqual(['migrationWorkflow']);
    for (const c of p.children) expect(c.priority).toMatchObject(expected);
    const child = await prioritiesOf(p.children[0]!.workflowId);
    expect(p.children[0]!.workflowId).toBe(WorkflowIds.migration(migration));
    expect(child.own).toMatchObject(expected);
    for (const a of [...p.activities, ...child.activities]) expect(a).toMatchObject(expected);
  });

  it('a client upsert and its per-client child run at class 2 under the platform key', async () => {
    const started = await startClientUpsert({
      client: stack.deps.temporal.client,
      taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
      keys: [clientKey],
      concurrency: 1,
      trigger: 'test',
    });
    const p = await prioritiesOf(started.workflowId);
    const expected = { priorityKey: PriorityClasses.clientUpsert, fairnessKey: PLATFORM_FAIRNESS_KEY };
    expect(p.own).toMatchObject(expected);
    expect(p.children.map((c) => c.type)).toEqual(['clientUpsertWorkflow']);
    for (const c of p.children) expect(c.priority).toMatchObject(expected);
    // Its plan and steps are local activities (they never wait in the task queue): the workflow
    // tasks, which do, carry the class.
    const child = await prioritiesOf(p.children[0]!.workflowId);
    expect(child.own).toMatchObject(expected);
  });

  it('TEMPORAL_PRIORITY=false starts without priority or fairness (FIFO), activities too', async () => {
    // The switch belongs to the Temporal client (its interceptor): the API process makes it from config.
    const off = { USE_TEMPORAL_FOR_AUTH: true, TEMPORAL_AUTH_TIMEOUT_MS: 20_000, TEMPORAL_PRIORITY: false };
    const client = createTemporalClient({ ...stack.deps.config, ...off });
    onTestFinished(() => client.close());
    const fifo = await stack.buildApp(off, { temporal: client });
    const tenantId = uniqueId('prio-off');
    await register(tenantId, { fairnessWeight: 5 });
    const res = await fifo.inject({
      method: 'POST',
      url: `/api/sync/tenants/${tenantId}/ensure`,
      headers: await stack.bearer(['sync:write'], [tenantId]),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().syncMethod).toBe('temporal');
    const p = await prioritiesOf(WorkflowIds.tenantSync(tenantId));
    expect(p.own?.priorityKey ?? 0).toBe(0);
    expect(p.own?.fairnessKey ?? '').toBe('');
    for (const a of p.activities) expect(a?.priorityKey ?? 0).toBe(0);
  });
});
