import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metrics } from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { ApplicationFailure } from '@temporalio/common';
import { generateClient, writeClient, type ClientFile } from '../../../fixtures/clients';
import { ClientMetricNames } from '../../../activities/client-upsert/metrics';
import { createClientStore, type RouteDoc } from '../../../activities/client-upsert/store';
import { createClientUpsertActivities, type ClientUpsertSettings } from '../../../activities/client-upsert/activities';
import { verifyPassword } from '../../../activities/client-upsert/users';
import { startClientUpsert } from '../../../activities/client-upsert/start';
import { createLogger } from '../../../infra/logger';
import type { ClientStepInput, UpsertAllResult } from '../../../shared/client-upsert';
import { useStack } from '../../helpers/use-stack';

// Client configuration upsert on the real stack: files → plan → ClientUpsertWorkflow per
// client → FerretDB, read back through the API; failures injected through the worker's
// activity overrides and the activities' hooks.

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

const ENV_PASSWORD = 'Env-Provided-Password-42!';

describe('client configuration upsert', () => {
  const reader = new TestReader();
  const logLines: string[] = [];
  const dir = mkdtempSync(path.join(tmpdir(), 'clients-it-'));
  const failMenus = new Set<string>();
  const failRouteWrite = new Map<string, (clientKey: string) => Promise<void>>();
  const slowClient = new Map<string, number>();
  let store: ReturnType<typeof createClientStore>;
  let reader$: Record<string, string>;
  let writer$: Record<string, string>;

  const upsert = async (keys?: string[], force?: boolean): Promise<UpsertAllResult> =>
    (
      await startClientUpsert({
        client: stack.deps.temporal.client,
        taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
        keys,
        force,
        concurrency: 4,
        trigger: 'test',
      })
    ).result();
  const routesOf = async (key: string) => (await store.routes(key).find({}).toArray()).sort((a, b) => a._id.localeCompare(b._id));
  const view = async (key: string) => {
    const res = await stack.app.inject({ method: 'GET', url: `/api/clients/${key}`, headers: reader$ });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };

  const settings: ClientUpsertSettings = {
    dir,
    env: { TEST_USER_PASSWORD: ENV_PASSWORD },
    hooks: {
      beforeStep: async ({ clientKey, step }) => {
        const ms = slowClient.get(clientKey);
        if (ms && step === 'client') await new Promise((r) => setTimeout(r, ms));
      },
      afterRouteWrite: async ({ clientKey, phase }) => {
        if (phase === 'replace') await failRouteWrite.get(clientKey)?.(clientKey);
      },
    },
  };
  let real: ReturnType<typeof createClientUpsertActivities>;
  const logStream = new Writable({ write: (chunk: Buffer, _e, cb) => (logLines.push(chunk.toString()), cb()) });
  // Registered before the stack's hooks: the meter is installed before its worker starts, the folder
  // removed after it stops.
  beforeAll(() => metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] })));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const stack = useStack({
    log: createLogger({ name: 'test', level: 'debug', destination: logStream }),
    worker: {
      settings: { tenantSync: { pageSize: 500 }, clientUpsert: settings },
      activityOverrides: {
        syncClientMenus: async (input: ClientStepInput) => {
          if (failMenus.has(input.clientKey))
            throw ApplicationFailure.create({ type: 'DATABASE_ERROR', message: 'menu store unavailable' });
          return real.syncClientMenus(input);
        },
      },
    },
    app: true,
  });
  beforeAll(async () => {
    store = createClientStore(stack.deps.mongo.db);
    real = createClientUpsertActivities(stack.deps, settings);
    reader$ = await stack.bearer(['clients:read']);
    writer$ = await stack.bearer(['clients:write']);
  });

  it('adds, updates and removes routes; unchanged routes keep their update time; an unchanged config is skipped', async () => {
    const c = generateClient('alpha', { routes: 8, users: 1 });
    c.users.push({
      email: 'env.user@alpha.example',
      firstName: 'Env',
      lastName: 'User',
      roles: ['USER'],
      passwordEnv: 'TEST_USER_PASSWORD',
    });
    c.users.push({ email: 'nobody@alpha.example', firstName: 'No', lastName: 'Env', roles: ['USER'], passwordEnv: 'NOT_SET_ANYWHERE' });
    writeClient(dir, c);
    const first = await upsert(['alpha']);
    expect(first).toMatchObject({ total: 1, partial: 1, invalid: 0, failed: 0 });
    const v1 = await view('alpha');
    expect(v1).toMatchObject({ key: 'alpha', name: 'Client alpha', status: 'partial', runs: 1 });
    expect(v1.lastResult.routes).toEqual({ added: 8, updated: 0, removed: 0, unchanged: 0, failed: 0 });
    expect(v1.lastResult.menus.added).toBe(2);
    expect(v1.lastResult.components.added).toBe(12);
    expect(v1.lastResult.users).toMatchObject({ added: 2, failed: 1 });
    expect(v1.lastResult.errors).toEqual([
      expect.objectContaining({ clientKey: 'alpha', operation: 'users', errorType: 'VALIDATION_ERROR', field: 'users[2].passwordEnv' }),
    ]);
    // Item errors are deterministic for a given file: the hash is applied, the next run skips.
    expect(v1.appliedConfigHash).toBe(v1.lastConfigHash);

    const users = await store.users
      .find({ _id: { $in: ['user0@alpha.example', 'env.user@alpha.example', 'nobody@alpha.example'] } })
      .toArray();
    expect(users.map((u) => u._id).sort()).toEqual(['env.user@alpha.example', 'user0@alpha.example']);
    const envUser = users.find((u) => u._id === 'env.user@alpha.example')!;
    expect(envUser.credential.kind).toBe('password');
    expect(await verifyPassword(ENV_PASSWORD, (envUser.credential as { hash: string }).hash)).toBe(true);
    expect(users.find((u) => u._id === 'user0@alpha.example')!.credential).toMatchObject({ kind: 'invite', tokenHash: expect.any(String) });
    expect(JSON.stringify(users)).not.toContain(ENV_PASSWORD);

    const before = await routesOf('alpha');
    expect(before).toHaveLength(8);
    const edited: ClientFile = JSON.parse(JSON.stringify(c));
    edited.routes[1]!.title = 'Renamed';
    edited.routes[2]!.roles = ['AUDITOR'];
    edited.routes.splice(7, 1);
    edited.routes.push({ key: 'new-route', path: '/new', componentFqn: 'gen.Page0@1.0.0' });
    writeClient(dir, edited);
    await new Promise((r) => setTimeout(r, 20));
    const second = await upsert(['alpha']);
    expect(second.partial).toBe(1);
    const v2 = await view('alpha');
    expect(v2.lastResult.routes).toEqual({ added: 1, updated: 2, removed: 1, unchanged: 5, failed: 0 });
    expect(v2.lastResult.menus).toMatchObject({ added: 0, updated: 0, unchanged: 2 });
    expect(v2.lastResult.steps.menus.status).toBe('unchanged');
    expect(v2.lastResult.steps.client.status).toBe('unchanged');
    expect(v2.lastResult.steps.users.status).toBe('ok'); // it reported an error last time: it runs again
    expect(v2.lastResult.users).toMatchObject({ added: 0, unchanged: 2, failed: 1 });
    const after = new Map((await routesOf('alpha')).map((d) => [d._id, d]));
    expect(after.size).toBe(8);
    expect(after.get(c.routes[7]!.key)).toBeUndefined();
    expect(after.get('new-route')).toMatchObject({ path: '/new' });
    for (const old of before) {
      const now = after.get(old._id);
      if (!now) continue;
      expect(now.createdAt).toEqual(old.createdAt);
      if (old._id === c.routes[1]!.key || old._id === c.routes[2]!.key)
        expect(now.updatedAt.getTime()).toBeGreaterThan(old.updatedAt.getTime());
      else expect(now.updatedAt).toEqual(old.updatedAt);
    }
    expect(after.get(c.routes[1]!.key)!.title).toBe('Renamed');

    const third = await upsert(['alpha']);
    expect(third).toMatchObject({ total: 1, unchanged: 1, upserted: 0, partial: 0 });
    expect((await view('alpha')).runs).toBe(2);
  });

  it('reports one bad route and goes on with the rest; skips a bad config and upserts the others', async () => {
    const good = generateClient('beta', { routes: 5 });
    good.routes.splice(2, 0, { key: 'broken', path: 'no-leading-slash', componentFqn: 'gen.Page1@1.0.0' });
    writeClient(dir, good);
    const bad = generateClient('gamma', { routes: 3 });
    (bad.components[0] as Record<string, unknown>).version = 'latest';
    writeClient(dir, bad);
    writeClient(dir, generateClient('delta', { routes: 3 }));
    const res = await upsert(['beta', 'gamma', 'delta', 'missing-one']);
    expect(res).toMatchObject({ total: 3, upserted: 1, partial: 1, invalid: 1, notFound: ['missing-one'] });

    const beta = await view('beta');
    expect(beta.status).toBe('partial');
    expect(beta.lastResult.routes).toEqual({ added: 5, updated: 0, removed: 0, unchanged: 0, failed: 1 });
    expect(beta.lastResult.errors).toEqual([
      expect.objectContaining({
        clientKey: 'beta',
        operation: 'routes',
        errorType: 'VALIDATION_ERROR',
        item: 'broken',
        field: 'routes[2].path',
        message: expect.stringContaining("client 'beta': routes[2].path: must start with '/'"),
      }),
    ]);
    expect(await store.routes('beta').countDocuments()).toBe(5);

    const gamma = await view('gamma');
    expect(gamma).toMatchObject({ status: 'invalid', name: null, appliedConfigHash: null });
    expect(gamma.lastResult.errors[0]).toMatchObject({
      clientKey: 'gamma',
      operation: 'config',
      field: 'components[0].version',
      message: "client 'gamma': components[0].version: must be a version like '1.0.0'",
    });
    expect((await view('delta')).status).toBe('completed');

    const none = await stack.app.inject({ method: 'GET', url: '/api/clients/never-seen', headers: reader$ });
    expect(none.statusCode).toBe(404);
    expect(none.headers['content-type']).toContain('application/problem+json');
    expect((await stack.app.inject({ method: 'GET', url: '/api/clients/BAD$KEY', headers: reader$ })).statusCode).toBe(400);
    expect((await stack.app.inject({ method: 'GET', url: '/api/clients/beta', headers: writer$ })).statusCode).toBe(403);
  });

  it('a failing menu step does not stop components and users; the next run retries the client', async () => {
    writeClient(dir, generateClient('menufail', { routes: 4, components: 3, users: 2 }));
    failMenus.add('menufail');
    const res = await upsert(['menufail']);
    expect(res.partial).toBe(1);
    const v = await view('menufail');
    expect(v.lastResult.steps.menus.status).toBe('failed');
    expect(v.lastResult.steps.components).toMatchObject({ status: 'ok', counts: { added: 3 } });
    expect(v.lastResult.steps.users).toMatchObject({ status: 'ok', counts: { added: 2 } });
    expect(v.lastResult.routes.added).toBe(4);
    expect(v.lastResult.errors).toEqual([
      expect.objectContaining({ clientKey: 'menufail', operation: 'menus', errorType: 'DATABASE_ERROR', retryable: true }),
    ]);
    expect(v.appliedConfigHash).toBeNull();
    expect(await store.menus.findOne({ _id: 'menufail' })).toBeNull();

    failMenus.delete('menufail');
    const again = await upsert(['menufail']);
    expect(again).toMatchObject({ upserted: 1, unchanged: 0 });
    const v2 = await view('menufail');
    expect(v2).toMatchObject({ status: 'completed', runs: 2 });
    expect(v2.lastResult.menus.added).toBe(2);
    expect(v2.lastResult.components).toMatchObject({ added: 0, unchanged: 3 });
  });

  it('a failure in the middle of the route write leaves the previous routes intact (compensation)', async () => {
    const c = generateClient('saga', { routes: 60 });
    writeClient(dir, c);
    await upsert(['saga']);
    const before = await routesOf('saga');
    expect(before).toHaveLength(60);

    const next: ClientFile = JSON.parse(JSON.stringify(c));
    for (const r of next.routes.slice(0, 55)) r.title = `${r.title} v2`;
    next.routes.splice(58, 2);
    for (let i = 0; i < 10; i++) next.routes.push({ key: `extra-${i}`, path: `/extra/${i}`, componentFqn: 'gen.Page2@1.0.0' });
    next.menus[0]!.entries[0]!.title = 'Dashboard v2';
    next.users.push({ email: 'late.joiner@saga.example', firstName: 'Late', lastName: 'Joiner', roles: ['USER'] });
    writeClient(dir, next);
    const seenMidWrite: number[] = [];
    failRouteWrite.set('saga', async (key) => {
      const docs = await store.routes(key).find({}).toArray();
      seenMidWrite.push(docs.filter((d) => d.title?.endsWith(' v2')).length + docs.filter((d) => d._id.startsWith('extra-')).length);
      throw new Error('disk full while replacing routes');
    });
    const res = await upsert(['saga']);
    expect(res.partial).toBe(1);
    // The write really was half-done when it failed (new routes inserted, one batch of 50 replaced) …
    expect(seenMidWrite.length).toBe(3);
    for (const n of seenMidWrite) expect(n).toBe(10 + 50);
    // … and the client has its previous routes, exactly, afterwards.
    expect(await routesOf('saga')).toEqual(before);
    expect(await store.backups.findOne({ _id: 'saga' })).toBeNull();
    const v = await view('saga');
    expect(v.lastResult.steps.routes.status).toBe('compensated');
    expect(v.lastResult.errors).toEqual([
      expect.objectContaining({ operation: 'routes', errorType: 'UNKNOWN_ERROR', message: 'disk full while replacing routes' }),
    ]);
    // Graceful degradation: the later steps still ran; the components did not need to.
    expect(v.lastResult.steps.menus).toMatchObject({ status: 'ok', counts: { updated: 1, unchanged: 1 } });
    expect(v.lastResult.steps.users).toMatchObject({ status: 'ok', counts: { added: 1, unchanged: 2 } });
    expect(v.lastResult.steps.components.status).toBe('unchanged');

    failRouteWrite.delete('saga');
    await upsert(['saga']);
    const v2 = await view('saga');
    expect(v2.lastResult.routes).toEqual({ added: 10, updated: 55, removed: 2, unchanged: 3, failed: 0 });
    expect(v2.lastResult.steps.menus.status).toBe('unchanged');
    expect((await routesOf('saga')).map((d: RouteDoc) => d._id).sort()).toEqual(next.routes.map((r) => r.key).sort());
  });

  it('the same client upserted twice concurrently → one run', async () => {
    writeClient(dir, generateClient('dup', { routes: 3 }));
    writeClient(dir, generateClient('dup-other', { routes: 3 }));
    slowClient.set('dup', 1_500);
    const post = () => stack.app.inject({ method: 'POST', url: '/api/clients/sync', headers: writer$, payload: { keys: ['dup'] } });
    const [a, b, batch] = await Promise.all([
      post(),
      post(),
      startClientUpsert({
        client: stack.deps.temporal.client,
        taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
        keys: ['dup-other', 'dup'],
        concurrency: 2,
        trigger: 'test',
      }),
    ]);
    expect(a.statusCode, a.body).toBe(202);
    expect(b.statusCode).toBe(202);
    expect(a.json().workflowId).toBe(b.json().workflowId);
    expect(a.json().runId).toBe(b.json().runId);
    expect(batch.workflowId).not.toBe(a.json().workflowId);
    const results = await Promise.all([
      stack.deps.temporal.client.workflow.getHandle(a.json().workflowId, a.json().runId).result() as Promise<UpsertAllResult>,
      batch.result(),
    ]);
    slowClient.delete('dup');
    expect(results[0].deduplicated + results[1].deduplicated).toBe(1);
    expect((await view('dup')).runs).toBe(1);
    expect((await view('dup-other')).runs).toBe(1);
    expect((await stack.app.inject({ method: 'POST', url: '/api/clients/sync', headers: reader$, payload: {} })).statusCode).toBe(403);
    expect(
      (await stack.app.inject({ method: 'POST', url: '/api/clients/sync', headers: writer$, payload: { keys: ['$bad'] } })).statusCode,
    ).toBe(400);
  });

  it('starting "all" twice (two workers booting) joins one run, which skips what is unchanged', async () => {
    // Its own clients, one of them invalid; a first run settles them and whatever else the folder holds.
    writeClient(dir, generateClient('boot-ok', { routes: 3 }));
    const bad = generateClient('boot-bad', { routes: 2 });
    (bad.components[0] as Record<string, unknown>).version = 'latest';
    writeClient(dir, bad);
    const start = () =>
      startClientUpsert({
        client: stack.deps.temporal.client,
        taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
        concurrency: 4,
        trigger: 'worker-start',
      });
    const first = await start();
    const settled = await first.result();
    expect(settled.clients).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ clientKey: 'boot-ok', outcome: 'completed' }),
        expect.objectContaining({ clientKey: 'boot-bad', outcome: 'invalid' }),
      ]),
    );
    const badRuns = (await view('boot-bad')).runs;

    const [x, y] = await Promise.all([start(), start()]);
    expect(x.workflowId).toBe(`client-upsert-all:${stack.deps.config.TEMPORAL_TASK_QUEUE}`);
    expect(y.runId).toBe(x.runId);
    expect(x.runId).not.toBe(first.runId);
    const res = await x.result();
    expect(res).toMatchObject({
      total: settled.total,
      invalid: settled.invalid,
      unchanged: settled.total - settled.invalid,
      upserted: 0,
      partial: 0,
      failed: 0,
    });
    // Unchanged clients cost a hash compare only (no run, not listed); the invalid one is reported
    // again without being re-recorded.
    expect(res.clients).toContainEqual(expect.objectContaining({ clientKey: 'boot-bad', outcome: 'invalid' }));
    expect(res.clients.map((c) => c.clientKey)).not.toContain('boot-ok');
    expect((await view('boot-ok')).runs).toBe(1);
    expect((await view('boot-bad')).runs).toBe(badRuns);
  });

  it('records the seed metrics through the OpenTelemetry meter, without personal data', async () => {
    // Its own clients: one upserted, edited (one route) and run again unchanged; one with a bad route, a failing menu step
    // and a user without a password; one with an invalid config.
    const [ok, faulty, invalid] = ['metrics-ok', 'metrics-faulty', 'metrics-invalid'];
    const c = generateClient(ok, { routes: 3 });
    writeClient(dir, c);
    await upsert([ok]);
    c.routes[0]!.title = 'Renamed';
    writeClient(dir, c);
    await upsert([ok]);
    expect(await upsert([ok])).toMatchObject({ unchanged: 1 });
    const f = generateClient(faulty, { routes: 3, users: 1 });
    f.routes.push({ key: 'broken', path: 'no-leading-slash', componentFqn: f.routes[0]!.componentFqn });
    f.users.push({ email: `nobody@${faulty}.example`, firstName: 'No', lastName: 'Env', roles: ['USER'], passwordEnv: 'NOT_SET_ANYWHERE' });
    writeClient(dir, f);
    const bad = generateClient(invalid, { routes: 2 });
    (bad.components[0] as Record<string, unknown>).version = 'latest';
    writeClient(dir, bad);
    failMenus.add(faulty);
    try {
      expect(await upsert([faulty, invalid])).toMatchObject({ partial: 1, invalid: 1 });
    } finally {
      failMenus.delete(faulty);
    }

    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    const seen = new Map<string, Array<Record<string, unknown>>>();
    for (const sm of resourceMetrics.scopeMetrics) {
      expect(sm.scope.name).toBe('sync-orchestrator');
      for (const m of sm.metrics)
        seen.set(
          m.descriptor.name,
          m.dataPoints.map((p) => p.attributes),
        );
    }
    for (const name of Object.values(ClientMetricNames)) expect(seen.has(name), name).toBe(true);
    expect(seen.get('client_route_sync_total')).toContainEqual({ clientKey: ok, change: 'unchanged' });
    expect(seen.get('client_menu_sync_total')).toContainEqual({ clientKey: ok, menuKey: 'main', change: 'added' });
    expect(seen.get('client_component_install_total')).toContainEqual({ clientKey: ok, componentFqn: 'gen.Page0@1.0.0', change: 'added' });
    expect(seen.get('client_config_upsert_total')).toContainEqual({ clientKey: ok, operation: 'unchanged' });
    expect(seen.get('client_menu_sync_errors_total')).toContainEqual({ clientKey: faulty, errorType: 'DATABASE_ERROR' });
    expect(seen.get('client_route_sync_errors_total')).toContainEqual({ clientKey: faulty, errorType: 'VALIDATION_ERROR' });
    expect(seen.get('client_config_upsert_errors_total')).toContainEqual({
      clientKey: invalid,
      operation: 'config',
      errorType: 'VALIDATION_ERROR',
    });
    const all = JSON.stringify([...seen.values()]);
    for (const key of [ok, faulty, invalid]) expect(all).not.toContain(`@${key}.example`);
    expect(all).not.toMatch(/email/i);
  });

  it('logs name users by reference only and never carry a password', async () => {
    // Its own client: a user whose password comes from the environment, and an invited one.
    const key = 'log-users';
    const c = generateClient(key, { routes: 2, users: 1 });
    c.users.push({
      email: `env.user@${key}.example`,
      firstName: 'Env',
      lastName: 'User',
      roles: ['USER'],
      passwordEnv: 'TEST_USER_PASSWORD',
    });
    writeClient(dir, c);
    expect(await upsert([key])).toMatchObject({ upserted: 1 });
    const text = logLines.join('');
    expect(text).toContain('routes synchronized');
    expect(text).not.toContain(ENV_PASSWORD);
    expect(text).not.toMatch(/@(alpha|beta|delta|menufail|saga|dup|log-users)\.example/);
  });
});
