import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ClientMetricNames } from '../../activities/client-metrics';
import { startClientUpsert } from '../../infra/client-upsert-start';
import { freePort } from '../../infra/dev/servers';
import { MetricNames } from '../../infra/metrics';
import { startTelemetry, type Telemetry } from '../../infra/telemetry';
import { WorkflowIds } from '../../shared/constants';
import { startLoginBench, type LoginBench } from '../helpers/login';

// After a scenario — a login through Temporal, a direct one, a fallback on timeout, a failing
// collection and a client upsert — both scrape endpoints (the API's GET /health/metrics over a
// real socket, and the worker's metrics port) list every expected series with its labels.
// API and worker share this process, so they share one registry: both must expose it all.

const COLLECTIONS = [
  { name: 'users', essential: true, size: 30 },
  { name: 'audit', essential: false, size: 10 },
];

/** `name{a="x",b="y"}` → does a sample of `name` carry these labels (any others allowed)? */
function hasSeries(text: string, name: string, labels: Record<string, string> = {}): boolean {
  return text.split('\n').some((line) => {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) return false;
    return Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
  });
}

describe('metrics', () => {
  let telemetry: Telemetry;
  let bench: LoginBench;
  let api: FastifyInstance;
  let apiUrl: string;

  beforeAll(async () => {
    telemetry = await startTelemetry({ serviceName: 'test', metricsPort: await freePort() });
    bench = await startLoginBench();
    api = await bench.app({ USE_TEMPORAL_FOR_AUTH: true }, { telemetry });
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

    const upsert = await startClientUpsert({ client: bench.deps.temporal.client, taskQueue: bench.deps.config.TEMPORAL_TASK_QUEUE, keys: ['acme-portal'], concurrency: 1, trigger: 'test' });
    await upsert.result();
  });
  afterAll(async () => {
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
      [`${MetricNames.activityDuration}_bucket`, { activity_type: 'syncCollection', outcome: 'completed' }],
      [`${MetricNames.activityDuration}_bucket`, { activity_type: 'syncCollection', outcome: 'failed' }],
      [MetricNames.activityFailures, { activity_type: 'syncCollection' }],
      [MetricNames.syncRequests, { method: 'temporal', outcome: 'ready' }],
      [MetricNames.syncRequests, { method: 'direct', outcome: 'ready' }],
      [`${MetricNames.syncDuration}_bucket`, { method: 'temporal' }],
      [`${MetricNames.syncDuration}_bucket`, { method: 'direct' }],
      [MetricNames.syncFallbacks, { reason: 'timeout' }],
      [ClientMetricNames.upsertTotal],
      [`${ClientMetricNames.upsertDuration}_bucket`],
      [MetricNames.eventLoopLag, { stat: 'p99' }],
      // Host metrics (process group): OpenTelemetry names, Prometheus-converted.
      ['process_cpu_time_total', { process_cpu_state: 'user' }],
      ['process_cpu_utilization', { process_cpu_state: 'system' }],
      ['process_memory_usage'],
    ];
    const { api: apiText, worker: workerText } = await scrapes();
    for (const [text, where] of [[apiText, 'api'], [workerText, 'worker']] as const) {
      const missing = expected.filter(([name, labels]) => !hasSeries(text, name, labels)).map(([n, l]) => `${n}${JSON.stringify(l ?? {})}`);
      expect(missing, `${where} scrape lacks these series`).toEqual([]);
    }
    // Route patterns, never raw URLs (no tenant IDs in HTTP labels).
    expect(apiText).not.toMatch(/route="\/api\/sync\/tenants\/t-/);
  });
});
