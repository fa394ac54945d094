import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from 'mongodb';
import { Client, Connection } from '@temporalio/client';
import { createPauseStore } from '../../../activities/maintenance/pause-store';
import { quotaSettingsFromConfig } from '../../../api/services/quotas/quotas';
import type { WorkViewAnswer } from '../../../api/services/maintenance/work-view';
import { Scopes } from '../../../infra/auth-token';
import { SearchAttributeKeys, WorkflowIds } from '../../../shared/constants';
import { WorkflowPriorityClass } from '../../../shared/priorities';
import { ReconcileNames } from '../../../shared/reconcile';
import { TenantSyncNames } from '../../../shared/tenant-sync';
import { useCli } from '../../helpers/cli';
import { registerMongoTenant } from '../../helpers/api';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// The operator's work view (GET /api/ops/work, `work show`) on the real stack: a worker on the
// file's queue, two tenants' login syncs through Temporal, a dry-run reconcile (completed), two
// reconcile executions started with a start delay (Running until terminated: a delayed start is
// a running execution whose first task waits) and one terminated. Counts, running per tenant and
// the oldest running are checked against that, for '*' and for a token covering tenant A only.

type Counts = WorkViewAnswer['byType'][number]['counts'];
const ZERO: Counts = { Running: 0, Completed: 0, Failed: 0, Canceled: 0, Terminated: 0, ContinuedAsNew: 0, TimedOut: 0 };

