import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { startFixtureUpstream, type FixtureUpstream } from '../../../fixtures/upstream/server';
import { Scopes, type Scope } from '../../../infra/auth-token';
import { clientUpsertWorkflowId } from '../../../activities/client-upsert/start';
import { Collections } from '../../../infra/mongo';
import { ScheduleNames } from '../../../shared/cleanup';
import { scheduleOptions } from '../../../workers/schedules';
import { bearer } from '../../helpers/api';
import { mutableRegistry } from '../../helpers/migrations';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Route-by-route authorisation, generated from app.registeredRoutes: every /api route answers
// 401 without a token, 403 without its scope, 403/404 to a token for another tenant (admin
// too), 2xx to the right token. A registered route missing from ROUTES fails the test. Plus the
// cross-tenant views (/api/sync/health, metrics, method-stats) filtered by coverage.

/** Routes that need no token, by design (liveness, readiness, Prometheus, OpenAPI, the dashboard's data-free shell). */
const PUBLIC = new Set(['GET /health', 'GET /health/ready', 'GET /health/metrics', 'GET /dashboard', 'GET /dashboard/assets/:file']);
const isPublic = (key: string) => PUBLIC.has(key) || /^(GET|HEAD) \/docs(\/|$)/.test(key);

/** tenant: names one tenant (A); global: filters its answer; platform: admin + '*'; untenanted: scope only. */
type Kind = 'tenant' | 'global' | 'platform' | 'untenanted';

interface Fixtures {
  a: string;
  b: string;
  /** A finished dry-run reconcile of tenant A (read routes). */
  batchA: string;
  /** A reconcile of tenant A on a queue no worker polls: it stays cancellable. */
  idleBatchA: string;
  clientKey: string;
  /** The client-upsert run POST /api/clients/sync starts for clientKey (it comes first in the table). */
  clientRun: string;
  migrationRun: string;
  /** A backup of the tenants collection (restored into a scratch collection). */
  backupId: string;
}

interface Sample {
  url: string;
  payload?: Record<string, unknown>;
  /** POST routes that require an Idempotency-Key get a fresh one per request. */
  idempotent?: boolean;
}

interface RouteCase {
  scope: Scope;
  kind: Kind;
  /** A request about tenant A's data (or a platform request). */
  sample(f: Fixtures): Sample;
}

const tenantBody = (tenantId: string, baseUrl: string) => ({
  tenantId,
  name: `Tenant ${tenantId}`,
  source: { kind: 'http', settings: { baseUrl, token: `tok-${tenantId}`, timeoutMs: 5_000 } },
  collections: [{ name: 'users', essential: true }],
});

let upstream: FixtureUpstream;

