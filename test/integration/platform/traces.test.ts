import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startTelemetry, type Telemetry } from '../../../infra/telemetry';
import { WorkflowIds } from '../../../shared/constants';
import { startLoginBench, type LoginBench } from '../../helpers/login';

// One trace from the login request to every activity: the API's server span, the client's
// update-with-start span (named after the update), the workflow run and the update handler, each activity scheduled and run — all under the
// trace ID the API returned in X-Trace-Id (here the caller's, sent as traceparent).

const COLLECTIONS = [
  { name: 'users', essential: true, size: 40 },
  { name: 'audit', essential: false, size: 20 },
];

describe('traces', () => {
  const exporter = new InMemorySpanExporter();
  let telemetry: Telemetry;
  let bench: LoginBench;

  beforeAll(async () => {
    // Before the bench: its Temporal client and worker bind to the providers installed here.
    telemetry = await startTelemetry({ serviceName: 'test', spanExporter: exporter });
    bench = await startLoginBench();
  });
  afterAll(async () => {
    await bench?.close();
    await telemetry?.shutdown();
  });

  it('chains HTTP request → update-with-start → workflow run → activity start → activity run under X-Trace-Id', async () => {
    const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: true });
    const tenantId = await bench.registerTenant(a, COLLECTIONS);
    const callerTrace = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const callerSpan = '1122334455667788';
    const res = await a.inject({
      method: 'POST',
      url: `/api/sync/tenants/${tenantId}/ensure`,
      headers: { ...bench.syncer, traceparent: `00-${callerTrace}-${callerSpan}-01` },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().syncMethod).toBe('temporal');
    const traceId = res.headers['x-trace-id'];
    expect(traceId).toBe(callerTrace);
    await bench.deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId)).result();

    // Workflow spans reach the exporter through a sink after the workflow task that ends them.
    const inTrace = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    await expect.poll(() => inTrace().some((s) => s.name === 'RunWorkflow:tenantSyncWorkflow'), { timeout: 15_000 }).toBe(true);
    const spans = inTrace();
    const named = (name: string) => spans.filter((s) => s.name === name);
    const one = (name: string): ReadableSpan => {
      const found = named(name);
      expect(found, `${name} in ${spans.map((s) => s.name).join(', ')}`).toHaveLength(1);
      return found[0]!;
    };
    const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

    const server = one('POST /api/sync/tenants/:tenantId/ensure');
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(parentOf(server)).toBe(callerSpan);
    expect(server.attributes['http.response.status_code']).toBe(200);
    expect(server.attributes['http.request.aborted']).toBeUndefined();
    const start = one('UpdateWithStartWorkflow:essentialReady');
    expect(parentOf(start)).toBe(server.spanContext().spanId);
    const run = one('RunWorkflow:tenantSyncWorkflow');
    expect(parentOf(run)).toBe(start.spanContext().spanId);
    expect(run.attributes.temporalWorkflowId).toBe(WorkflowIds.tenantSync(tenantId));
    expect(parentOf(one('HandleUpdate:essentialReady'))).toBe(start.spanContext().spanId);

    // Both collections (one a local activity) and the run records: scheduled by the run, each run under its schedule span.
    const scheduled = named('StartActivity:syncCollection');
    expect(scheduled).toHaveLength(COLLECTIONS.length);
    const executed = named('RunActivity:syncCollection');
    expect(executed).toHaveLength(COLLECTIONS.length);
    for (const s of scheduled) expect(parentOf(s)).toBe(run.spanContext().spanId);
    const scheduledIds = scheduled.map((s) => s.spanContext().spanId).sort();
    expect(executed.map(parentOf).sort()).toEqual(scheduledIds);
    const records = named('RunActivity:recordSyncRun');
    expect(records.length).toBeGreaterThanOrEqual(1);
    const recordStarts = new Set(named('StartActivity:recordSyncRun').map((s) => s.spanContext().spanId));
    for (const r of records) expect(recordStarts.has(parentOf(r)!)).toBe(true);
  });

  it("starts a fresh trace per request without traceparent, and X-Trace-Id is the server span's trace", async () => {
    const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: false });
    const tenantId = await bench.registerTenant(a, COLLECTIONS);
    const first = await bench.ensure(a, tenantId);
    const second = await bench.ensure(a, tenantId);
    const ids = [first.headers['x-trace-id'], second.headers['x-trace-id']];
    expect(ids[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(ids[0]).not.toBe(ids[1]);
    for (const id of ids) {
      const server = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === id && s.kind === SpanKind.SERVER);
      expect(server.map((s) => s.name)).toEqual(['POST /api/sync/tenants/:tenantId/ensure']);
      expect(server[0]!.parentSpanContext).toBeUndefined();
    }
  });

  it('ends the server span with an error when the client aborts before the response', async () => {
    const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: false });
    const tenantId = await bench.registerTenant(a, COLLECTIONS);
    const url = await a.listen({ host: '127.0.0.1', port: 0 });
    // Every upstream page takes 1.5 s: the direct sync (and so the response) is still pending at the abort.
    bench.upstream.setLatency(tenantId, '*', 1_500);
    const traceId = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';
    const abort = new AbortController();
    const pending = fetch(`${url}/api/sync/tenants/${tenantId}/ensure`, {
      method: 'POST',
      headers: { ...bench.syncer, traceparent: `00-${traceId}-1122334455667788-01` },
      signal: abort.signal,
    });
    setTimeout(() => abort.abort(), 300);
    await expect(pending).rejects.toThrow(/abort/i);

    // Ended at the abort, not when the sync finishes later (the poll gives up well before).
    const server = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId && s.kind === SpanKind.SERVER);
    await expect.poll(() => server().length, { timeout: 1_000, interval: 50 }).toBe(1);
    const [span] = server();
    expect(span!.name).toBe('POST /api/sync/tenants/:tenantId/ensure');
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes['http.request.aborted']).toBe(true);
    expect(span!.attributes['http.response.status_code']).toBeUndefined();
    // …and the HTTP metrics count it as 499 (client closed request) instead of losing it.
    expect(await telemetry.metricsText()).toMatch(
      /http_requests_total\{method="POST",route="\/api\/sync\/tenants\/:tenantId\/ensure",status_code="499"[^}]*\} 1/,
    );

    // Let the abandoned sync finish before the bench closes; its span is not ended twice.
    bench.upstream.setLatency(tenantId, '*', 0);
    await expect
      .poll(
        async () => (await a.inject({ method: 'GET', url: `/api/sync/tenants/${tenantId}/status`, headers: bench.syncer })).json().state,
        { timeout: 15_000 },
      )
      .toMatch(/^(completed|partial|failed)$/);
    expect(server()).toHaveLength(1);
  });
});
