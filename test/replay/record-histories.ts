import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Db } from 'mongodb';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { createClientUpsertActivities } from '../../activities/client-upsert/activities';
import { defineMigration } from '../../activities/migrations/registry';
import { rewriteCollection } from '../../activities/migrations/rewrite';
import { generateClient, writeClient } from '../../fixtures/clients';
import { driftOf, generatePair } from '../../fixtures/reconcile-data';
import { startFixtureUpstream, type FixtureUpstream } from '../../fixtures/upstream/server';
import { CleanupNames, CleanupTargets } from '../../shared/cleanup';
import type { ClientStepInput } from '../../shared/client-upsert';
import { WorkflowIds } from '../../shared/constants';
import { bearer, buildTestApp } from '../helpers/api';
import { historyToJson } from '../helpers/history-json';
import { mutableRegistry, seed } from '../helpers/migrations';
import { connectTestDeps, startTestWorker, uniqueId, type TestDeps, type TestWorker } from '../helpers/stack';

// Records one small run of every workflow type on the test stack and writes each history to
// test/fixtures/histories/<workflowType>[.<variant>].json, which the replay test
// (test/integration/platform/replay.test.ts) replays against the current workflow code.
// Run: `npm run histories:record` (vitest with test/replay/vitest.config.ts, so the stack
// starts exactly as the tests' global setup starts it). HISTORIES_DIR overrides the output.

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