/** Every /api route: its scope, its tenant coverage, and a sample request. */
const ROUTES: Record<string, RouteCase> = {
  'POST /api/tenants': {
    scope: Scopes.admin,
    kind: 'tenant',
    sample: (f) => ({ url: '/api/tenants', payload: tenantBody(f.a, upstream.baseUrl(f.a)) }),
  },
  'GET /api/tenants/:tenantId': { scope: Scopes.admin, kind: 'tenant', sample: (f) => ({ url: `/api/tenants/${f.a}` }) },
  'GET /api/tenants': { scope: Scopes.admin, kind: 'global', sample: () => ({ url: '/api/tenants?limit=200' }) },
  'GET /api/sync/runs': { scope: Scopes.syncRead, kind: 'global', sample: () => ({ url: '/api/sync/runs?limit=200' }) },
  'POST /api/sync/tenants/:tenantId/ensure': {
    scope: Scopes.syncWrite,
    kind: 'tenant',
    sample: (f) => ({ url: `/api/sync/tenants/${f.a}/ensure` }),
  },
  'GET /api/sync/tenants/:tenantId/status': {
    scope: Scopes.syncRead,
    kind: 'tenant',
    sample: (f) => ({ url: `/api/sync/tenants/${f.a}/status` }),
  },
  'GET /api/sync/metrics': { scope: Scopes.syncRead, kind: 'global', sample: () => ({ url: '/api/sync/metrics' }) },
  'GET /api/sync/health': { scope: Scopes.syncRead, kind: 'global', sample: () => ({ url: '/api/sync/health' }) },
  'GET /api/sync/method-stats': { scope: Scopes.syncRead, kind: 'global', sample: () => ({ url: '/api/sync/method-stats' }) },
  'POST /api/reconcile': {
    scope: Scopes.reconcileWrite,
    kind: 'tenant',
    sample: (f) => ({
      url: '/api/reconcile',
      payload: { source: { kind: 'tenant', tenantId: f.a, collection: 'users' }, options: { dryRun: true } },
      idempotent: true,
    }),
  },
  'POST /api/reconcile/bulk': {
    scope: Scopes.reconcileWrite,
    kind: 'tenant',
    sample: (f) => ({
      url: '/api/reconcile/bulk',
      payload: { source: { kind: 'tenant', tenantId: f.a, collections: ['users'] }, options: { dryRun: true } },
      idempotent: true,
    }),
  },
  'GET /api/reconcile': { scope: Scopes.reconcileRead, kind: 'global', sample: () => ({ url: '/api/reconcile?limit=200' }) },
  'GET /api/reconcile/:batchId/progress': {
    scope: Scopes.reconcileRead,
    kind: 'tenant',
    sample: (f) => ({ url: `/api/reconcile/${f.batchA}/progress` }),
  },
  'GET /api/reconcile/:batchId/errors': {
    scope: Scopes.reconcileRead,
    kind: 'tenant',
    sample: (f) => ({ url: `/api/reconcile/${f.batchA}/errors` }),
  },
  'POST /api/reconcile/:batchId/cancel': {
    scope: Scopes.reconcileWrite,
    kind: 'tenant',
    sample: (f) => ({ url: `/api/reconcile/${f.idleBatchA}/cancel` }),
  },
  'POST /api/clients/sync': {
    scope: Scopes.clientsWrite,
    kind: 'untenanted',
    sample: (f) => ({ url: '/api/clients/sync', payload: { keys: [f.clientKey] } }),
  },
  'GET /api/clients': { scope: Scopes.clientsRead, kind: 'untenanted', sample: () => ({ url: '/api/clients' }) },
  'GET /api/clients/:key': { scope: Scopes.clientsRead, kind: 'untenanted', sample: (f) => ({ url: `/api/clients/${f.clientKey}` }) },
  'GET /api/clients/runs/:workflowId': {
    scope: Scopes.clientsRead,
    kind: 'untenanted',
    sample: (f) => ({ url: `/api/clients/runs/${encodeURIComponent(f.clientRun)}` }),
  },
  'GET /api/migrations/status': { scope: Scopes.admin, kind: 'platform', sample: () => ({ url: '/api/migrations/status' }) },
  'POST /api/migrations/run': {
    scope: Scopes.admin,
    kind: 'platform',
    sample: () => ({ url: '/api/migrations/run', payload: { dryRun: true }, idempotent: true }),
  },
  'GET /api/migrations/runs': { scope: Scopes.admin, kind: 'platform', sample: () => ({ url: '/api/migrations/runs' }) },
  'GET /api/migrations/runs/:workflowId': {
    scope: Scopes.admin,
    kind: 'platform',
    sample: (f) => ({ url: `/api/migrations/runs/${f.migrationRun}` }),
  },
  // Maintenance: a queue with no runs; the schedule by its short name (created below on the file's queue).
  'GET /api/runs/failed': { scope: Scopes.admin, kind: 'platform', sample: () => ({ url: '/api/runs/failed?taskQueue=authz-no-runs' }) },
  'POST /api/runs/retry': {
    scope: Scopes.admin,
    kind: 'platform',
    sample: () => ({ url: '/api/runs/retry', payload: { taskQueue: 'authz-no-runs', mode: 'reset' } }),
  },
  'GET /api/schedules': { scope: Scopes.admin, kind: 'platform', sample: () => ({ url: '/api/schedules' }) },
  'GET /api/schedules/:id': {
    scope: Scopes.admin,
    kind: 'platform',
    sample: () => ({ url: `/api/schedules/${ScheduleNames.cleanupSyncRuns}` }),
  },
  'POST /api/schedules/:id/pause': {
    scope: Scopes.admin,
    kind: 'platform',
    sample: () => ({ url: `/api/schedules/${ScheduleNames.cleanupSyncRuns}/pause`, payload: { note: 'authz' } }),
  },
  'POST /api/schedules/:id/unpause': {
    scope: Scopes.admin,
    kind: 'platform',
    sample: () => ({ url: `/api/schedules/${ScheduleNames.cleanupSyncRuns}/unpause`, payload: {} }),
  },
  'POST /api/schedules/:id/trigger': {
    scope: Scopes.admin,
    kind: 'platform',
    sample: () => ({ url: `/api/schedules/${ScheduleNames.cleanupSyncRuns}/trigger`, payload: {}, idempotent: true }),
  },
  'GET /api/migrations/backups': { scope: Scopes.admin, kind: 'platform', sample: () => ({ url: '/api/migrations/backups' }) },
  'POST /api/migrations/backups': {
    scope: Scopes.admin,
    kind: 'platform',
    sample: () => ({ url: '/api/migrations/backups', payload: { collection: Collections.tenants }, idempotent: true }),
  },
  'POST /api/migrations/backups/:id/restore': {
    scope: Scopes.admin,
    kind: 'platform',
    sample: (f) => ({
      url: `/api/migrations/backups/${f.backupId}/restore`,
      payload: { into: 'authz_restored', force: true },
      idempotent: true,
    }),
  },
  'POST /api/migrations/backups/prune': {
    scope: Scopes.admin,
    kind: 'platform',
    sample: () => ({ url: '/api/migrations/backups/prune', payload: { olderThanMs: 31_536_000_000 }, idempotent: true }),
  },
  'GET /api/secrets/status': { scope: Scopes.admin, kind: 'platform', sample: () => ({ url: '/api/secrets/status' }) },
  'POST /api/secrets/rotate': {
    scope: Scopes.admin,
    kind: 'platform',
    sample: () => ({ url: '/api/secrets/rotate', payload: { limit: 1 }, idempotent: true }),
  },
  'POST /api/probe': { scope: Scopes.admin, kind: 'platform', sample: () => ({ url: '/api/probe', payload: {} }) },
  // The work view: counts and running executions of the covered tenants only (tenant A's reconciles, logins).
  'GET /api/ops/work': { scope: Scopes.opsRead, kind: 'global', sample: () => ({ url: '/api/ops/work' }) },
  // This process's cache counters: no tenant IDs in them.
  'GET /api/cache/stats': { scope: Scopes.opsRead, kind: 'global', sample: () => ({ url: '/api/cache/stats' }) },
  'GET /api/dashboard/snapshot': { scope: Scopes.opsRead, kind: 'global', sample: () => ({ url: '/api/dashboard/snapshot' }) },
  // One event, then the stream ends (so the injected request completes).
  'GET /api/dashboard/stream': { scope: Scopes.opsRead, kind: 'global', sample: () => ({ url: '/api/dashboard/stream?events=1' }) },
  // Last, and in this order: the pause is lifted by the next route, so no route above meets it.
  'POST /api/ops/work/:kind/pause': {
    scope: Scopes.admin,
    kind: 'platform',
    sample: () => ({ url: '/api/ops/work/migrations/pause', payload: { reason: 'authz' } }),
  },
  'POST /api/ops/work/:kind/resume': { scope: Scopes.admin, kind: 'platform', sample: () => ({ url: '/api/ops/work/migrations/resume' }) },
};

