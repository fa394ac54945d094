import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { MongoClient } from 'mongodb';
import { WorkflowFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTemporalLogin } from '../../../api/services/tenant-sync/temporal-login';
import { startFixtureUpstream, type FixtureUpstream } from '../../../fixtures/upstream/server';
import { freePort, startFerret, type ServerHandle } from '../../../infra/dev/servers';
import { listFailedRuns, retryFailedRuns } from '../../../activities/maintenance/failed-runs';
import { tenantDbName, type Mongo } from '../../../infra/mongo';
import { Operations, WorkflowIds, SearchAttributeKeys } from '../../../shared/constants';
import { StackProbeNames, type StackProbeWorkflow } from '../../../shared/stack-probe';
import { TenantSyncNames, type SyncRunRecord, type TenantSyncWorkflow } from '../../../shared/tenant-sync';
import { bearer, buildTestApp } from '../../helpers/api';
import { cliRunner } from '../../helpers/cli';
import { connectTestDeps, stackInfo, startTestWorker, uniqueId, type TestDeps, type TestWorker } from '../../helpers/stack';

// Failed-run operations on real failures: the worker's platform database (its own FerretDB) goes
// down, so tenant syncs and a stack probe fail for real; they are listed by type and tenant,
// counted by a dry run that touches nothing, and once the database is back, retried in bulk
// (reset for the syncs, restart through the CLI for the probe) until they complete. The CLI and
// the routes behind it (GET /api/runs/failed, POST /api/runs/retry) are exercised on the same runs.

const OperationKey = SearchAttributeKeys.Operation;
const USERS = 120;