/** @default test/fixtures/histories beside this file's folder */
const OUT = path.resolve(process.env.HISTORIES_DIR ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/histories'));

describe('record workflow histories', () => {
  const registry = mutableRegistry();
  const clientsDir = mkdtempSync(path.join(tmpdir(), 'histories-clients-'));
  const written: string[] = [];
  let deps: TestDeps;
  let worker: TestWorker;
  let upstream: FixtureUpstream;
  let app: FastifyInstance;
  let admin: Record<string, string>;
  let data: Db;

  const client = () => deps.temporal.client.workflow;
  const taskQueue = () => deps.config.TEMPORAL_TASK_QUEUE;

  /** Writes the history of a closed run; returns its events. */
  async function save(file: string, handle: WorkflowHandle): Promise<HistoryEvent[]> {
    await handle.result().catch(() => undefined);
    const history = await handle.fetchHistory();
    writeFileSync(path.join(OUT, `${file}.json`), historyToJson(history));
    written.push(file);
    return history.events ?? [];
  }
  /** Whether some event carries these attributes (e.g. `workflowExecutionCompletedEventAttributes`). */
  const has = (events: HistoryEvent[], attributes: keyof HistoryEvent) => events.some((e) => e[attributes] != null);

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    for (const f of readdirSync(OUT)) if (f.endsWith('.json')) rmSync(path.join(OUT, f));
    deps = await connectTestDeps();
    const clientSettings = { dir: clientsDir, env: {} };
    const real = createClientUpsertActivities(deps, clientSettings);
    worker = await startTestWorker(deps, {
      settings: { tenantSync: { pageSize: 50 }, migrations: { registry, batchSize: 50 }, clientUpsert: clientSettings },
      activityOverrides: {
        // The saga path: a failing route step of client "beta" is compensated.
        syncClientRoutes: async (input: ClientStepInput) => {
          const failure = { type: 'DATABASE_ERROR', message: 'route store unavailable', nonRetryable: true };
          if (input.clientKey.startsWith('beta')) throw ApplicationFailure.create(failure);
          return real.syncClientRoutes(input);
        },
      },
    });
    upstream = await startFixtureUpstream();
    const overrides = { SYNC_FRESHNESS_MS: 0, TEMPORAL_AUTH_TIMEOUT_MS: 20_000, USE_TEMPORAL_FOR_AUTH: true };
    app = await buildTestApp(deps, overrides, { migrations: registry });
    admin = await bearer(deps, ['admin']);
    data = deps.mongo.client.db(uniqueId('hist').replace(/-/g, '_'));
  });
  afterAll(async () => {
    await app?.close();
    await worker?.stop();
    await upstream?.close();
    await data?.dropDatabase().catch(() => undefined);
    await deps?.close();
    rmSync(clientsDir, { recursive: true, force: true });
    process.stdout.write(`[histories] wrote ${written.length} histories to ${OUT}: ${written.join(', ')}\n`);
  });

  it('stackProbeWorkflow: one activity', async () => {
    const probeId = uniqueId('probe');
    const workflowId = WorkflowIds.stackProbe(probeId);
    const handle = await client().start('stackProbeWorkflow', { taskQueue: taskQueue(), workflowId, args: [probeId] });
    expect(has(await save('stackProbeWorkflow', handle), 'activityTaskCompletedEventAttributes')).toBe(true);
  });

  it('tenantSyncWorkflow: update-with-start from a login, local and regular activities, one collection failing', async () => {
    const tenantId = uniqueId('t');
    const collections = [
      { name: 'users', essential: true, size: 12 },
      { name: 'roles', essential: true, size: 3 },
      { name: 'audit', essential: false, size: 8 },
      { name: 'events', essential: false, size: 5 },
    ];
    upstream.seedTenant(tenantId, { collections: Object.fromEntries(collections.map((c) => [c.name, c.size])), token: `tok-${tenantId}` });
    upstream.failCollection(tenantId, 'events', 400);
    const source = { kind: 'http', settings: { baseUrl: upstream.baseUrl(tenantId), token: `tok-${tenantId}`, timeoutMs: 5_000 } };
    const planned = collections.map(({ name, essential }) => ({ name, essential }));
    const payload = { tenantId, name: `Tenant ${tenantId}`, source, collections: planned };
    const reg = await app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload });
    expect(reg.statusCode, reg.body).toBe(201);
    const res = await app.inject({ method: 'POST', url: `/api/sync/tenants/${tenantId}/ensure`, headers: admin });
    expect(res.json()).toMatchObject({ syncMethod: 'temporal', essentialReady: true });
    const handle = client().getHandle(WorkflowIds.tenantSync(tenantId));
    expect(await handle.result()).toMatchObject({ state: 'partial' });
    expect(has(await save('tenantSyncWorkflow', handle), 'workflowExecutionUpdateCompletedEventAttributes')).toBe(true);
  });

  it('reconcileWorkflow: partitions reporting through updates, repairs, one continue-as-new', async () => {
    await generatePair(data, { source: 'src', target: 'tgt' }, 240, driftOf(240, 0.05));
    const ns = (collection: string) => ({ db: data.databaseName, collection });
    // historyLimit at its minimum and a report per chunk of two: 120 chunks outlast the first run's history.
    const options = { chunkSize: 2, partitions: 2, maxConcurrency: 2, progressIntervalMs: 0, historyLimit: 100, extras: 'delete' };
    const payload = { source: { kind: 'namespace', ...ns('src') }, target: ns('tgt'), options };
    const headers = { ...admin, 'idempotency-key': uniqueId('rk') };
    const res = await app.inject({ method: 'POST', url: '/api/reconcile', headers, payload });
    expect(res.statusCode, res.body).toBe(202);
    const { workflowId } = res.json() as { workflowId: string };
    const last = client().getHandle(workflowId);
    expect(await last.result()).toMatchObject({ state: 'completed', repaired: 12 });
    const firstRunId = (await last.describe()).raw.workflowExecutionInfo?.firstRunId;
    expect(firstRunId).toBeTruthy();
    const first = await save('reconcileWorkflow', client().getHandle(workflowId, firstRunId!));
    expect(has(first, 'workflowExecutionContinuedAsNewEventAttributes')).toBe(true);
    expect(has(first, 'workflowExecutionUpdateAcceptedEventAttributes')).toBe(true);
    expect(has(await save('reconcileWorkflow.continued', last), 'workflowExecutionCompletedEventAttributes')).toBe(true);
  });

  it('upsertAllClientsWorkflow and clientUpsertWorkflow: children, one compensated by the saga', async () => {
    const alpha = uniqueId('alpha');
    const beta = uniqueId('beta');
    for (const key of [alpha, beta]) writeClient(clientsDir, generateClient(key, { routes: 2, components: 2, users: 1 }));
    const res = await app.inject({ method: 'POST', url: '/api/clients/sync', headers: admin, payload: { keys: [alpha, beta] } });
    expect(res.statusCode, res.body).toBe(202);
    const { workflowId, runId } = res.json() as { workflowId: string; runId: string };
    const all = client().getHandle(workflowId, runId);
    expect(await all.result()).toMatchObject({ total: 2, upserted: 1, partial: 1 });
    expect(has(await save('upsertAllClientsWorkflow', all), 'childWorkflowExecutionCompletedEventAttributes')).toBe(true);
    const ok = client().getHandle(WorkflowIds.clientUpsert(alpha));
    expect(await ok.result()).toMatchObject({ status: 'completed' });
    await save('clientUpsertWorkflow', ok);
    const compensated = client().getHandle(WorkflowIds.clientUpsert(beta));
    expect(await compensated.result()).toMatchObject({ status: 'partial', steps: { routes: { status: 'compensated' } } });
    await save('clientUpsertWorkflow.compensated', compensated);
  });

  it('runMigrationsWorkflow and migrationWorkflow: one migration completes, one fails verify and is restored', async () => {
    const col = uniqueId('items').replace(/-/g, '_');
    await seed(deps.mongo.db, col, 20);
    const good = `${uniqueId('m1')}-flag`;
    const bad = `${uniqueId('m2')}-break`;
    registry.add(
      defineMigration({
        name: good,
        description: 'flag every item',
        collections: [col],
        up: async (ctx) => void (await rewriteCollection(ctx, col, (d) => ({ ...d, flag: true }))),
        verify: async (ctx) => {
          const unflagged = await ctx.db.collection(col).countDocuments({ flag: { $ne: true } });
          return { ok: unflagged === 0, message: `${unflagged} unflagged` };
        },
      }),
      defineMigration({
        name: bad,
        description: 'a change its verify rejects',
        collections: [col],
        up: async (ctx) => void (await ctx.db.collection(col).deleteMany({ n: { $lt: 5 } })),
        verify: async () => ({ ok: false, message: 'rows went missing' }),
      }),
    );
    const headers = { ...admin, 'idempotency-key': uniqueId('mk') };
    const res = await app.inject({ method: 'POST', url: '/api/migrations/run', headers, payload: { names: [good, bad] } });
    expect(res.statusCode, res.body).toBe(202);
    const run = client().getHandle((res.json() as { workflowId: string }).workflowId);
    expect(await run.result()).toMatchObject({ state: 'failed', results: [{ outcome: 'completed' }, { outcome: 'failed' }] });
    expect(has(await save('runMigrationsWorkflow', run), 'childWorkflowExecutionFailedEventAttributes')).toBe(true);
    const migration = (name: string) => client().getHandle(WorkflowIds.migration(name));
    expect(has(await save('migrationWorkflow', migration(good)), 'workflowExecutionCompletedEventAttributes')).toBe(true);
    expect(has(await save('migrationWorkflow.failed', migration(bad)), 'workflowExecutionFailedEventAttributes')).toBe(true);
  });

  it('cleanupWorkflow (a retention target and migration backups) and stuckSyncSweepWorkflow', async () => {
    const start = (type: string, args: unknown[]) => client().start(type, { taskQueue: taskQueue(), workflowId: uniqueId(type), args });
    const retentionMs = 3_600_000;
    const runs = await start(CleanupNames.cleanupWorkflow, [{ target: CleanupTargets.syncRuns, retentionMs, batchSize: 10 }]);
    expect(has(await save('cleanupWorkflow', runs), 'workflowExecutionCompletedEventAttributes')).toBe(true);
    const backups = await start(CleanupNames.cleanupWorkflow, [{ target: CleanupTargets.migrationBackups, retentionMs }]);
    expect(has(await save('cleanupWorkflow.migration-backups', backups), 'workflowExecutionCompletedEventAttributes')).toBe(true);
    const sweep = await start(CleanupNames.stuckSyncSweepWorkflow, [{ stuckAfterMs: 600_000, action: 'report' }]);
    expect(has(await save('stuckSyncSweepWorkflow', sweep), 'workflowExecutionCompletedEventAttributes')).toBe(true);
  });
});