const ALL_SCOPES = Object.values(Scopes);
const DAY_AGO = () => new Date(Date.now() - 24 * 3_600_000);

/** A sync run still running a day after it started: listed as stuck by /api/sync/health. */
const stuckRun = (tenantId: string) => ({
  _id: `run-${tenantId}`,
  tenantId,
  method: 'direct',
  fallbackUsed: false,
  state: 'running',
  startedAt: DAY_AGO(),
  collections: [],
});
/** An open finding of the stuck-sync sweep for that run. */
const finding = (tenantId: string) => ({
  _id: `run:run-${tenantId}`,
  kind: 'orphaned-run',
  tenantId,
  syncRunId: `run-${tenantId}`,
  startedAt: DAY_AGO(),
  action: 'report',
  outcome: 'reported',
  open: true,
  detectedAt: new Date(),
  lastSeenAt: new Date(),
});

describe('route-by-route authorisation', () => {
  let app: FastifyInstance;
  let idleApp: FastifyInstance;
  let f: Fixtures;
  const clientsDir = mkdtempSync(path.join(tmpdir(), 'authz-clients-'));
  const workflows = new Set<string>();
  const migrations = mutableRegistry();
  afterAll(() => rmSync(clientsDir, { recursive: true, force: true })); // after the stack's teardown (hooks run in reverse)
  // A worker, so that progress and run queries answer at once; the direct path for logins.
  const stack = useStack({
    env: { CLIENTS_DIR: clientsDir },
    worker: { settings: { tenantSync: { pageSize: 100 }, migrations: { registry: migrations } } },
  });
  const token = (scopes: readonly string[], tenants: string[] | '*', sub = 'authz') => stack.bearer([...scopes], tenants, sub);

  async function send(key: string, headers: Record<string, string>): Promise<LightMyRequestResponse> {
    const [method] = key.split(' ') as ['GET' | 'POST'];
    const s = ROUTES[key]!.sample(f);
    const res = await app.inject({
      method,
      url: s.url,
      headers: { ...headers, ...(s.idempotent ? { 'idempotency-key': uniqueId('k') } : {}) },
      ...(s.payload ? { payload: s.payload } : {}),
    });
    const json = res.statusCode < 300 && /json/.test(String(res.headers['content-type']));
    const wf = json ? (res.json() as { workflowId?: unknown }).workflowId : undefined;
    if (typeof wf === 'string') workflows.add(wf);
    return res;
  }

  beforeAll(async () => {
    upstream = await startFixtureUpstream();
    app = await stack.buildApp({ USE_TEMPORAL_FOR_AUTH: false, SYNC_FRESHNESS_MS: 0 }, { migrations });
    idleApp = await stack.buildApp({ TEMPORAL_TASK_QUEUE: uniqueId('idle') }, { migrations });
    const root = await token([Scopes.admin], '*', 'root');
    const a = uniqueId('authz-a');
    const b = uniqueId('authz-b');
    for (const t of [a, b]) {
      upstream.seedTenant(t, { collections: { users: 3 }, token: `tok-${t}` });
      const res = await app.inject({ method: 'POST', url: '/api/tenants', headers: root, payload: tenantBody(t, upstream.baseUrl(t)) });
      expect(res.statusCode, res.body).toBe(201);
      expect((await app.inject({ method: 'POST', url: `/api/sync/tenants/${t}/ensure`, headers: root })).statusCode).toBe(200);
    }
    const reconcileA = async (on: FastifyInstance) => {
      const rc = await on.inject({
        method: 'POST',
        url: '/api/reconcile',
        headers: { ...root, 'idempotency-key': uniqueId('rc') },
        payload: { source: { kind: 'tenant', tenantId: a, collection: 'users' }, options: { dryRun: true } },
      });
      expect(rc.statusCode, rc.body).toBe(202);
      workflows.add(rc.json().workflowId);
      return rc.json() as { batchId: string; workflowId: string };
    };
    const batchA = await reconcileA(app);
    const idleBatchA = await reconcileA(idleApp);
    await stack.deps.temporal.client.workflow.getHandle(batchA.workflowId).result();
    const clientKey = `authz-${Date.now().toString(36)}`;
    await stack.deps.mongo.db.collection(Collections.clientUpsertState).insertOne({
      _id: clientKey as never,
      lastHash: 'h',
      lastStatus: 'completed',
      lastResultId: 'none',
      lastFinishedAt: new Date(),
      runs: 1,
    });
    const mr = await app.inject({
      method: 'POST',
      url: '/api/migrations/run',
      headers: { ...root, 'idempotency-key': uniqueId('mr') },
      payload: { dryRun: true },
    });
    expect(mr.statusCode, mr.body).toBe(202);
    workflows.add(mr.json().workflowId);
    const bk = await app.inject({
      method: 'POST',
      url: '/api/migrations/backups',
      headers: { ...root, 'idempotency-key': uniqueId('bk') },
      payload: { collection: Collections.tenants },
    });
    expect(bk.statusCode, bk.body).toBe(201);
    const backupId = bk.json().backupId as string;
    f = {
      a,
      b,
      batchA: batchA.batchId,
      idleBatchA: idleBatchA.batchId,
      clientKey,
      migrationRun: mr.json().workflowId,
      backupId,
      clientRun: clientUpsertWorkflowId(stack.deps.config.TEMPORAL_TASK_QUEUE, [clientKey]),
    };
    await stack.deps.mongo.db.collection(Collections.syncRuns).insertMany([stuckRun(a), stuckRun(b)] as never[]);
    await stack.deps.mongo.db.collection(Collections.stuckSyncs).insertMany([finding(a), finding(b)] as never[]);
  }, 60_000);

  afterAll(async () => {
    const wf = stack.deps.temporal.client.workflow;
    await Promise.allSettled([...workflows].map((id) => wf.getHandle(id).terminate('authorization test done')));
    await upstream?.close();
  });

  // The schedule the /api/schedules/:id cases name, on this file's queue; its triggered runs ended after.
  const schedule = () => scheduleOptions(stack.deps.config).find((o) => o.scheduleId.startsWith(`${ScheduleNames.cleanupSyncRuns}:`))!;
  beforeAll(async () => {
    await stack.deps.temporal.client.schedule.create(schedule());
  });
  afterAll(async () => {
    const h = stack.deps.temporal.client.schedule.getHandle(schedule().scheduleId);
    const running = (await h.describe()).info.runningActions;
    await Promise.allSettled(running.map((r) => stack.deps.temporal.client.workflow.getHandle(r.workflow.workflowId).terminate('done')));
    await h.delete();
  });

  const apiRoutes = () => app.registeredRoutes.map((r) => `${r.method} ${r.url}`).filter((k) => !isPublic(k));

  it('every registered route is in the table or listed as public, and the table names only registered routes', () => {
    const registered = apiRoutes().filter((k) => !k.startsWith('HEAD '));
    expect(
      registered.filter((k) => !ROUTES[k]),
      'registered routes without an authorisation case',
    ).toEqual([]);
    expect(
      Object.keys(ROUTES).filter((k) => !registered.includes(k)),
      'cases for routes that are not registered',
    ).toEqual([]);
    // Every non-public route is under /api, where the auth plugin refuses a route without a declaration.
    expect(registered.filter((k) => !k.split(' ')[1]!.startsWith('/api/'))).toEqual([]);
  });

  it('public routes answer without a token', async () => {
    for (const key of app.registeredRoutes
      .map((r) => `${r.method} ${r.url}`)
      .filter((k) => isPublic(k) && !k.includes('*') && !k.includes(':'))) {
      const [method, url] = key.split(' ') as ['GET' | 'HEAD', string];
      const res = await app.inject({ method, url });
      expect([401, 403], key).not.toContain(res.statusCode);
    }
  });

  it('no token → 401; a malformed or foreign-signed token → 401', async () => {
    const foreign = await bearer(
      { ...stack.deps, config: { ...stack.deps.config, AUTH_JWT_SECRET: 'another-secret-0123456789abcdef0123' } },
      [Scopes.admin],
    );
    const bad: string[] = [];
    for (const key of Object.keys(ROUTES)) {
      for (const headers of [{}, { authorization: 'Bearer not-a-jwt' }, foreign]) {
        const res = await send(key, headers);
        if (res.statusCode !== 401) bad.push(`${key}: ${res.statusCode}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("a token with every scope but the route's (and not admin) → 403", async () => {
    const bad: string[] = [];
    for (const [key, c] of Object.entries(ROUTES)) {
      const res = await send(
        key,
        await token(
          ALL_SCOPES.filter((s) => s !== c.scope && s !== Scopes.admin),
          '*',
        ),
      );
      if (res.statusCode !== 403) bad.push(`${key}: ${res.statusCode}`);
    }
    expect(bad).toEqual([]);
  });

  it("a token for another tenant → 403 or 404, with the route's scope and with admin alike", async () => {
    const bad: string[] = [];
    for (const [key, c] of Object.entries(ROUTES)) {
      if (c.kind === 'tenant') {
        for (const scopes of [[c.scope], [Scopes.admin]]) {
          const res = await send(key, await token(scopes, [f.b]));
          if (res.statusCode !== 403 && res.statusCode !== 404) bad.push(`${key} (${scopes.join(' ')}): ${res.statusCode}`);
        }
      } else if (c.kind === 'platform') {
        // A platform operation needs every tenant: an admin token limited to tenant A is refused.
        const res = await send(key, await token([Scopes.admin], [f.a]));
        if (res.statusCode !== 403) bad.push(`${key} (admin, [A]): ${res.statusCode}`);
      } else if (c.kind === 'global') {
        // Answers, but shows nothing of tenant A (whose stuck run and finding exist).
        const res = await send(key, await token([c.scope], [f.b]));
        if (res.statusCode !== 200 || res.body.includes(f.a))
          bad.push(`${key} ([B]): ${res.statusCode}${res.body.includes(f.a) ? ' names tenant A' : ''}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('the right token → 2xx (exactly the route scope, covering tenant A; untenanted routes with no tenants at all)', async () => {
    const bad: string[] = [];
    for (const [key, c] of Object.entries(ROUTES)) {
      const tenants = c.kind === 'platform' ? '*' : c.kind === 'untenanted' ? [] : [f.a];
      const res = await send(key, await token([c.scope], tenants));
      if (res.statusCode < 200 || res.statusCode > 299) bad.push(`${key}: ${res.statusCode} ${res.body.slice(0, 200)}`);
      if (c.kind === 'global' && res.body.includes(f.b)) bad.push(`${key}: a token for A sees tenant B`);
    }
    expect(bad).toEqual([]);
  });

  describe('cross-tenant views', () => {
    it("/api/sync/health lists only the covered tenants' stuck runs and findings; '*' sees all", async () => {
      const onlyA = (await app.inject({ method: 'GET', url: '/api/sync/health', headers: await token([Scopes.syncRead], [f.a]) })).json();
      expect(onlyA.stuck.map((s: { tenantId: string }) => s.tenantId)).toEqual([f.a]);
      expect(onlyA.stuckSyncs).toBe(1);
      expect(onlyA.stuckDetection.recent.map((s: { tenantId: string }) => s.tenantId)).toEqual([f.a]);
      expect(onlyA.stuckDetection.open).toBe(1);
      expect(JSON.stringify(onlyA)).not.toContain(f.b);
      const all = (await app.inject({ method: 'GET', url: '/api/sync/health', headers: await token([Scopes.syncRead], '*') })).json();
      expect(all.stuck.map((s: { tenantId: string }) => s.tenantId).sort()).toEqual([f.a, f.b].sort());
      expect(all.stuckDetection.open).toBe(2);
    });

    it('metrics and method-stats count only the covered tenants; a token covering none sees zeros', async () => {
      const get = async (url: string, tenants: string[] | '*') =>
        (await app.inject({ method: 'GET', url, headers: await token([Scopes.syncRead], tenants) })).json();
      const finished = (tenantId: string) =>
        stack.deps.mongo.db.collection(Collections.syncRuns).countDocuments({ tenantId, state: { $ne: 'running' } });
      const [nA, nB] = [await finished(f.a), await finished(f.b)];
      expect(nA).toBeGreaterThan(0);
      expect((await get('/api/sync/method-stats', [f.a])).methods.direct.total).toBe(nA);
      expect((await get('/api/sync/method-stats', [f.a, f.b])).methods.direct.total).toBe(nA + nB);
      expect((await get('/api/sync/method-stats', [])).window.runs).toBe(0);
      const m = await get('/api/sync/metrics', [f.b]);
      expect(m.active.stuck.map((s: { tenantId: string }) => s.tenantId)).toEqual([f.b]);
      expect(JSON.stringify(m)).not.toContain(f.a);
      expect((await get('/api/sync/metrics', [])).active).toMatchObject({ activeSyncs: 0, stuckSyncs: 0, stuck: [] });
    });

    it("an admin token for tenant A cannot read or register tenant B (403), and B's entry is unchanged", async () => {
      const adminA = await token([Scopes.admin], [f.a]);
      expect((await app.inject({ method: 'GET', url: `/api/tenants/${f.b}`, headers: adminA })).statusCode).toBe(403);
      const put = await app.inject({
        method: 'POST',
        url: '/api/tenants',
        headers: adminA,
        payload: { ...tenantBody(f.b, 'http://127.0.0.1:9/x'), name: 'hijacked' },
      });
      expect(put.statusCode).toBe(403);
      const b = await app.inject({ method: 'GET', url: `/api/tenants/${f.b}`, headers: await token([Scopes.admin], '*') });
      expect(b.json().name).toBe(`Tenant ${f.b}`);
      expect((await app.inject({ method: 'GET', url: `/api/tenants/${f.a}`, headers: adminA })).statusCode).toBe(200);
    });
  });
});