describe('work view', () => {
  const stack = useStack({
    worker: true,
    app: { config: { USE_TEMPORAL_FOR_AUTH: true, TEMPORAL_AUTH_TIMEOUT_MS: 20_000, SYNC_FRESHNESS_MS: 0 } },
  });
  const a = uniqueId('wv-a');
  const b = uniqueId('wv-b');
  const delayed = { a: uniqueId('reconcile:wv-a'), b: uniqueId('reconcile:wv-b'), gone: uniqueId('reconcile:wv-gone') };
  let data: Db;
  const cli = useCli(stack);

  const view = async (tenants: string[] | '*', scopes: string[] = [Scopes.opsRead]) => {
    const res = await stack.app.inject({ method: 'GET', url: '/api/ops/work', headers: await stack.bearer(scopes, tenants) });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as WorkViewAnswer;
  };
  const countsOf = (v: WorkViewAnswer, type: string) => v.byType.find((r) => r.workflowType === type)?.counts;

  /** A reconcile execution that stays Running: its first workflow task is an hour away. */
  const startDelayed = (workflowId: string, tenantId: string) =>
    stack.deps.temporal.client.workflow.start(ReconcileNames.workflow, {
      taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
      workflowId,
      args: [{ batchId: workflowId }],
      startDelay: '1 hour',
      typedSearchAttributes: [{ key: SearchAttributeKeys.TenantId, value: tenantId }],
    });

  beforeAll(async () => {
    data = stack.deps.mongo.client.db(uniqueId('wv').replace(/-/g, '_'));
    await data.collection('users').insertMany([1, 2, 3].map((n) => ({ _id: `u${n}` as never, n, updatedAt: new Date() })));
    const root = await stack.bearer([Scopes.admin], '*');
    for (const tenantId of [a, b]) {
      await registerMongoTenant(stack.app, stack.deps, { tenantId, database: data.databaseName });
      const login = await stack.app.inject({ method: 'POST', url: `/api/sync/tenants/${tenantId}/ensure`, headers: root });
      expect(login.statusCode, login.body).toBe(200);
      expect(login.json().syncMethod).toBe('temporal');
      await stack.deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId)).result();
    }
    const rc = await stack.app.inject({
      method: 'POST',
      url: '/api/reconcile',
      headers: { ...root, 'idempotency-key': uniqueId('k') },
      payload: { source: { kind: 'tenant', tenantId: a, collection: 'users' }, options: { dryRun: true } },
    });
    expect(rc.statusCode, rc.body).toBe(202);
    await stack.deps.temporal.client.workflow.getHandle(rc.json().workflowId as string).result();
    await startDelayed(delayed.a, a);
    await new Promise((r) => setTimeout(r, 50)); // A's start is strictly the older
    await startDelayed(delayed.b, b);
    await (await startDelayed(delayed.gone, a)).terminate('work view test: a terminated run');
  }, 120_000);

  afterAll(async () => {
    const wf = stack.deps.temporal.client.workflow;
    await Promise.allSettled([delayed.a, delayed.b].map((id) => wf.getHandle(id).terminate('work view test done')));
    await data?.dropDatabase().catch(() => undefined);
  });

  it("counts every workflow type by status on the file's queue; running per tenant and the oldest running ('*')", async () => {
    // Visibility is eventually consistent: wait for the terminated run to show.
    await expect
      .poll(async () => countsOf(await view('*'), ReconcileNames.workflow), { timeout: 15_000 })
      .toEqual({
        ...ZERO,
        Running: 2,
        Completed: 1,
        Terminated: 1,
      });
    const v = await view('*');
    expect(v.taskQueue).toBe(stack.deps.config.TEMPORAL_TASK_QUEUE);
    expect(v.tenants).toBe('*');
    expect(v.countMethod).toBe('group-by');
    expect(v.byType.map((r) => r.workflowType).sort()).toEqual(Object.keys(WorkflowPriorityClass).sort());
    expect(countsOf(v, TenantSyncNames.workflow)).toEqual({ ...ZERO, Completed: 2 });
    const reconcileRow = v.byType.find((r) => r.workflowType === ReconcileNames.workflow)!;
    expect(reconcileRow).toMatchObject({ priorityClass: 'reconcile', priorityKey: 3, total: 4 });
    expect(v.byType.find((r) => r.workflowType === TenantSyncNames.workflow)).toMatchObject({ priorityClass: 'login', priorityKey: 1 });
    for (const r of v.byType.filter((x) => !([ReconcileNames.workflow, TenantSyncNames.workflow] as string[]).includes(x.workflowType)))
      expect(r.counts, r.workflowType).toEqual(ZERO);

    expect(v.runningByTenant).toMatchObject({ listed: 2, truncated: false });
    expect(v.runningByTenant.tenants.sort((x, y) => (x.tenantId ?? '').localeCompare(y.tenantId ?? ''))).toEqual(
      [
        { tenantId: a, running: 1 },
        { tenantId: b, running: 1 },
      ].sort((x, y) => x.tenantId.localeCompare(y.tenantId)),
    );
    expect(v.oldestRunning).toHaveLength(1);
    expect(v.oldestRunning[0]).toMatchObject({ workflowType: ReconcileNames.workflow, workflowId: delayed.a, tenantId: a, exact: true });
    expect(v.oldestRunning[0]!.ageSeconds).toBeGreaterThanOrEqual(0);
  });

  it('a token for tenant A sees only its rows; a token for no tenant sees zeros; admin satisfies ops:read', async () => {
    await expect.poll(async () => countsOf(await view('*'), ReconcileNames.workflow)?.Terminated, { timeout: 15_000 }).toBe(1);
    const onlyA = await view([a]);
    expect(onlyA.tenants).toEqual([a]);
    expect(countsOf(onlyA, TenantSyncNames.workflow)).toEqual({ ...ZERO, Completed: 1 });
    expect(countsOf(onlyA, ReconcileNames.workflow)).toEqual({ ...ZERO, Running: 1, Completed: 1, Terminated: 1 });
    expect(onlyA.runningByTenant.tenants).toEqual([{ tenantId: a, running: 1 }]);
    expect(onlyA.oldestRunning.map((o) => o.workflowId)).toEqual([delayed.a]);
    expect(JSON.stringify(onlyA)).not.toContain(b);

    const none = await view([]);
    for (const r of none.byType) expect(r.counts, r.workflowType).toEqual(ZERO);
    expect(none.runningByTenant.tenants).toEqual([]);
    expect(none.oldestRunning).toEqual([]);
    expect(JSON.stringify(none)).not.toContain(a);

    expect(countsOf(await view([b], [Scopes.admin]), ReconcileNames.workflow)).toEqual({ ...ZERO, Running: 1 });
    const wrongScope = await stack.app.inject({
      method: 'GET',
      url: '/api/ops/work',
      headers: await stack.bearer([Scopes.syncRead, Scopes.reconcileRead], '*'),
    });
    expect(wrongScope.statusCode).toBe(403);
  });

  it("reports the backlog and the worker's pollers on both queues, the stored pauses and the quotas", async () => {
    const identity = stack.worker.worker.main.options.identity;
    const v = await view('*');
    for (const q of ['workflow', 'activity'] as const) {
      expect(v.backlog[q].reported, q).toBe(true);
      expect(v.backlog[q].approximateBacklogCount, q).toBeGreaterThanOrEqual(0);
      expect(v.backlog[q].approximateBacklogAgeSeconds, q).toBeGreaterThanOrEqual(0);
      for (const k of v.backlog[q].byPriorityKey) expect(k.priorityKey, q).toBeGreaterThanOrEqual(1);
      const mine = v.pollers[q].find((p) => p.identity === identity);
      expect(mine, `${q} pollers: ${JSON.stringify(v.pollers[q])}`).toBeDefined();
      expect(Date.parse(mine!.lastAccessTime!)).toBeGreaterThan(Date.now() - 10 * 60_000);
    }
    // Fairness and priority are on: the keys the reconcile (3) used on the main lane and the login
    // syncs (1) used on the interactive lane are reported.
    expect(v.backlog.workflow.byPriorityKey.map((k) => k.priorityKey)).toEqual(expect.arrayContaining([3]));
    const interactive = v.lanes.find((l) => l.lane === 'interactive');
    expect(interactive?.backlog.workflow.byPriorityKey.map((k) => k.priorityKey)).toEqual(expect.arrayContaining([1]));
    expect(interactive?.pollers.workflow.map((p) => p.identity)).toContain(stack.worker.worker.lanes.interactive!.options.identity);
    expect(v.pauses).toEqual([]);
    expect(v.quotas).toEqual({
      global: quotaSettingsFromConfig(stack.deps.config).global,
      tenantDefaults: quotaSettingsFromConfig(stack.deps.config).tenant,
    });

    const store = createPauseStore(stack.deps.mongo.db);
    await store.pause('migrations', 'work-view-test', 'checking the view');
    try {
      expect((await view([b])).pauses).toMatchObject([{ kind: 'migrations', pausedBy: 'work-view-test', reason: 'checking the view' }]);
    } finally {
      await store.resume('migrations');
    }
  });

  it('answers 503 problem+json when Temporal is disabled or unreachable', async () => {
    const headers = await stack.bearer([Scopes.opsRead], '*');
    const off = await stack.buildApp({ TEMPORAL_ENABLED: false }, { temporal: undefined });
    const res = await off.inject({ method: 'GET', url: '/api/ops/work', headers });
    expect(res.statusCode, res.body).toBe(503);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ type: 'urn:sync-orchestrator:problem:dependency-unavailable', dependency: 'temporal' });

    // Nothing listens on port 1. Without the SDK's retry interceptor: its retries outlive the
    // aborted call and would fire on the closed channel after the test.
    const connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 2_000, interceptors: [] });
    const away = { connection, client: new Client({ connection }), close: () => connection.close() };
    try {
      const unreachable = await stack.buildApp({}, { temporal: away });
      const t0 = Date.now();
      const r2 = await unreachable.inject({ method: 'GET', url: '/api/ops/work', headers });
      expect(r2.statusCode, r2.body).toBe(503);
      expect(r2.json()).toMatchObject({ dependency: 'temporal' });
      expect(Date.now() - t0).toBeLessThan(20_000);
    } finally {
      await away.close().catch(() => undefined);
    }
  }, 30_000);

  it(
    'CLI: work show --json is the API answer; work show prints tables; pause and resume go through the API',
    { timeout: 120_000 },
    async () => {
      await expect.poll(async () => countsOf(await view('*'), ReconcileNames.workflow)?.Terminated, { timeout: 15_000 }).toBe(1);
      const json = await cli('work', 'show', '--json');
      expect(json.code, json.stderr).toBe(0);
      const v = JSON.parse(json.stdout) as WorkViewAnswer;
      expect(v.taskQueue).toBe(stack.deps.config.TEMPORAL_TASK_QUEUE);
      expect(countsOf(v, ReconcileNames.workflow)).toEqual({ ...ZERO, Running: 2, Completed: 1, Terminated: 1 });
      expect(v.pollers.workflow.map((p) => p.identity)).toContain(stack.worker.worker.main.options.identity);

      const shown = await cli('work', 'show');
      expect(shown.code, shown.stderr).toBe(0);
      for (const text of ['By workflow type and status', ReconcileNames.workflow, 'Backlog and pollers', delayed.a, a, b, 'Pauses'])
        expect(shown.stdout).toContain(text);

      const paused = await cli('work', 'pause', 'migrations', '--reason', 'cli test', '--json');
      expect(paused.code, paused.stderr).toBe(0);
      expect(JSON.parse(paused.stdout)).toMatchObject({ kind: 'migrations', pausedBy: 'cli', reason: 'cli test', created: true });
      const listed = JSON.parse((await cli('work', 'show', '--json')).stdout) as WorkViewAnswer;
      expect(listed.pauses).toMatchObject([{ kind: 'migrations', reason: 'cli test' }]);
      const resumed = await cli('work', 'resume', 'migrations');
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stdout).toContain('migrations resumed');
      expect((await cli('work', 'resume', 'migrations')).stdout).toContain('migrations was not paused');

      const bad = await cli('work', 'pause', 'logins', '--reason', 'x');
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("unknown kind of work 'logins'");
      const noReason = await cli('work', 'pause', 'reconcile');
      expect(noReason.code).not.toBe(0);
      expect(noReason.stderr).toContain('--reason');
    },
  );
});
