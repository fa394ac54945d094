import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import { WorkflowFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTemporalLogin } from '../../../api/services/tenant-sync/temporal-login';
import { startFixtureUpstream, type FixtureUpstream } from '../../../fixtures/upstream/server';
import { freePort, startFerret, type ServerHandle } from '../../../infra/dev/servers';
import { REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { listFailedRuns, retryFailedRuns } from '../../../activities/maintenance/failed-runs';
import { tenantDbName, type Mongo } from '../../../infra/mongo';
import { Operations, WorkflowIds, SearchAttributeKeys } from '../../../shared/constants';
import { StackProbeNames, type StackProbeWorkflow } from '../../../shared/stack-probe';
import { TenantSyncNames, type SyncRunRecord, type TenantSyncWorkflow } from '../../../shared/tenant-sync';
import { bearer, buildTestApp } from '../../helpers/api';
import { connectTestDeps, stackInfo, startTestWorker, uniqueId, type TestDeps, type TestWorker } from '../../helpers/stack';

// Failed-run operations on real failures: the worker's platform database (its own FerretDB) goes
// down, so tenant syncs and a stack probe fail for real; they are listed by type and tenant,
// counted by a dry run that touches nothing, and once the database is back, retried in bulk
// (reset for the syncs, restart through the CLI for the probe) until they complete.

const run = promisify(execFile);
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

  const startDb = () => startFerret({ bin: stackInfo().ferretdbBin, port: ferretPort, dataDir: ferretDir });
  const cli = (args: string[]) =>
    run('npx', ['tsx', 'cli/index.ts', 'runs', ...args], {
      cwd: REPO_ROOT,
      timeout: 60_000,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        TEMPORAL_ADDRESS: deps.config.TEMPORAL_ADDRESS,
        TEMPORAL_TASK_QUEUE: taskQueue,
        MONGODB_URI: deps.config.MONGODB_URI,
        REDIS_URL: deps.config.REDIS_URL,
        AUTH_JWT_SECRET: deps.config.AUTH_JWT_SECRET,
      },
    });

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
    const app = await buildTestApp(deps);
    const admin = await bearer(deps, ['admin']);
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
    await app.close();

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

  it('the CLI lists them as JSON and, without --yes, only counts them', async () => {
    const listed = await cli(['failed', '--task-queue', taskQueue, '--json']);
    expect((JSON.parse(listed.stdout) as Array<{ workflowId: string }>).map((r) => r.workflowId).sort()).toEqual(
      [...tenants.map(WorkflowIds.tenantSync), WorkflowIds.stackProbe(probeId)].sort(),
    );
    const table = await cli(['failed', '--task-queue', taskQueue, '--tenant', tenants[1]!]);
    expect(table.stdout).toContain(WorkflowIds.tenantSync(tenants[1]!));
    expect(table.stdout).not.toContain(WorkflowIds.tenantSync(tenants[0]!));
    const noYes = await cli(['retry', '--task-queue', taskQueue, '--type', TenantSyncNames.workflow]);
    expect(noYes.stdout).toContain('2 failed run(s) would be reset — run again with --yes');
    await expect(cli(['failed', '--since', 'yesterday'])).rejects.toMatchObject({
      stderr: expect.stringContaining('--since must be a duration'),
    });
  }, 60_000);

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
});
