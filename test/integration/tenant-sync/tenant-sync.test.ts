import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Collections } from '../../../infra/mongo';
import { WorkflowIds } from '../../../shared/constants';
import { bearer } from '../../helpers/api';
import { startLoginBench, type LoginBench } from '../../helpers/login';
import type { TestDeps } from '../../helpers/stack';

// Login sync end to end on the real stack: fixture upstream → activities → FerretDB, through
// Temporal (update-with-start) or direct, with fallback and the circuit breaker.

const COLLECTIONS = [
  { name: 'users', essential: true, size: 300 },
  { name: 'roles', essential: true, size: 40 },
  { name: 'settings', essential: true, size: 20 },
  { name: 'audit', essential: false, size: 200 },
];

describe('tenant sync at login', () => {
  let bench: LoginBench;
  let deps: TestDeps;
  let upstream: LoginBench['upstream'];
  let admin: Record<string, string>;
  let syncer: Record<string, string>;
  const app: LoginBench['app'] = (o, e) => bench.app(o, e);
  const registerTenant = (a: FastifyInstance, opts: { collections?: typeof COLLECTIONS } = {}) =>
    bench.registerTenant(a, opts.collections ?? COLLECTIONS);
  const ensure = (a: FastifyInstance, tenantId: string) => bench.ensure(a, tenantId);
  const count = (tenantId: string, collection: string) => deps.mongo.tenantDb(tenantId).collection(collection).countDocuments();
  const waitForWorkflow = (tenantId: string) => deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId)).result();

  beforeAll(async () => {
    bench = await startLoginBench();
    ({ deps, upstream, admin, syncer } = bench);
  });
  afterAll(async () => bench?.close());

  it('registers tenants without ever returning their secrets', async () => {
    const a = await app();
    const tenantId = await registerTenant(a);
    const res = await a.inject({ method: 'GET', url: `/api/tenants/${tenantId}`, headers: admin });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain(`tok-${tenantId}`);
    expect(res.json().source.secretsSet).toEqual(['token']);
    const noAdmin = await a.inject({ method: 'GET', url: `/api/tenants/${tenantId}`, headers: syncer });
    expect(noAdmin.statusCode).toBe(403);
  });

  it('flag off → direct sync of the essential collections, the rest in the background', async () => {
    const a = await app({ USE_TEMPORAL_FOR_AUTH: false });
    const tenantId = await registerTenant(a);
    const res = await ensure(a, tenantId);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ tenantId, syncMethod: 'direct', fallbackUsed: false, essentialReady: true });
    expect(body.correlationId).toMatch(new RegExp(`^sync-${tenantId}-\\d+-[0-9a-f]+$`));
    expect(await count(tenantId, 'users')).toBe(300);
    expect(body.collections.find((c: { name: string }) => c.name === 'audit').status).toBe('pending');
    await expect.poll(() => count(tenantId, 'audit'), { timeout: 10_000 }).toBe(200);
  });

  it('flag on → Temporal, answering as soon as the essential collections are ready', async () => {
    const a = await app({ USE_TEMPORAL_FOR_AUTH: true });
    const tenantId = await registerTenant(a);
    const res = await ensure(a, tenantId);
    const body = res.json();
    expect(body).toMatchObject({
      tenantId,
      syncMethod: 'temporal',
      fallbackUsed: false,
      essentialReady: true,
      workflowId: `tenant-sync:${tenantId}`,
    });
    for (const c of COLLECTIONS.filter((x) => x.essential)) expect(await count(tenantId, c.name)).toBe(c.size);
    const run = await waitForWorkflow(tenantId);
    expect(run).toMatchObject({ state: 'completed', method: 'temporal' });
    expect(await count(tenantId, 'audit')).toBe(200);
    const desc = await deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId)).describe();
    expect(desc.searchAttributes.TenantId).toEqual([tenantId]);
    expect(desc.searchAttributes.SyncMethod).toEqual(['temporal']);
    expect(await desc.memo).toMatchObject({ correlationId: body.correlationId });
    const stored = await deps.mongo.db.collection(Collections.syncRuns).findOne({ _id: body.correlationId } as never);
    expect(stored).toMatchObject({ tenantId, method: 'temporal', state: 'completed', fallbackUsed: false });
  });

  it('routes only allowlisted tenants through Temporal', async () => {
    const setup = await app();
    const listed = await registerTenant(setup);
    const other = await registerTenant(setup);
    const a = await app({ USE_TEMPORAL_FOR_AUTH: true, TEMPORAL_TENANTS: [listed] });
    expect((await ensure(a, listed)).json().syncMethod).toBe('temporal');
    expect((await ensure(a, other)).json().syncMethod).toBe('direct');
  });

  it('20 concurrent logins for one tenant → one workflow run and 20 consistent answers', async () => {
    const a = await app({ USE_TEMPORAL_FOR_AUTH: true });
    const b = await app({ USE_TEMPORAL_FOR_AUTH: true }); // a second API process joins through the workflow ID
    const tenantId = await registerTenant(a);
    upstream.setLatency(tenantId, '*', 20);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => ensure(i % 2 ? b : a, tenantId)));
    const bodies = answers.map((r) => r.json());
    expect(new Set(bodies.map((x) => x.correlationId)).size).toBe(1);
    expect(bodies.every((x) => x.syncMethod === 'temporal' && x.essentialReady)).toBe(true);
    await waitForWorkflow(tenantId);
    expect(await deps.mongo.db.collection(Collections.syncRuns).countDocuments({ tenantId })).toBe(1);
    expect(upstream.recordsServed(tenantId, 'users')).toBe(300);
  });

  it('essential latency above the timeout → fallback; afterwards the target equals the source exactly', async () => {
    const a = await app({ USE_TEMPORAL_FOR_AUTH: true, TEMPORAL_AUTH_TIMEOUT_MS: 400 });
    const tenantId = await registerTenant(a);
    upstream.setLatency(tenantId, '*', 600);
    const body = (await ensure(a, tenantId)).json();
    expect(body).toMatchObject({ syncMethod: 'direct', fallbackUsed: true, fallbackReason: 'timeout', essentialReady: true });
    upstream.setLatency(tenantId, '*', 0);
    await waitForWorkflow(tenantId);
    for (const c of COLLECTIONS) {
      const target = await deps.mongo
        .tenantDb(tenantId)
        .collection(c.name)
        .find({}, { projection: { '_sync.version': 1 } })
        .sort({ _id: 1 })
        .toArray();
      const source = upstream.records(tenantId, c.name);
      expect(target.map((d) => [d._id, d._sync.version])).toEqual(source.map((r) => [r.id, r.version]));
    }
  });

  it('a failing non-essential collection is reported with its error type; the others complete', async () => {
    const a = await app({ USE_TEMPORAL_FOR_AUTH: true });
    const tenantId = await registerTenant(a);
    upstream.failCollection(tenantId, 'audit', 400);
    expect((await ensure(a, tenantId)).json().essentialReady).toBe(true);
    const run = await waitForWorkflow(tenantId);
    expect(run.state).toBe('partial');
    const status = (await a.inject({ method: 'GET', url: `/api/sync/tenants/${tenantId}/status`, headers: syncer })).json();
    expect(status.hasFailedCollections).toBe(true);
    expect(status.failedCollections).toEqual([expect.objectContaining({ name: 'audit', errorType: 'VALIDATION_ERROR', retryable: false })]);
    expect(await count(tenantId, 'users')).toBe(300);
  });

  it('AUTH_ERROR is tried once; NETWORK_ERROR is retried and then succeeds', async () => {
    const a = await app({ USE_TEMPORAL_FOR_AUTH: true });
    const tenantId = await registerTenant(a);
    upstream.failCollection(tenantId, 'roles', 401);
    upstream.failCollection(tenantId, 'settings', 500, 2);
    const body = (await ensure(a, tenantId)).json();
    expect(body.essentialReady).toBe(false);
    const roles = body.collections.find((c: { name: string }) => c.name === 'roles');
    expect(roles).toMatchObject({ status: 'failed', error: { errorType: 'AUTH_ERROR', retryable: false, tenantId } });
    expect(roles.error.correlationId).toBe(body.correlationId);
    expect(upstream.requestCount(tenantId, 'roles')).toBe(1);
    expect(body.collections.find((c: { name: string }) => c.name === 'settings')).toMatchObject({ status: 'synced', synced: 20 });
    expect(upstream.requestCount(tenantId, 'settings')).toBe(3);
  });

  it('a second sync after 10 changed records transfers only those 10', async () => {
    const a = await app({ USE_TEMPORAL_FOR_AUTH: true });
    const tenantId = await registerTenant(a);
    await ensure(a, tenantId);
    await waitForWorkflow(tenantId);
    const servedBefore = upstream.recordsServed(tenantId, 'users');
    const changed = upstream.touch(tenantId, 'users', 10);
    const body = (await ensure(a, tenantId)).json();
    expect(body.collections.find((c: { name: string }) => c.name === 'users')).toMatchObject({ status: 'synced', synced: 10 });
    // Those 10, and the boundary record read again (inclusive watermark; unchanged, not rewritten).
    expect(upstream.recordsServed(tenantId, 'users') - servedBefore).toBe(11);
    const docs = await deps.mongo
      .tenantDb(tenantId)
      .collection('users')
      .find({ _id: { $in: changed } } as never)
      .toArray();
    expect(docs.map((d) => d._sync.version)).toEqual(changed.map(() => 2));
  });

  it('rejects malformed tenant IDs with 400 and writes nothing', async () => {
    const a = await app({ USE_TEMPORAL_FOR_AUTH: true });
    const runsBefore = await deps.mongo.db.collection(Collections.syncRuns).countDocuments();
    const tenantsBefore = await deps.mongo.db.collection(Collections.tenants).countDocuments();
    for (const bad of [
      encodeURIComponent('{"$gt":""}'),
      '$gt',
      'x'.repeat(10_240),
      encodeURIComponent('a b'),
      '.hidden',
      encodeURIComponent('a/b'),
    ]) {
      const res = await ensure(a, bad);
      expect(res.statusCode, bad.slice(0, 20)).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    const obj = await a.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: admin,
      payload: {
        tenantId: { $gt: '' },
        name: 'x',
        source: { kind: 'http', settings: { baseUrl: 'http://x' } },
        collections: [{ name: 'a', essential: true }],
      },
    });
    expect(obj.statusCode).toBe(400);
    expect(await deps.mongo.db.collection(Collections.syncRuns).countDocuments()).toBe(runsBefore);
    // Tenant documents are keyed by _id: none was added, and none has an object for an ID.
    expect(await deps.mongo.db.collection(Collections.tenants).countDocuments()).toBe(tenantsBefore);
    expect(await deps.mongo.db.collection(Collections.tenants).countDocuments({ _id: { $type: 'object' } } as never)).toBe(0);
  });

  it('401 without a token, 403 for another tenant or a missing scope', async () => {
    const a = await app();
    const tenantId = await registerTenant(a);
    const none = await a.inject({ method: 'POST', url: `/api/sync/tenants/${tenantId}/ensure` });
    expect(none.statusCode).toBe(401);
    expect(none.json().correlationId).toBeTruthy();
    const other = await a.inject({
      method: 'POST',
      url: `/api/sync/tenants/${tenantId}/ensure`,
      headers: await bearer(deps, ['sync:write'], ['someone-else']),
    });
    expect(other.statusCode).toBe(403);
    const readOnly = await a.inject({
      method: 'POST',
      url: `/api/sync/tenants/${tenantId}/ensure`,
      headers: await bearer(deps, ['sync:read'], [tenantId]),
    });
    expect(readOnly.statusCode).toBe(403);
    const unknown = await a.inject({ method: 'POST', url: `/api/sync/tenants/nobody-here/ensure`, headers: syncer });
    expect(unknown.statusCode).toBe(404);
  });

  it('serves metrics, health and method stats over its own recorded runs', async () => {
    // Its own runs: one through Temporal, one direct with an AUTH_ERROR, one fallback on timeout
    // (a direct run plus the workflow run it stood in for). A token for these tenants only sees them.
    const viaTemporal = await registerTenant(await app());
    await ensure(await app({ USE_TEMPORAL_FOR_AUTH: true }), viaTemporal);
    await waitForWorkflow(viaTemporal);
    const direct = await app({ USE_TEMPORAL_FOR_AUTH: false });
    const failing = await registerTenant(direct);
    upstream.failCollection(failing, 'roles', 401);
    expect((await ensure(direct, failing)).json()).toMatchObject({ syncMethod: 'direct', essentialReady: false });
    const slow = await app({ USE_TEMPORAL_FOR_AUTH: true, TEMPORAL_AUTH_TIMEOUT_MS: 400 });
    const fallback = await registerTenant(slow);
    upstream.setLatency(fallback, '*', 600);
    expect((await ensure(slow, fallback)).json()).toMatchObject({ syncMethod: 'direct', fallbackReason: 'timeout' });
    upstream.setLatency(fallback, '*', 0);
    await waitForWorkflow(fallback);
    const mine = [viaTemporal, failing, fallback];
    const finished = () =>
      deps.mongo.db.collection(Collections.syncRuns).countDocuments({ tenantId: { $in: mine }, state: { $ne: 'running' } });
    await expect.poll(finished, { timeout: 15_000 }).toBe(4);

    const a = await app();
    const reader = await bearer(deps, ['sync:read'], mine);
    const metrics = (await a.inject({ method: 'GET', url: '/api/sync/metrics', headers: reader })).json();
    expect(metrics.orchestration).toMatchObject({
      runs: 4,
      finished: 4,
      errorTypes: { AUTH_ERROR: 1 },
      fallbacks: { total: 1, byReason: { timeout: 1 } },
    });
    expect(metrics.collections.find((c: { name: string }) => c.name === 'roles')).toMatchObject({ total: 4, succeeded: 3 });
    const stats = (await a.inject({ method: 'GET', url: '/api/sync/method-stats', headers: reader })).json();
    expect(stats.methods.temporal).toMatchObject({ total: 2, succeeded: 2, fallbacks: 0 });
    expect(stats.methods.direct).toMatchObject({ total: 2, fallbacks: 1 });
    expect(stats.methods.direct.succeeded).toBe(1);
    expect(stats.fallbacks).toEqual({ total: 1, byReason: { timeout: 1 } });
    const health = (await a.inject({ method: 'GET', url: '/api/sync/health', headers: reader })).json();
    expect(health).toMatchObject({ activeSyncs: 0, stuckSyncs: 0, successRate: 0.75, failureRate: 0.25 });
  });
});
