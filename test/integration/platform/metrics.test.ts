import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Db } from 'mongodb';
import { ClientMetricNames } from '../../../activities/client-upsert/metrics';
import { defineMigration } from '../../../activities/migrations/registry';
import { driftOf, generatePair } from '../../../fixtures/reconcile-data';
import { startClientUpsert } from '../../../activities/client-upsert/start';
import { freePort } from '../../../infra/dev/servers';
import { promSamples, promSum } from '../../../infra/dev/prom-text';
import { MetricNames } from '../../../infra/metrics';
import { startTelemetry, type Telemetry } from '../../../infra/telemetry';
import { WorkflowIds } from '../../../shared/constants';
import type { RunMigrationsResult } from '../../../shared/migrations';
import { startLoginBench, type LoginBench } from '../../helpers/login';
import { mutableRegistry } from '../../helpers/migrations';
import { uniqueId } from '../../helpers/stack';

// After a scenario — a login through Temporal, a direct one, a fallback on timeout, a failing
// collection, a client upsert, a reconcile with drift, and a migration run in which one
// migration completes and one fails (its workflow ends FAILED) — both scrape endpoints (the API's GET /health/metrics over a
// real socket, and the worker's metrics port) list every expected series with its labels.
// API and worker share this process, so they share one registry: both must expose it all.

const COLLECTIONS = [
  { name: 'users', essential: true, size: 30 },
  { name: 'audit', essential: false, size: 10 },
];
/** 50 source records, 2 of each drift kind, in chunks of 20: 52 keys → 3 chunks. */
const RECONCILE = { records: 50, drift: driftOf(50, 0.12), chunkSize: 20 };

/** `name{a="x",b="y"}` → does a sample of `name` carry these labels (any others allowed)? */
const hasSeries = (text: string, name: string, labels: Record<string, string> = {}) => promSamples(text, name, labels).length > 0;

/** Sum of the samples of exactly `name` that carry these labels (0 when none). */
const valueOf = (text: string, name: string, labels: Record<string, string>) => promSum(text, name, labels) ?? 0;

