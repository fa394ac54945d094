import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { freePort } from '../../../infra/dev/servers';
import { Collections } from '../../../infra/mongo';
import type { ReconcileProgress } from '../../../shared/reconcile';
import { bearer } from '../../helpers/api';
import { startLoginBench, type CollectionSpec, type LoginBench } from '../../helpers/login';
import { uniqueId } from '../../helpers/stack';

// Outbound limits and redaction on the real stack: a tenant sync that breaks a limit fails the
// collection with a VALIDATION_ERROR naming it; failures against dead servers are stored and
// shown without the host:port the worker tried (sync status and runs, reconcile errors/progress).

const USERS: CollectionSpec[] = [{ name: 'users', essential: true, size: 300 }];
const HOST_PORT = /\b\d{1,3}(\.\d{1,3}){3}:\d+|localhost:\d+/;

interface Collection {
  name: string;
  status: string;
  error?: { errorType: string; retryable: boolean; message: string };
}

describe('outbound limits and redaction', () => {
  let bench: LoginBench;
  let admin: Record<string, string>;
  /** Chunks of these batches fail as if the target server were unreachable. */
  const unreachable = new Set<string>();

  beforeAll(async () => {
    bench = await startLoginBench({
      settings: {
        tenantSync: { pageSize: 100 },
        reconcile: {
          beforeChunk: async ({ batchId }) => {
            if (unreachable.has(batchId)) throw new Error('connect ECONNREFUSED 10.9.8.7:27017 (mongodb://ops:pw@10.9.8.7:27017/app)');
          },
        },
      },
    });
    admin = bench.admin;
  });
  afterAll(async () => bench?.close());

  const ensure = async (a: FastifyInstance, tenantId: string) => {
    const res = await bench.ensure(a, tenantId);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { collections: Collection[]; correlationId: string };
  };
  const register = async (a: FastifyInstance, source: object) => {
    const tenantId = uniqueId('t');
    const res = await a.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: admin,
      payload: { tenantId, name: tenantId, source, collections: [{ name: 'users', essential: true }] },
    });
    expect(res.statusCode, res.body).toBe(201);
    return tenantId;
  };

  it('more pages than SOURCE_MAX_PAGES fail the collection with a non-retryable VALIDATION_ERROR naming the limit', async () => {
    const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: false, SYNC_PAGE_SIZE: 100, SOURCE_MAX_PAGES: 2 });
    const tenantId = await bench.registerTenant(a, USERS);
    const users = (await ensure(a, tenantId)).collections.find((c) => c.name === 'users');
    expect(users).toMatchObject({ status: 'failed', error: { errorType: 'VALIDATION_ERROR', retryable: false } });
    expect(users?.error?.message).toMatch(/collection users: more than SOURCE_MAX_PAGES \(2\) pages/);
    expect(bench.upstream.requestCount(tenantId, 'users')).toBe(2);
    const status = (await a.inject({ method: 'GET', url: `/api/sync/tenants/${tenantId}/status`, headers: bench.syncer })).json();
    expect(status.failedCollections).toEqual([
      expect.objectContaining({
        name: 'users',
        errorType: 'VALIDATION_ERROR',
        retryable: false,
        message: expect.stringMatching(/SOURCE_MAX_PAGES/),
      }),
    ]);
  });

  it('a source host outside SOURCE_ALLOWED_HOSTS is refused before any request', async () => {
    const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: false, SOURCE_ALLOWED_HOSTS: ['api.example.com'] });
    const setup = await bench.app({ USE_TEMPORAL_FOR_AUTH: false });
    const tenantId = await bench.registerTenant(setup, USERS);
    const users = (await ensure(a, tenantId)).collections.find((c) => c.name === 'users');
    expect(users).toMatchObject({ status: 'failed', error: { errorType: 'VALIDATION_ERROR', retryable: false } });
    expect(users?.error?.message).toMatch(/is not in SOURCE_ALLOWED_HOSTS/);
    expect(bench.upstream.requestCount(tenantId, 'users')).toBe(0);
    // Registration refuses the same host up front, and metadata addresses by default.
    const refused = await a.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: admin,
      payload: {
        tenantId: uniqueId('t'),
        name: 'x',
        source: { kind: 'http', settings: { baseUrl: bench.upstream.baseUrl('x') } },
        collections: [{ name: 'users', essential: true }],
      },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().detail).toMatch(/not in SOURCE_ALLOWED_HOSTS/);
    const metadata = await setup.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: admin,
      payload: {
        tenantId: uniqueId('t'),
        name: 'x',
        source: { kind: 'mongodb', settings: { uri: 'mongodb://169.254.169.254:27017/x', database: 'x' } },
        collections: [{ name: 'users', essential: true }],
      },
    });
    expect(metadata.statusCode).toBe(400);
    expect(metadata.json().detail).toMatch(/link-local\/metadata/);
  });

  it('a sync against a dead source stores and shows its failure without the host:port it tried', async () => {
    const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: false });
    const [httpPort, mongoPort] = [await freePort(), await freePort()];
    const httpTenant = await register(a, {
      kind: 'http',
      settings: { baseUrl: `http://127.0.0.1:${httpPort}/tenants/dead`, token: 'tok-dead', timeoutMs: 2_000 },
    });
    const mongoTenant = await register(a, {
      kind: 'mongodb',
      settings: { uri: `mongodb://reader:pw-Secret@127.0.0.1:${mongoPort}/?serverSelectionTimeoutMS=300`, database: 'dead' },
    });
    for (const [tenantId, port] of [
      [httpTenant, httpPort],
      [mongoTenant, mongoPort],
    ] as const) {
      const body = await ensure(a, tenantId);
      const users = body.collections.find((c) => c.name === 'users');
      expect(users).toMatchObject({ status: 'failed', error: { errorType: 'NETWORK_ERROR' } });
      const message = users?.error?.message ?? '';
      expect(message).toMatch(/ECONNREFUSED <host>/);
      expect(message).not.toMatch(HOST_PORT);
      expect(message).not.toContain(String(port));
      expect(message).not.toContain('pw-Secret');
      const run = await bench.deps.mongo.db.collection(Collections.syncRuns).findOne({ tenantId });
      expect(JSON.stringify(run?.collections)).toContain('ECONNREFUSED <host>');
      expect(JSON.stringify(run)).not.toMatch(HOST_PORT);
      const status = (await a.inject({ method: 'GET', url: `/api/sync/tenants/${tenantId}/status`, headers: bench.syncer })).json();
      expect(JSON.stringify(status.failedCollections)).not.toMatch(HOST_PORT);
    }
  });

  it('reconcile: chunk_failed entries and progress errors from unreachable servers carry no host:port', async () => {
    const a = await bench.app();
    const writer = await bearer(bench.deps, ['admin']);
    const data = bench.deps.mongo.client.db(uniqueId('rd').replace(/-/g, '_'));
    await data.collection('src').insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: `k${i}`, v: i })) as never[]);
    await data.collection('tgt').insertOne({ _id: 'k0', v: 0 } as never);
    const progress = async (batchId: string) =>
      (await a.inject({ method: 'GET', url: `/api/reconcile/${batchId}/progress`, headers: writer })).json() as ReconcileProgress;
    const finished = async (batchId: string) => {
      let p = await progress(batchId);
      for (
        const until = Date.now() + 60_000;
        !['completed', 'partial', 'failed', 'cancelled'].includes(p.state) && Date.now() < until;
        p = await progress(batchId)
      )
        await new Promise((r) => setTimeout(r, 200));
      return p;
    };
    const start = async (body: object) => {
      const res = await a.inject({
        method: 'POST',
        url: '/api/reconcile',
        headers: { ...writer, 'idempotency-key': uniqueId('k') },
        payload: body,
      });
      expect(res.statusCode, res.body).toBe(202);
      return res.json().batchId as string;
    };

    const chunked = uniqueId('rc');
    unreachable.add(chunked);
    await start({
      batchId: chunked,
      source: { kind: 'namespace', db: data.databaseName, collection: 'src' },
      target: { db: data.databaseName, collection: 'tgt' },
      options: { dryRun: true, chunkSize: 25, retryAttempts: 0, retryDelay: 10 },
    });
    expect((await finished(chunked)).chunks.failed).toBe(2);
    const errors = (await a.inject({ method: 'GET', url: `/api/reconcile/${chunked}/errors?limit=100`, headers: writer })).json() as {
      items: Array<{ action: string; message: string | null }>;
    };
    const failed = errors.items.filter((i) => i.action === 'chunk_failed');
    expect(failed).toHaveLength(2);
    for (const f of failed) {
      expect(f.message).toMatch(/connect ECONNREFUSED <host> \(mongodb:\/\/<host>\/app\)/);
      expect(f.message).not.toMatch(/10\.9\.8\.7|ops:pw/);
    }
    const chunkDocs = await bench.deps.mongo.db
      .collection(Collections.reconcileChunks)
      .find({ batchId: chunked, state: 'failed' })
      .toArray();
    expect(chunkDocs).toHaveLength(2);
    expect(JSON.stringify(chunkDocs)).not.toMatch(/10\.9\.8\.7/);

    // A tenant source on a dead server: the partition fails; progress names no host:port.
    const port = await freePort();
    const tenantId = await register(a, {
      kind: 'mongodb',
      settings: { uri: `mongodb://127.0.0.1:${port}/?serverSelectionTimeoutMS=200`, database: 'dead' },
    });
    const dead = await start({
      source: { kind: 'tenant', tenantId, collection: 'users' },
      options: { dryRun: true, retryAttempts: 0, retryDelay: 10 },
    });
    const p = await finished(dead);
    expect(p.state).toBe('failed');
    expect(p.errors?.join(' ')).toMatch(/ECONNREFUSED <host>/);
    expect(JSON.stringify(p)).not.toMatch(HOST_PORT);
    // The live progress may answer before the result is recorded: wait for the stored one.
    let stored: unknown;
    await expect
      .poll(
        async () => (stored = (await bench.deps.mongo.db.collection(Collections.reconcileBatches).findOne({ _id: dead } as never))?.result),
        { timeout: 15_000 },
      )
      .toBeDefined();
    expect(JSON.stringify(stored)).not.toMatch(HOST_PORT);
    await data.dropDatabase();
  }, 90_000);
});
