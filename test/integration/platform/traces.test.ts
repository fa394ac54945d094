import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import { defineMigration } from '../../../activities/migrations/registry';
import { startTelemetry, type Telemetry } from '../../../infra/telemetry';
import { WorkflowIds } from '../../../shared/constants';
import { TRACE_CONTEXT_HEADER } from '../../../workflows/trace-context';
import { mutableRegistry } from '../../helpers/migrations';
import { uniqueId } from '../../helpers/stack';
import { startLoginBench, type LoginBench } from '../../helpers/login';

// One trace from the login request to every activity: the API's server span, the client's
// update-with-start span (named after the update), and each activity run (local ones included)
// as a child of that client span — all under the trace ID the API returned in X-Trace-Id (here
// the caller's, sent as traceparent). The workflow code only forwards the client's trace context
// (workflows/trace-context.ts): no span is made in the sandbox, none is named after a workflow step.

const COLLECTIONS = [
  { name: 'users', essential: true, size: 40 },
  { name: 'audit', essential: false, size: 20 },
];

/** Span names of @temporalio/interceptors-opentelemetry's workflow interceptors (made in the sandbox). */
const SANDBOX_SPAN =
  /^(RunWorkflow|HandleSignal|HandleUpdate|ValidateUpdate|HandleQuery|StartActivity|StartChildWorkflow|ContinueAsNew|SignalWorkflow|StartNexusOperation):/;

describe('traces', () => {
  const exporter = new InMemorySpanExporter();
  const migrations = mutableRegistry();
  let telemetry: Telemetry;
  let bench: LoginBench;

  beforeAll(async () => {
    // Before the bench: its Temporal client and worker bind to the providers installed here.
    telemetry = await startTelemetry({ serviceName: 'test', spanExporter: exporter });
    bench = await startLoginBench({ settings: { migrations: { registry: migrations } } });
  });
  afterAll(async () => {
    await bench?.close();
    await telemetry?.shutdown();
  });

  const inTrace = (traceId: unknown) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
  const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
  const oneOf = (spans: ReadableSpan[], name: string): ReadableSpan => {
    const found = spans.filter((s) => s.name === name);
    expect(found, `${name} in ${spans.map((s) => s.name).join(', ')}`).toHaveLength(1);
    return found[0]!;
  };
  const noSandboxSpans = () => {
    const sandbox = exporter
      .getFinishedSpans()
      .filter((s) => SANDBOX_SPAN.test(s.name) || s.instrumentationScope.name === '@temporalio/interceptor-workflow');
    expect(sandbox.map((s) => s.name)).toEqual([]);
  };

  it('forwards the trace context under the header the OpenTelemetry interceptors read', () => {
    expect(TRACE_CONTEXT_HEADER).toBe(TRACE_HEADER);
  });

  it('chains HTTP request → update-with-start → every activity run under X-Trace-Id, with no span from the workflow', async () => {
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
    const workflowId = WorkflowIds.tenantSync(tenantId);
    await bench.deps.temporal.client.workflow.getHandle(workflowId).result();

    // recordSyncRun runs twice (once the essentials are in, and at the end).
    await expect.poll(() => inTrace(traceId).filter((s) => s.name === 'RunActivity:recordSyncRun').length, { timeout: 15_000 }).toBe(2);
    const spans = inTrace(traceId);
    const server = oneOf(spans, 'POST /api/sync/tenants/:tenantId/ensure');
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(parentOf(server)).toBe(callerSpan);
    expect(server.attributes['http.response.status_code']).toBe(200);
    expect(server.attributes['http.request.aborted']).toBeUndefined();
    const start = oneOf(spans, 'UpdateWithStartWorkflow:essentialReady');
    expect(parentOf(start)).toBe(server.spanContext().spanId);
    expect(start.attributes.temporalWorkflowId).toBe(workflowId);

    // Both collections (the essential one a local activity) and both run records, each a child of the client's span.
    const activities = spans.filter((s) => s.name.startsWith('RunActivity:'));
    expect(activities.map((s) => s.name).sort()).toEqual([
      'RunActivity:recordSyncRun',
      'RunActivity:recordSyncRun',
      'RunActivity:syncCollection',
      'RunActivity:syncCollection',
    ]);
    for (const s of activities) {
      expect(parentOf(s), s.name).toBe(start.spanContext().spanId);
      expect(s.attributes.temporalWorkflowId).toBe(workflowId);
    }
    // Nothing else in the trace: the server span, the client's span and the activity runs.
    expect(spans.length, spans.map((s) => s.name).join(', ')).toBe(activities.length + 2);
    noSandboxSpans();
  });

  it("carries the trace context to a child workflow's activities", async () => {
    const name = uniqueId('m-trace');
    migrations.add(
      defineMigration({
        name,
        description: 'changes nothing',
        collections: [],
        up: async (ctx) => void ctx.changes.push('nothing'),
        verify: async () => ({ ok: true, message: 'fine' }),
      }),
    );
    const a = await bench.app({}, { migrations });
    const traceId = 'b1c2d3e4f5a60718293a4b5c6d7e8f90';
    const res = await a.inject({
      method: 'POST',
      url: '/api/migrations/run',
      headers: { ...bench.admin, 'idempotency-key': uniqueId('mk'), traceparent: `00-${traceId}-1122334455667788-01` },
      payload: { names: [name] },
    });
    expect(res.statusCode, res.body).toBe(202);
    const runId: string = res.json().workflowId;
    await bench.deps.temporal.client.workflow.getHandle(runId).result();
    const childId = WorkflowIds.migration(name);

    const childActivities = () =>
      inTrace(traceId).filter((s) => s.name.startsWith('RunActivity:') && s.attributes.temporalWorkflowId === childId);
    await expect.poll(() => childActivities().some((s) => s.name === 'RunActivity:applyMigration'), { timeout: 15_000 }).toBe(true);
    const spans = inTrace(traceId);
    const server = oneOf(spans, 'POST /api/migrations/run');
    const start = oneOf(spans, 'StartWorkflow:runMigrationsWorkflow');
    expect(parentOf(start)).toBe(server.spanContext().spanId);
    const ofRun = spans.filter((s) => s.name.startsWith('RunActivity:') && s.attributes.temporalWorkflowId === runId);
    expect(ofRun.length).toBeGreaterThanOrEqual(1);
    for (const s of [...ofRun, ...childActivities()])
      expect(parentOf(s), `${s.name} of ${String(s.attributes.temporalWorkflowId)}`).toBe(start.spanContext().spanId);
    noSandboxSpans();
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
