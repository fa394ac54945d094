import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Db } from 'mongodb';
import { openEndpoints } from '../../../activities/reconcile/endpoints';
import { contentHash } from '../../../activities/records/writer';
import { createReconcileStore, type BatchDoc } from '../../../activities/reconcile/store';
import type { TenantRepository } from '../../../activities/tenant-sync/registry';
import { Collections, tenantDbName } from '../../../infra/mongo';
import {
  ReconcileNames,
  resolveReconcileOptions,
  type ReconcileInput,
  type ReconcileProgress,
  type ReconcileWorkflow,
} from '../../../shared/reconcile';
import { WorkflowIds } from '../../../shared/constants';
import { buildTestApp } from '../../helpers/api';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Reconcile isolation (issue 12, items 1–3): a tenant token reaches only its own tenant, the
// platform database is never a source or target, URIs come only from RECONCILE_ALLOWED_URIS,
// and a batch is visible (progress, errors, cancel) only to tokens covering all it touches.

type Headers = Record<string, string>;

describe('reconcile isolation', () => {
  let app: FastifyInstance;
  let data: Db;
  let platform: string;
  const A = uniqueId('iso-a');
  const B = uniqueId('iso-b');
  /** Pause before each chunk of a batch (ms), so that it is still running when cancelled. */
  const delays = new Map<string, number>();
  const t = {} as Record<'a' | 'b' | 'adminA' | 'adminB' | 'rcAll' | 'root', Headers>;
  const stack = useStack({
    worker: {
      settings: {
        reconcile: {
          workerId: 'iso',
          beforeChunk: async ({ batchId }) => {
            const pause = delays.get(batchId);
            if (pause) await new Promise((r) => setTimeout(r, pause));
          },
        },
      },
    },
  });

  beforeAll(async () => {
    platform = stack.deps.config.MONGODB_DB;
    // The allowlist names this stack's own server: an allowed URI, used with a non-platform db.
    app = await stack.buildApp({ RECONCILE_ALLOWED_URIS: [stack.deps.config.MONGODB_URI] });
    data = stack.deps.mongo.client.db(uniqueId('isodata').replace(/-/g, '_'));
    await data
      .collection('src')
      .insertMany(Array.from({ length: 40 }, (_, i) => ({ _id: `r${String(i).padStart(3, '0')}` as never, n: i, updatedAt: new Date(0) })));
    const rc = ['reconcile:write', 'reconcile:read'];
    Object.assign(t, {
      a: await stack.bearer(rc, [A], 'tenant-a'),
      b: await stack.bearer(rc, [B], 'tenant-b'),
      adminA: await stack.bearer(['admin'], [A], 'admin-a'),
      adminB: await stack.bearer(['admin'], [B], 'admin-b'),
      rcAll: await stack.bearer(rc, '*', 'rc-all'),
      root: await stack.bearer(['admin'], '*', 'root'),
    });
    for (const tenantId of [A, B]) {
      const reg = await app.inject({
        method: 'POST',
        url: '/api/tenants',
        headers: t.root,
        payload: {
          tenantId,
          name: tenantId,
          source: { kind: 'mongodb', settings: { uri: stack.deps.config.MONGODB_URI, database: data.databaseName } },
          collections: [{ name: 'src', essential: true }],
        },
      });
      expect(reg.statusCode, reg.body).toBe(201);
    }
  });
  afterAll(async () => {
    await data?.dropDatabase().catch(() => undefined);
    for (const id of [A, B])
      await stack.deps.mongo.client
        .db(tenantDbName(id))
        .dropDatabase()
        .catch(() => undefined);
  });

  const batches = () => stack.deps.mongo.db.collection(Collections.reconcileBatches);
  const post = (headers: Headers, payload: Record<string, unknown>, on = app) =>
    on.inject({ method: 'POST', url: '/api/reconcile', headers: { ...headers, 'idempotency-key': uniqueId('k') }, payload });
  const ns = (db: string, collection = 'src', uri?: string) => ({ ...(uri ? { uri } : {}), db, collection });
  const tenantSrc = (tenantId: string) => ({ kind: 'tenant', tenantId, collection: 'src' });
  const nsSrc = (db: string, collection = 'src', uri?: string) => ({ kind: 'namespace', ...ns(db, collection, uri) });

  /** 403 problem+json, no batch document, no workflow. */
  const expectRefused = async (label: string, headers: Headers, body: Record<string, unknown>, on = app) => {
    const batchId = uniqueId('iso-no');
    const before = await batches().countDocuments();
    const res = await post(headers, { ...body, batchId }, on);
    expect(res.statusCode, `${label}: ${res.body}`).toBe(403);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(await batches().findOne({ _id: batchId as never })).toBeNull();
    expect(await batches().countDocuments()).toBe(before);
    await expect(
      stack.deps.temporal.client.workflow.getHandle<ReconcileWorkflow>(WorkflowIds.reconcile(batchId)).describe(),
      label,
    ).rejects.toThrow();
    return res;
  };
  const finished = async (batchId: string, headers = t.root) => {
    const until = Date.now() + 60_000;
    for (;;) {
      const res = await app.inject({ method: 'GET', url: `/api/reconcile/${batchId}/progress`, headers });
      expect(res.statusCode, res.body).toBe(200);
      const p = res.json() as ReconcileProgress;
      if (['completed', 'partial', 'failed', 'cancelled'].includes(p.state) || Date.now() > until) return p;
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  it('a tenant-limited token names work only through its own tenant: other targets, namespaces and URIs are 403 and start nothing', async () => {
    await expectRefused('cross-tenant target db', t.a, { source: tenantSrc(A), target: ns(tenantDbName(B)) });
    await expectRefused('namespace source naming another tenant', t.a, { source: nsSrc(tenantDbName(B)), target: ns(tenantDbName(A)) });
    await expectRefused('own database, but through a URI', t.a, {
      source: tenantSrc(A),
      target: ns(tenantDbName(A), 'src', stack.deps.config.MONGODB_URI),
    });
    await expectRefused('another tenant as source', t.a, { source: tenantSrc(B) });
    // admin does not widen coverage: raw namespaces need admin AND every tenant
    await expectRefused('admin for one tenant, namespace source', t.adminA, {
      source: nsSrc(data.databaseName),
      target: ns(data.databaseName, 'copy'),
    });
    await expectRefused('admin for one tenant, other tenant', t.adminA, { source: tenantSrc(B) });
    await expectRefused('every tenant without admin, namespace source', t.rcAll, {
      source: nsSrc(data.databaseName),
      target: ns(data.databaseName, 'copy'),
    });
    await expectRefused('every tenant without admin, explicit other db', t.rcAll, { source: tenantSrc(A), target: ns(tenantDbName(B)) });
    // Its own work is accepted: the default target, or its own database named explicitly;
    // extras 'delete' is allowed there (only the tenant's own records are deleted).
    for (const body of [
      { source: tenantSrc(A), options: { dryRun: true } },
      { source: tenantSrc(A), target: ns(tenantDbName(A)), options: { dryRun: true, extras: 'delete' } },
    ]) {
      const res = await post(t.a, body);
      expect(res.statusCode, res.body).toBe(202);
      const { batchId } = res.json() as { batchId: string };
      expect(await batches().findOne({ _id: batchId as never })).toMatchObject({
        source: { kind: 'tenant', tenantId: A },
        target: { db: tenantDbName(A), collection: 'src' },
      });
      expect((await finished(batchId, t.a)).state).toBe('completed');
    }
  });

  it('the platform database is never a source or a target, under any URI, not even for admin with every tenant', async () => {
    const tenantsBefore = await stack.deps.mongo.db.collection(Collections.tenants).find().toArray();
    expect(tenantsBefore).toHaveLength(2);
    const uri = stack.deps.config.MONGODB_URI;
    const cases: Array<[string, Record<string, unknown>]> = [
      ['platform as source', { source: nsSrc(platform, Collections.tenants), target: ns(data.databaseName, 'stolen') }],
      [
        'platform as source via an allowed URI',
        { source: nsSrc(platform, Collections.tenants, uri), target: ns(data.databaseName, 'stolen') },
      ],
      [
        'platform in other letter case',
        { source: nsSrc(platform.toUpperCase(), Collections.tenants), target: ns(data.databaseName, 'stolen') },
      ],
      ['platform as target via an explicit URI', { source: nsSrc(data.databaseName), target: ns(platform, Collections.tenants, uri) }],
      [
        'platform as target via a URI, extras delete',
        { source: nsSrc(data.databaseName), target: ns(platform, Collections.tenants, uri), options: { extras: 'delete' } },
      ],
      [
        'platform as target in other letter case, extras delete',
        { source: nsSrc(data.databaseName), target: ns(platform.toUpperCase(), Collections.tenants), options: { extras: 'delete' } },
      ],
      [
        "platform as a tenant batch's target",
        { source: tenantSrc(A), target: ns(platform, Collections.tenants), options: { extras: 'delete' } },
      ],
    ];
    for (const [label, body] of cases) {
      const res = await expectRefused(label, t.root, body);
      expect(res.json().detail).toMatch(/platform database/);
    }
    expect(await stack.deps.mongo.db.collection(Collections.tenants).find().toArray()).toEqual(tenantsBefore);
    expect(await data.listCollections({ name: 'stolen' }).toArray()).toEqual([]);
  });

  it('external URIs come only from RECONCILE_ALLOWED_URIS and are never echoed; an allowed one runs', async () => {
    const outside = 'mongodb://spy:hunter2-pw@127.0.0.2:27999/x';
    for (const body of [
      { source: nsSrc(data.databaseName, 'src', outside), target: ns(data.databaseName, 'copy') },
      { source: nsSrc(data.databaseName), target: ns(data.databaseName, 'copy', outside) },
    ]) {
      const res = await expectRefused('non-allowlisted URI', t.root, body);
      expect(res.json().detail).toMatch(/RECONCILE_ALLOWED_URIS/);
      for (const leak of ['hunter2', '127.0.0.2', 'spy:']) expect(res.body).not.toContain(leak);
    }
    // An empty allowlist (the default) allows no URI, not even the platform's own server.
    const closed = await buildTestApp(stack.deps);
    try {
      await expectRefused(
        'empty allowlist',
        t.root,
        { source: nsSrc(data.databaseName, 'src', stack.deps.config.MONGODB_URI), target: ns(data.databaseName, 'copy') },
        closed,
      );
    } finally {
      await closed.close();
    }
    const res = await post(t.root, {
      source: nsSrc(data.databaseName, 'src', stack.deps.config.MONGODB_URI),
      target: ns(data.databaseName, 'viauri'),
    });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.body).not.toContain(stack.deps.config.MONGODB_URI);
    const p = await finished((res.json() as { batchId: string }).batchId);
    expect(p).toMatchObject({ state: 'completed', processed: 40, repaired: 40, outcomes: { missing_in_target: 40 } });
    expect(await data.collection('viauri').countDocuments()).toBe(40);

    // A repeat of a batch compares its URIs with the stored (sealed) ones; no hash of a URI is stored.
    const batchId = uniqueId('uri-repeat');
    const spec = {
      batchId,
      source: nsSrc(data.databaseName, 'src', stack.deps.config.MONGODB_URI),
      target: ns(data.databaseName, 'viauri2'),
      options: { dryRun: true },
    };
    expect((await post(t.root, spec)).statusCode).toBe(202);
    const again = await post(t.root, spec);
    expect(again.statusCode, again.body).toBe(202);
    expect(again.json()).toMatchObject({ batchId, created: false });
    const otherUri = `${stack.deps.config.MONGODB_URI}${stack.deps.config.MONGODB_URI.includes('?') ? '&' : '?'}appName=other`;
    const changed = await post(t.root, { ...spec, source: nsSrc(data.databaseName, 'src', otherUri) });
    expect(changed.statusCode, changed.body).toBe(409);
    const stored = await stack.deps.mongo.db.collection(Collections.reconcileBatches).findOne({ _id: batchId } as never);
    expect(JSON.stringify(stored)).not.toContain(stack.deps.config.MONGODB_URI);
    expect(JSON.stringify(stored)).not.toContain(contentHash({ sourceUri: stack.deps.config.MONGODB_URI }));
  });

  it('progress, errors and cancel answer only tokens covering all a batch touches; others get the 404 of a missing batch', async () => {
    const start = async (headers: Headers, body: Record<string, unknown>) => {
      const batchId = uniqueId('iso-vis');
      delays.set(batchId, 1_500);
      const res = await post(headers, { ...body, batchId, options: { dryRun: true, chunkSize: 5 } });
      expect(res.statusCode, res.body).toBe(202);
      return batchId;
    };
    const calls = (batchId: string) =>
      [
        ['GET', `/api/reconcile/${batchId}/progress`],
        ['GET', `/api/reconcile/${batchId}/errors`],
        ['POST', `/api/reconcile/${batchId}/cancel`],
      ] as const;
    const missing = await app.inject({ method: 'GET', url: '/api/reconcile/iso-never-was/progress', headers: t.root });
    expect(missing.statusCode).toBe(404);
    const expectHidden = async (batchId: string, who: Headers[]) => {
      for (const h of who) {
        for (const [method, url] of calls(batchId)) {
          const res = await app.inject({ method, url, headers: h });
          expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(404);
          expect(res.json().detail.replace(batchId, 'X')).toBe(missing.json().detail.replace('iso-never-was', 'X'));
        }
      }
    };
    const expectVisible = async (batchId: string, h: Headers) => {
      const [progress, errors, cancel] = calls(batchId);
      expect((await app.inject({ method: progress[0], url: progress[1], headers: h })).statusCode).toBe(200);
      expect((await app.inject({ method: errors[0], url: errors[1], headers: h })).statusCode).toBe(200);
      const c = await app.inject({ method: cancel[0], url: cancel[1], headers: h });
      expect(c.statusCode, c.body).toBe(202);
      expect((await finished(batchId, h)).state).toBe('cancelled');
    };

    const tenantBatch = await start(t.a, { source: tenantSrc(A) });
    await expectHidden(tenantBatch, [t.b, t.adminB]);
    expect((await app.inject({ method: 'GET', url: `/api/reconcile/${tenantBatch}/progress`, headers: t.rcAll })).statusCode).toBe(200);
    await expectVisible(tenantBatch, t.a);

    // A namespace batch: admin with every tenant only.
    const nsBatch = await start(t.root, { source: nsSrc(data.databaseName), target: ns(data.databaseName, 'nscopy') });
    await expectHidden(nsBatch, [t.a, t.rcAll, t.adminA]);
    await expectVisible(nsBatch, t.root);

    // A tenant's source into another database is raw work: hidden from the tenant's own token.
    const foreign = await start(t.root, { source: tenantSrc(A), target: ns(data.databaseName, 'acopy') });
    await expectHidden(foreign, [t.a, t.adminA, t.rcAll]);
    await expectVisible(foreign, t.root);
  }, 120_000);

  describe('worker guard: a batch naming the platform database (as an older API could write) never opens it', () => {
    const store = () => createReconcileStore(stack.deps.mongo.db);
    const register = async (source: ReconcileInput['source'], target: ReconcileInput['target']): Promise<ReconcileInput> => {
      const batchId = uniqueId('iso-old');
      const options = resolveReconcileOptions({ extras: 'delete' });
      const now = new Date();
      const doc: BatchDoc = {
        _id: batchId,
        correlationId: batchId,
        workflowId: `reconcile:${batchId}`,
        state: 'pending',
        source,
        target,
        options,
        specHash: 'old-api',
        createdAt: now,
      };
      expect(await store().createBatch(doc)).toBe(true);
      return { batchId, correlationId: batchId, source, target, options, startedAt: now.toISOString() };
    };
    const unusedTenants = { get: async () => Promise.reject(new Error('not reached')) } as unknown as TenantRepository;

    it('openEndpoints refuses it with a non-retryable VALIDATION_ERROR', async () => {
      const inputs = [
        await register({ kind: 'namespace', db: platform, collection: Collections.tenants }, { db: data.databaseName, collection: 'x' }),
        await register(
          { kind: 'namespace', db: data.databaseName, collection: 'src' },
          { db: platform, collection: Collections.tenants, external: true },
        ),
        await register({ kind: 'tenant', tenantId: A, collection: 'src' }, { db: platform.toUpperCase(), collection: Collections.tenants }),
      ];
      for (const input of inputs) {
        await expect(openEndpoints(stack.deps, store(), unusedTenants, input)).rejects.toMatchObject({
          type: 'VALIDATION_ERROR',
          nonRetryable: true,
          message: expect.stringMatching(/platform database/),
        });
      }
    });

    it('the workflow of such a batch fails at once and deletes nothing', async () => {
      const tenantsBefore = await stack.deps.mongo.db.collection(Collections.tenants).find().toArray();
      const input = await register(
        { kind: 'namespace', db: data.databaseName, collection: 'src' },
        { db: platform, collection: Collections.tenants },
      );
      const handle = await stack.deps.temporal.client.workflow.start<ReconcileWorkflow>(ReconcileNames.workflow, {
        taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
        workflowId: WorkflowIds.reconcile(input.batchId),
        args: [input],
      });
      await expect(handle.result()).rejects.toThrow();
      const p = await finished(input.batchId);
      expect(p.state).toBe('failed');
      expect(p.errors?.join(' ')).toMatch(/platform database/);
      expect(await stack.deps.mongo.db.collection(Collections.tenants).find().toArray()).toEqual(tenantsBefore);
    });
  });
});