describe('metrics', () => {
  let telemetry: Telemetry;
  let bench: LoginBench;
  let api: FastifyInstance;
  let apiUrl: string;
  let data: Db;
  const registry = mutableRegistry();
  const migrations = { ok: uniqueId('m-ok'), failing: uniqueId('m-fails') };
  let reconciled: { chunksDone: number };

  beforeAll(async () => {
    telemetry = await startTelemetry({ serviceName: 'test', metricsPort: await freePort() });
    bench = await startLoginBench({ settings: { tenantSync: { pageSize: 500 }, migrations: { registry } } });
    api = await bench.app({ USE_TEMPORAL_FOR_AUTH: true }, { telemetry, migrations: registry });
    apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });

    const ensure = (tenantId: string) => fetch(`${apiUrl}/api/sync/tenants/${tenantId}/ensure`, { method: 'POST', headers: bench.syncer });
    const viaTemporal = await bench.registerTenant(api, COLLECTIONS);
    bench.upstream.failCollection(viaTemporal, 'audit', 400);
    expect(((await (await ensure(viaTemporal)).json()) as { syncMethod: string }).syncMethod).toBe('temporal');
    await bench.deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(viaTemporal)).result();

    const direct = await bench.app({ USE_TEMPORAL_FOR_AUTH: false });
    const viaDirect = await bench.registerTenant(direct, COLLECTIONS);
    expect((await bench.ensure(direct, viaDirect)).json().syncMethod).toBe('direct');

    const slow = await bench.app({ USE_TEMPORAL_FOR_AUTH: true, TEMPORAL_AUTH_TIMEOUT_MS: 300 });
    const viaFallback = await bench.registerTenant(slow, COLLECTIONS);
    bench.upstream.setLatency(viaFallback, '*', 500);
    expect((await bench.ensure(slow, viaFallback)).json()).toMatchObject({ syncMethod: 'direct', fallbackReason: 'timeout' });
    bench.upstream.setLatency(viaFallback, '*', 0);
    await bench.deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(viaFallback)).result();

    const upsert = await startClientUpsert({
      client: bench.deps.temporal.client,
      taskQueue: bench.deps.config.TEMPORAL_TASK_QUEUE,
      keys: ['acme-portal'],
      concurrency: 1,
      trigger: 'test',
    });
    await upsert.result();

    // A reconcile (dry run) over two small collections with known drift.
    data = bench.deps.mongo.client.db(uniqueId('mdata').replace(/-/g, '_'));
    await generatePair(data, { source: 'src', target: 'tgt' }, RECONCILE.records, RECONCILE.drift);
    const rc = await fetch(`${apiUrl}/api/reconcile`, {
      method: 'POST',
      headers: { ...bench.admin, 'content-type': 'application/json', 'idempotency-key': uniqueId('rk') },
      body: JSON.stringify({
        source: { kind: 'namespace', db: data.databaseName, collection: 'src' },
        target: { db: data.databaseName, collection: 'tgt' },
        options: { dryRun: true, chunkSize: RECONCILE.chunkSize },
      }),
    });
    expect(rc.status, await rc.clone().text()).toBe(202);
    const { batchId, workflowId } = (await rc.json()) as { batchId: string; workflowId: string };
    await bench.deps.temporal.client.workflow.getHandle(workflowId).result();
    const progress = await api.inject({ method: 'GET', url: `/api/reconcile/${batchId}/progress`, headers: bench.admin });
    expect(progress.json()).toMatchObject({ state: 'completed', failed: 0 });
    reconciled = { chunksDone: progress.json().chunks.done };

    // A migration run: one migration completes, one throws in `up` (its migrationWorkflow fails;
    // the batch workflow itself completes with state 'failed').
    const ok = { ok: true, message: 'fine' };
    registry.add(
      defineMigration({
        name: migrations.ok,
        description: 'does nothing',
        collections: [],
        up: async () => undefined,
        verify: async () => ok,
      }),
      defineMigration({
        name: migrations.failing,
        description: 'throws',
        collections: [],
        up: async () => {
          throw new Error('boom');
        },
        verify: async () => ok,
      }),
    );
    const mr = await fetch(`${apiUrl}/api/migrations/run`, {
      method: 'POST',
      headers: { ...bench.admin, 'content-type': 'application/json', 'idempotency-key': uniqueId('mk') },
      body: JSON.stringify({ names: [migrations.ok, migrations.failing] }),
    });
    expect(mr.status, await mr.clone().text()).toBe(202);
    const run = (await bench.deps.temporal.client.workflow
      .getHandle(((await mr.json()) as { workflowId: string }).workflowId)
      .result()) as RunMigrationsResult;
    expect(run.results.map((r) => [r.name, r.outcome])).toEqual([
      [migrations.failing, 'failed'],
      [migrations.ok, 'completed'],
    ]);
    const failedRun = await bench.deps.temporal.client.workflow.getHandle(WorkflowIds.migration(migrations.failing)).describe();
    expect(failedRun.status.name).toBe('FAILED');
  });
  afterAll(async () => {
    await data?.dropDatabase().catch(() => undefined);
    await bench?.close();
    await telemetry?.shutdown();
  });

  const scrapes = async () => {
    const fromApi = await fetch(`${apiUrl}/health/metrics`);
    expect(fromApi.status).toBe(200);
    expect(fromApi.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const fromWorker = await fetch(telemetry.metricsUrl!);
    expect(fromWorker.status).toBe(200);
    return { api: await fromApi.text(), worker: await fromWorker.text() };
  };

  it('serves every expected name and label on the API route and the worker port', async () => {
    const ensureRoute = { method: 'POST', route: '/api/sync/tenants/:tenantId/ensure', status_code: '200' };
    const expected: Array<[string, Record<string, string>?]> = [
      [`${MetricNames.httpDuration}_bucket`, ensureRoute],
      [MetricNames.httpRequests, ensureRoute],
      [MetricNames.httpActive],
      [MetricNames.workflowStarts, { workflow_type: 'tenantSyncWorkflow' }],
      [MetricNames.workflowStarts, { workflow_type: 'upsertAllClientsWorkflow' }],
      [MetricNames.workflowCompletions, { workflow_type: 'tenantSyncWorkflow', outcome: 'completed' }],
      [MetricNames.workflowCompletions, { workflow_type: 'clientUpsertWorkflow', outcome: 'completed' }],
      [MetricNames.workflowStarts, { workflow_type: 'reconcileWorkflow' }],
      [MetricNames.workflowStarts, { workflow_type: 'runMigrationsWorkflow' }],
      [MetricNames.workflowCompletions, { workflow_type: 'runMigrationsWorkflow', outcome: 'completed' }],
      [MetricNames.workflowCompletions, { workflow_type: 'migrationWorkflow', outcome: 'completed' }],
      [MetricNames.workflowCompletions, { workflow_type: 'migrationWorkflow', outcome: 'failed' }],
      [MetricNames.workflowFailures, { workflow_type: 'migrationWorkflow' }],
      [MetricNames.reconcileRecords, { outcome: 'matched' }],
      [MetricNames.reconcileRecords, { outcome: 'missing' }],
      [MetricNames.reconcileRecords, { outcome: 'extra' }],
      [MetricNames.reconcileRecords, { outcome: 'mismatched' }],
      [MetricNames.reconcileChunks, { outcome: 'done' }],
      [MetricNames.migrationRuns, { outcome: 'completed' }],
      [MetricNames.migrationRuns, { outcome: 'failed' }],
      [`${MetricNames.migrationDuration}_bucket`, { outcome: 'completed' }],
      [`${MetricNames.migrationDuration}_bucket`, { outcome: 'failed' }],
      [`${MetricNames.httpDuration}_bucket`, { method: 'POST', route: '/api/reconcile', status_code: '202' }],
      [MetricNames.httpRequests, { method: 'POST', route: '/api/migrations/run', status_code: '202' }],
      [`${MetricNames.activityDuration}_bucket`, { activity_type: 'syncCollection', outcome: 'completed' }],
      [`${MetricNames.activityDuration}_bucket`, { activity_type: 'syncCollection', outcome: 'failed' }],
      [MetricNames.activityFailures, { activity_type: 'syncCollection' }],
      [MetricNames.syncRequests, { method: 'temporal', outcome: 'ready' }],
      [MetricNames.syncRequests, { method: 'direct', outcome: 'ready' }],
      [`${MetricNames.syncDuration}_bucket`, { method: 'temporal' }],
      [`${MetricNames.syncDuration}_bucket`, { method: 'direct' }],
      [MetricNames.syncFallbacks, { reason: 'timeout' }],
      // Recorded on every Temporal login; the tests' config has LOGIN_HEDGE=false, so 0 (no hedge).
      [MetricNames.syncHedgeDelay],
      [ClientMetricNames.upsertTotal],
      [`${ClientMetricNames.upsertDuration}_bucket`],
      [MetricNames.eventLoopLag, { stat: 'p99' }],
      // Host metrics (process group): OpenTelemetry names, Prometheus-converted.
      ['process_cpu_time_total', { process_cpu_state: 'user' }],
      ['process_cpu_utilization', { process_cpu_state: 'system' }],
      ['process_memory_usage'],
    ];
    const { api: apiText, worker: workerText } = await scrapes();
    for (const [text, where] of [
      [apiText, 'api'],
      [workerText, 'worker'],
    ] as const) {
      const missing = expected.filter(([name, labels]) => !hasSeries(text, name, labels)).map(([n, l]) => `${n}${JSON.stringify(l ?? {})}`);
      expect(missing, `${where} scrape lacks these series`).toEqual([]);
    }
    expect(valueOf(apiText, MetricNames.syncHedgeDelay, {})).toBe(0);
    // Route patterns, never raw URLs (no tenant IDs in HTTP labels).
    expect(apiText).not.toMatch(/route="\/api\/sync\/tenants\/t-/);
  });

  it('counts exactly what the reconcile and the migration run did', async () => {
    const { worker: text } = await scrapes();
    const { records, drift } = RECONCILE;
    const byOutcome = (outcome: string) => valueOf(text, MetricNames.reconcileRecords, { outcome });
    expect({
      matched: byOutcome('matched'),
      missing: byOutcome('missing'),
      extra: byOutcome('extra'),
      mismatched: byOutcome('mismatched'),
      failed: byOutcome('failed'),
    }).toEqual({
      matched: records - drift.missing - drift.mismatched,
      ...drift,
      failed: 0,
    });
    expect(reconciled.chunksDone).toBe(Math.ceil((records + drift.extra) / RECONCILE.chunkSize));
    expect(valueOf(text, MetricNames.reconcileChunks, { outcome: 'done' })).toBe(reconciled.chunksDone);
    expect(valueOf(text, MetricNames.reconcileChunks, { outcome: 'failed' })).toBe(0);
    expect(valueOf(text, MetricNames.migrationRuns, { outcome: 'completed' })).toBe(1);
    expect(valueOf(text, MetricNames.migrationRuns, { outcome: 'failed' })).toBe(1);
    expect(valueOf(text, `${MetricNames.migrationDuration}_count`, { outcome: 'failed' })).toBe(1);
    // Only the migration whose `up` threw ended as a FAILED workflow; the batch completed.
    expect(valueOf(text, MetricNames.workflowFailures, { workflow_type: 'migrationWorkflow' })).toBe(1);
    expect(valueOf(text, MetricNames.workflowCompletions, { workflow_type: 'migrationWorkflow', outcome: 'failed' })).toBe(1);
    expect(valueOf(text, MetricNames.workflowCompletions, { workflow_type: 'runMigrationsWorkflow', outcome: 'failed' })).toBe(0);
    expect(valueOf(text, MetricNames.workflowCompletions, { workflow_type: 'runMigrationsWorkflow', outcome: 'completed' })).toBe(1);
  });
});