describe('failed-run operations', () => {
  let ferret: ServerHandle;
  let ferretPort = 0;
  let ferretDir = '';
  let deps: TestDeps;
  let workerMongo: MongoClient;
  let worker: TestWorker;
  let upstream: FixtureUpstream;
  const tenants = [uniqueId('ta'), uniqueId('tb')];
  const probeId = uniqueId('probe');
  let taskQueue = '';
  /** The API the CLI talks to (listening on a loopback port) and the routes are injected into. */
  let app: FastifyInstance;
  let apiUrl = '';
  let admin: Record<string, string>;

  const startDb = () => startFerret({ bin: stackInfo().ferretdbBin, port: ferretPort, dataDir: ferretDir });
  const cliIn = cliRunner(
    () => deps.config,
    () => apiUrl,
  );
  const cli = (args: string[]) => cliIn('runs', ...args);

  beforeAll(async () => {
    // These runs fail on purpose: the SDK's per-attempt warnings would print ~2,000 lines.
    try {
      Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
    } catch {
      // a runtime is already installed in this process (an earlier file): keep it
    }
    ferretPort = await freePort();
    ferretDir = path.join(stackInfo().tmpDir, uniqueId('ferret-failed-runs'));
    ferret = await startDb();
    deps = await connectTestDeps({ MONGODB_URI: `mongodb://127.0.0.1:${ferretPort}/` });
    taskQueue = deps.config.TEMPORAL_TASK_QUEUE;
    // The worker's own client gives up fast while the database is down (the real one waits 5 s
    // per call), so the activities exhaust their retries in seconds rather than minutes.
    workerMongo = await new MongoClient(deps.config.MONGODB_URI, {
      serverSelectionTimeoutMS: 300,
      connectTimeoutMS: 300,
      heartbeatFrequencyMS: 500,
    }).connect();
    const mongo: Mongo = {
      client: workerMongo,
      db: workerMongo.db(deps.config.MONGODB_DB),
      tenantDb: (t) => workerMongo.db(tenantDbName(t)),
      close: () => workerMongo.close(),
    };
    worker = await startTestWorker({ ...deps, mongo });
    upstream = await startFixtureUpstream();
    app = await buildTestApp(deps);
    admin = await bearer(deps, ['admin']);
    for (const tenantId of tenants) {
      upstream.seedTenant(tenantId, { collections: { users: USERS }, token: `tok-${tenantId}` });
      const res = await app.inject({
        method: 'POST',
        url: '/api/tenants',
        headers: admin,
        payload: {
          tenantId,
          name: tenantId,
          source: { kind: 'http', settings: { baseUrl: upstream.baseUrl(tenantId), token: `tok-${tenantId}`, timeoutMs: 5_000 } },
          collections: [{ name: 'users', essential: true }],
        },
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });

    // The outage: every activity's database call fails until the server is back.
    await ferret.stop();
    const login = createTemporalLogin({
      temporal: deps.temporal,
      taskQueue,
      timeoutMs: 30_000,
      breaker: { failures: 100, windowMs: 60_000, resetMs: 1_000 },
      log: deps.log,
    });
    const answers = await Promise.all(
      tenants.map((tenantId) =>
        login.ensure({
          tenantId,
          correlationId: uniqueId('corr'),
          collections: [{ name: 'users', essential: true }],
          startedAt: new Date().toISOString(),
        }),
      ),
    );
    login.shutdown();
    expect(answers.map((a) => a.essentialReady)).toEqual([false, false]);
    const probe = await deps.temporal.client.workflow.start<StackProbeWorkflow>(StackProbeNames.workflow, {
      taskQueue,
      workflowId: WorkflowIds.stackProbe(probeId),
      args: [probeId],
      typedSearchAttributes: [{ key: OperationKey, value: Operations.stackProbe }],
    });
    const failures = await Promise.allSettled([
      ...tenants.map((t) => deps.temporal.client.workflow.getHandle<TenantSyncWorkflow>(WorkflowIds.tenantSync(t)).result()),
      probe.result(),
    ]);
    for (const f of failures)
      expect(
        f.status === 'rejected' && f.reason instanceof WorkflowFailedError,
        String(f.status === 'rejected' ? f.reason : 'completed'),
      ).toBe(true);
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await worker?.stop();
    await upstream?.close();
    await workerMongo?.close().catch(() => undefined);
    await deps?.close();
    await ferret?.stop();
  });

  it('lists failed runs by type and by tenant, only the matching ones', async () => {
    const all = await listFailedRuns({ client: deps.temporal.client, taskQueue });
    expect(all.map((r) => r.workflowId).sort()).toEqual([...tenants.map(WorkflowIds.tenantSync), WorkflowIds.stackProbe(probeId)].sort());
    expect(all.every((r) => r.status === 'Failed' && r.closeTime)).toBe(true);

    const syncs = await listFailedRuns({ client: deps.temporal.client, taskQueue, type: TenantSyncNames.workflow });
    expect(syncs.map((r) => r.tenantId).sort()).toEqual([...tenants].sort());
    expect(syncs.every((r) => r.operation === Operations.tenantSync)).toBe(true);

    const one = await listFailedRuns({ client: deps.temporal.client, tenantId: tenants[0]! });
    expect(one.map((r) => r.workflowId)).toEqual([WorkflowIds.tenantSync(tenants[0]!)]);

    const probes = await listFailedRuns({
      client: deps.temporal.client,
      taskQueue,
      type: StackProbeNames.workflow,
      since: new Date(Date.now() - 10 * 60_000),
    });
    expect(probes.map((r) => r.workflowId)).toEqual([WorkflowIds.stackProbe(probeId)]);
    expect(await listFailedRuns({ client: deps.temporal.client, taskQueue, since: new Date(Date.now() + 60_000) })).toEqual([]);
    expect(await listFailedRuns({ client: deps.temporal.client, taskQueue, statuses: ['TimedOut'] })).toEqual([]);
  });

  // Five CLI processes (tsx start-up takes seconds each on a busy machine).
  it('the CLI lists them as JSON and, without --yes, only counts them', async () => {
    const listed = await cli(['failed', '--task-queue', taskQueue, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ workflowId: string }>).map((r) => r.workflowId).sort()).toEqual(
      [...tenants.map(WorkflowIds.tenantSync), WorkflowIds.stackProbe(probeId)].sort(),
    );
    const table = await cli(['failed', '--task-queue', taskQueue, '--tenant', tenants[1]!]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain(WorkflowIds.tenantSync(tenants[1]!));
    expect(table.stdout).not.toContain(WorkflowIds.tenantSync(tenants[0]!));
    const noYes = await cli(['retry', '--task-queue', taskQueue, '--type', TenantSyncNames.workflow]);
    expect(noYes.code, noYes.stderr).toBe(0);
    expect(noYes.stdout).toContain('2 failed run(s) would be reset — run again with --yes');
    expect(await cli(['failed', '--since', 'yesterday'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--since must be a duration'),
    });
    // A filter only the API refuses comes back as its problem, on stderr.
    expect(await cli(['failed', '--task-queue', 'a"b'])).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error: Invalid request: taskQueue: .*quote/),
    });
  }, 120_000);

  it('the routes list and dry-run them; bad filters and an act without Idempotency-Key → 400, nothing retried', async () => {
    type Listing = { query: string; count: number; runs: Array<{ workflowId: string; tenantId?: string; runId: string }> };
    const get = (query: Record<string, string>) => app.inject({ method: 'GET', url: '/api/runs/failed', query, headers: admin });
    const syncs = await get({ taskQueue, type: TenantSyncNames.workflow, status: 'Failed,TimedOut', limit: '10' });
    expect(syncs.statusCode, syncs.body).toBe(200);
    const listing = syncs.json<Listing>();
    expect(listing.count).toBe(2);
    expect(listing.runs.map((r) => r.tenantId).sort()).toEqual([...tenants].sort());
    expect(listing.query).toContain(`WorkflowType = '${TenantSyncNames.workflow}'`);
    const one = (await get({ tenantId: tenants[0]! })).json<Listing>();
    expect(one.runs.map((r) => r.workflowId)).toEqual([WorkflowIds.tenantSync(tenants[0]!)]);

    for (const [query, detail] of [
      [{ status: 'Completed' }, /status/],
      [{ taskQueue: 'a"b' }, /taskQueue: 'a"b' holds a quote/],
      [{ limit: '5000' }, /limit: must be a whole number from 1 to 1000/],
      [{ since: 'yesterday' }, /since/],
      [{ since: '2026-13-45' }, /since: is not a valid date/],
      [{ tenantId: 'a b' }, /tenantId/],
      [{ color: 'red' }, /additional properties/],
    ] as const) {
      const res = await get(query);
      expect(res.statusCode, JSON.stringify(query)).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json(), JSON.stringify(query)).toMatchObject({ status: 400, detail: expect.stringMatching(detail) });
    }

    const retry = (payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
      app.inject({ method: 'POST', url: '/api/runs/retry', payload, headers: { ...admin, ...headers } });
    const filter = { taskQueue, type: TenantSyncNames.workflow };
    const dry = await retry({ ...filter, mode: 'reset' });
    expect(dry.statusCode, dry.body).toBe(200);
    expect(dry.json()).toMatchObject({ dryRun: true, mode: 'reset', count: 2, results: [], succeeded: 0, failed: 0 });
    const refusals = [
      await retry({ ...filter, mode: 'reset', dryRun: false }),
      await retry({ ...filter, mode: 'explode' }, { 'idempotency-key': uniqueId('k') }),
      await retry({ ...filter, mode: 'restart', status: ['Completed'] }, { 'idempotency-key': uniqueId('k') }),
      await retry({ ...filter, mode: 'reset', dryRun: false, concurrency: 0 }, { 'idempotency-key': uniqueId('k') }),
    ];
    expect(refusals.map((r) => r.statusCode)).toEqual([400, 400, 400, 400]);
    expect(refusals[0]!.json().detail).toMatch(/Idempotency-Key header is required to act/);
    // Nothing was acted on: each workflow's newest run is still the failed one listed.
    for (const r of listing.runs) {
      const d = await deps.temporal.client.workflow.getHandle(r.workflowId).describe();
      expect({ runId: d.runId, status: d.status.name }).toEqual({ runId: r.runId, status: 'FAILED' });
    }
  });

  it('a dry run counts what the list shows and acts on nothing', async () => {
    const listed = await listFailedRuns({ client: deps.temporal.client, taskQueue, type: TenantSyncNames.workflow });
    const dry = await retryFailedRuns({
      client: deps.temporal.client,
      taskQueue,
      type: TenantSyncNames.workflow,
      mode: 'reset',
      dryRun: true,
    });
    expect(dry.count).toBe(listed.length);
    expect(dry.runs.map((r) => r.runId).sort()).toEqual(listed.map((r) => r.runId).sort());
    expect(dry.results).toEqual([]);
    for (const r of listed) {
      const d = await deps.temporal.client.workflow.getHandle(r.workflowId).describe();
      expect({ runId: d.runId, status: d.status.name }).toEqual({ runId: r.runId, status: 'FAILED' });
    }
  });

  it('once the cause is fixed, a bulk reset and a CLI restart complete every run; nothing is left to retry', async () => {
    ferret = await startDb();
    await expect
      .poll(
        () =>
          workerMongo
            .db('admin')
            .command({ ping: 1 })
            .then(
              () => true,
              () => false,
            ),
        { timeout: 20_000 },
      )
      .toBe(true);

    const seen: string[] = [];
    const reset = await retryFailedRuns({
      client: deps.temporal.client,
      taskQueue,
      type: TenantSyncNames.workflow,
      mode: 'reset',
      dryRun: false,
      onResult: (r) => seen.push(r.run.workflowId),
    });
    expect(reset.results.map((r) => (r.ok ? 'ok' : r.error))).toEqual(['ok', 'ok']);
    expect(seen.sort()).toEqual(tenants.map(WorkflowIds.tenantSync).sort());
    for (const tenantId of tenants) {
      const result = (await deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId)).result()) as SyncRunRecord;
      expect(result.state).toBe('completed');
      expect(await deps.mongo.tenantDb(tenantId).collection('users').countDocuments()).toBe(USERS);
    }

    const restarted = await cli([
      'retry',
      '--task-queue',
      taskQueue,
      '--type',
      StackProbeNames.workflow,
      '--mode',
      'restart',
      '--yes',
      '--json',
    ]);
    expect(restarted.code, restarted.stderr).toBe(0);
    const summary = JSON.parse(restarted.stdout) as { count: number; succeeded: number; results: Array<{ newRunId: string }> };
    expect(summary).toMatchObject({ count: 1, succeeded: 1 });
    const probe = deps.temporal.client.workflow.getHandle(WorkflowIds.stackProbe(probeId));
    expect(await probe.result()).toMatchObject({ probeId, mongoWritten: true, redisWritten: true });
    const desc = await probe.describe();
    expect(desc.runId).toBe(summary.results[0]!.newRunId);
    expect(desc.searchAttributes.Operation).toEqual([Operations.stackProbe]);
    expect(await desc.memo).toMatchObject({ retryReason: 'cli runs retry --mode restart' });

    // The old failed runs are superseded: neither listed nor retried again.
    expect(await listFailedRuns({ client: deps.temporal.client, taskQueue })).toEqual([]);
    expect((await retryFailedRuns({ client: deps.temporal.client, taskQueue, mode: 'reset', dryRun: false })).count).toBe(0);
  }, 90_000);

  it('a run no worker ever picked up cannot be reset (per-run error), but filters by status find it', async () => {
    const idleQueue = uniqueId('tq-idle');
    const h = await deps.temporal.client.workflow.start<StackProbeWorkflow>(StackProbeNames.workflow, {
      taskQueue: idleQueue,
      workflowId: WorkflowIds.stackProbe(uniqueId('idle')),
      args: ['idle'],
    });
    await h.terminate('operator: stuck, nobody polls this queue');
    expect(await listFailedRuns({ client: deps.temporal.client, taskQueue: idleQueue, statuses: ['Failed'] })).toEqual([]);
    const s = await retryFailedRuns({
      client: deps.temporal.client,
      taskQueue: idleQueue,
      statuses: ['Terminated'],
      mode: 'reset',
      dryRun: false,
    });
    expect(s).toMatchObject({ count: 1, succeeded: 0, failed: 1 });
    expect(s.results[0]).toMatchObject({ ok: false, error: expect.stringContaining('nothing to reset to') });
    expect((await h.describe()).status.name).toBe('TERMINATED');
  });

  it('POST /api/runs/retry acts with an Idempotency-Key: per-run results; the same key replays them, acting once; no Temporal → 503', async () => {
    const idleQueue = uniqueId('tq-idle-api');
    const h = await deps.temporal.client.workflow.start<StackProbeWorkflow>(StackProbeNames.workflow, {
      taskQueue: idleQueue,
      workflowId: WorkflowIds.stackProbe(uniqueId('idle-api')),
      args: ['idle'],
    });
    await h.terminate('operator: stuck, nobody polls this queue');
    const before = await h.describe();
    const headers = { ...admin, 'idempotency-key': uniqueId('retry') };
    const payload = { taskQueue: idleQueue, status: ['Terminated'], mode: 'restart', dryRun: false, reason: 'api test restart' };
    const first = await app.inject({ method: 'POST', url: '/api/runs/retry', headers, payload });
    expect(first.statusCode, first.body).toBe(200);
    const summary = first.json<{ count: number; succeeded: number; results: Array<{ ok: boolean; newRunId?: string }> }>();
    expect(summary).toMatchObject({ dryRun: false, mode: 'restart', count: 1, succeeded: 1, failed: 0 });
    // The restart is a new execution chain: `h` (bound to the first run's chain) cannot terminate it.
    const latest = deps.temporal.client.workflow.getHandle(h.workflowId);
    const after = await latest.describe();
    expect(after.runId).not.toBe(before.runId);
    expect(after.runId).toBe(summary.results[0]!.newRunId);
    expect(await after.memo).toMatchObject({ retriedFrom: before.runId, retryReason: 'api test restart' });

    const again = await app.inject({ method: 'POST', url: '/api/runs/retry', headers, payload });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(summary);
    expect((await latest.describe()).runId).toBe(after.runId);
    await latest.terminate('test over');

    // Without Temporal the routes answer 503, not a hang or a 500.
    const off = await buildTestApp(deps, { TEMPORAL_ENABLED: false }, { temporal: undefined });
    try {
      const res = await off.inject({ method: 'GET', url: '/api/runs/failed', headers: admin });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ dependency: 'temporal' });
    } finally {
      await off.close();
    }
  });
});
