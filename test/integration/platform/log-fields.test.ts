import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '@temporalio/worker';
import { defineMigration } from '../../../activities/migrations/registry';
import { startFixtureUpstream, type FixtureUpstream } from '../../../fixtures/upstream/server';
import { createLogger } from '../../../infra/logger';
import { startTelemetry, type Telemetry } from '../../../infra/telemetry';
import { WorkflowIds } from '../../../shared/constants';
import { runtimeLoggerTo } from '../../../workers/telemetry';
import { mutableRegistry } from '../../helpers/migrations';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Log lines written inside activities (through deps.log, pino) and inside workflow tasks
// (workflow `log`, through the Temporal runtime logger to pino) carry the request's trace ID,
// the sync's correlation ID, the workflow ID and — in activities — the activity type. A
// migration run started over the API carries the request's correlation ID the same way.

type Line = Record<string, unknown>;

describe('log fields', () => {
  const raw: string[] = [];
  const log = createLogger({
    name: 'test',
    level: 'info',
    destination: new Writable({ write: (chunk: Buffer, _e, cb) => (raw.push(chunk.toString()), cb()) }),
  });
  let telemetry: Telemetry;
  let upstream: FixtureUpstream;
  const registry = mutableRegistry();
  const lines = (): Line[] =>
    raw
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Line);

  // Registered before the stack's hooks: the runtime logger is installed before its worker starts,
  // telemetry shuts down after it closed.
  beforeAll(async () => {
    // As in workers/worker.ts: one runtime per process, its logger writing through pino.
    Runtime.install({ logger: runtimeLoggerTo(log), shutdownSignals: [] });
    telemetry = await startTelemetry({ serviceName: 'test' });
  });
  afterAll(async () => {
    await telemetry?.shutdown();
  });
  const stack = useStack({
    log,
    worker: { settings: { migrations: { registry } } },
    app: {
      config: { USE_TEMPORAL_FOR_AUTH: true, SYNC_FRESHNESS_MS: 0, TEMPORAL_AUTH_TIMEOUT_MS: 10_000 },
      extra: { migrations: registry },
    },
  });
  beforeAll(async () => {
    upstream = await startFixtureUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it('puts traceId, correlationId, workflowId and activityType on lines written in activities and workflow tasks', async () => {
    const tenantId = uniqueId('t');
    const cols = [
      { name: 'users', essential: true, size: 30 },
      { name: 'audit', essential: false, size: 10 },
    ];
    upstream.seedTenant(tenantId, { collections: Object.fromEntries(cols.map((c) => [c.name, c.size])), token: `tok-${tenantId}` });
    const admin = await stack.bearer(['admin']);
    const reg = await stack.app.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: admin,
      payload: {
        tenantId,
        name: tenantId,
        source: { kind: 'http', settings: { baseUrl: upstream.baseUrl(tenantId), token: `tok-${tenantId}`, timeoutMs: 5_000 } },
        collections: cols.map(({ name, essential }) => ({ name, essential })),
      },
    });
    expect(reg.statusCode, reg.body).toBe(201);
    const res = await stack.app.inject({
      method: 'POST',
      url: `/api/sync/tenants/${tenantId}/ensure`,
      headers: await stack.bearer(['sync:write']),
    });
    expect(res.statusCode, res.body).toBe(200);
    const { correlationId, syncMethod } = res.json();
    expect(syncMethod).toBe('temporal');
    const traceId = res.headers['x-trace-id'];
    const workflowId = WorkflowIds.tenantSync(tenantId);
    await stack.deps.temporal.client.workflow.getHandle(workflowId).result();

    const mine = () => lines().filter((l) => l.workflowId === workflowId);
    // Workflow log lines are flushed through the runtime logger shortly after the task completes.
    await expect.poll(() => mine().some((l) => l.msg === 'tenant sync finished'), { timeout: 10_000 }).toBe(true);

    const activityLines = mine().filter((l) => l.activityType !== undefined);
    const synced = activityLines.filter((l) => l.msg === 'collection synced');
    expect(synced.map((l) => l.collection).sort()).toEqual(['audit', 'users']);
    for (const l of activityLines)
      expect(l, JSON.stringify(l)).toMatchObject({
        traceId,
        correlationId,
        workflowId,
        activityType: expect.stringMatching(/^(syncCollection|recordSyncRun)$/),
      });

    const workflowLines = mine().filter((l) => l.sdkComponent === 'workflow');
    expect(workflowLines.map((l) => l.msg)).toEqual(expect.arrayContaining(['tenant sync started', 'tenant sync finished']));
    for (const l of workflowLines)
      expect(l, JSON.stringify(l)).toMatchObject({ traceId, correlationId, workflowId, workflowType: 'tenantSyncWorkflow' });
  });

  it('puts the correlation ID of POST /api/migrations/run on the lines of the run, its child migration and their activities', async () => {
    const name = uniqueId('m-log');
    registry.add(
      defineMigration({
        name,
        description: 'changes nothing',
        collections: [],
        up: async (ctx) => void ctx.changes.push('nothing'),
        verify: async () => ({ ok: true, message: 'fine' }),
      }),
    );
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/migrations/run',
      headers: { ...(await stack.bearer(['admin'])), 'idempotency-key': uniqueId('mk') },
      payload: { names: [name] },
    });
    expect(res.statusCode, res.body).toBe(202);
    const correlationId = res.headers['x-correlation-id'];
    expect(correlationId).toMatch(/^[0-9a-f-]{36}$/);
    const runId: string = res.json().workflowId;
    await stack.deps.temporal.client.workflow.getHandle(runId).result();
    const childId = WorkflowIds.migration(name);

    await expect
      .poll(() => lines().some((l) => l.workflowId === runId && l.msg === 'migration run finished'), { timeout: 10_000 })
      .toBe(true);
    const applied = lines().filter((l) => l.workflowId === childId && l.msg === 'migration applied');
    expect(applied).toHaveLength(1);
    expect(applied[0]).toMatchObject({ correlationId, activityType: 'applyMigration', migration: name });
    // Every line of the run (a workflow task) and of its child's activities carries it.
    const ofRun = lines().filter((l) => l.workflowId === runId || l.workflowId === childId);
    expect(ofRun.map((l) => l.msg)).toEqual(expect.arrayContaining(['migration applied', 'migration run finished']));
    expect(ofRun.find((l) => l.msg === 'migration run finished')).toMatchObject({
      sdkComponent: 'workflow',
      workflowType: 'runMigrationsWorkflow',
    });
    for (const l of ofRun) expect(l, JSON.stringify(l)).toMatchObject({ correlationId });
  });
});
