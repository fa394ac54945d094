import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Double, Int32, Long, type Db } from 'mongodb';
import { createMongoSource } from '../../../activities/sources';
import { writeRecords } from '../../../activities/records/writer';
import { driftOf, generatePair, rawCompare, sourceDoc } from '../../../fixtures/reconcile-data';
import { Collections } from '../../../infra/mongo';
import { createRedis } from '../../../infra/redis';
import { freePort } from '../../../infra/dev/servers';
import type { ReconcileProgress } from '../../../shared/reconcile';
import { buildTestApp } from '../../helpers/api';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Reconcile on the real stack: FerretDB namespaces with every drift kind, through the API and
// Temporal; exact counts, dry run, repairs, findings paging, injected and transient failures.

describe('reconcile', () => {
  let writer: Record<string, string>;
  let reader: Record<string, string>;
  let data: Db;
  /** seq → failures left, per batch; consulted by the worker's beforeChunk hook. */
  const faults = new Map<string, Map<number, number>>();
  /** Pause before each chunk of a batch (ms), so that a cancel lands mid-run. */
  const delays = new Map<string, number>();
  /** Runs before each chunk of a batch (a concurrent write between the compare and the repair). */
  const hooks = new Map<string, (seq: number) => Promise<void>>();

  const stack = useStack({
    app: true,
    worker: {
      settings: {
        reconcile: {
          workerId: 'w1',
          beforeChunk: async ({ batchId, seq }) => {
            const pause = delays.get(batchId);
            if (pause) await new Promise((r) => setTimeout(r, pause));
            await hooks.get(batchId)?.(seq);
            const left = faults.get(batchId)?.get(seq) ?? 0;
            if (left > 0) {
              faults.get(batchId)!.set(seq, left - 1);
              throw new Error(`injected failure of chunk ${seq}`);
            }
          },
        },
      },
    },
  });
  beforeAll(async () => {
    // Namespace batches (start and read) need the admin scope on a token for every tenant.
    writer = await stack.bearer(['admin']);
    reader = await stack.bearer(['reconcile:read']);
    data = stack.deps.mongo.client.db(uniqueId('rcdata').replace(/-/g, '_'));
  });
  afterAll(async () => {
    await data?.dropDatabase().catch(() => undefined);
  });

  const start = async (source: string, target: string, options: Record<string, unknown>, batchId?: string) => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/reconcile',
      headers: { ...writer, ...key() },
      payload: {
        ...(batchId ? { batchId } : {}),
        source: { kind: 'namespace', db: data.databaseName, collection: source },
        target: { db: data.databaseName, collection: target },
        options,
      },
    });
    expect(res.statusCode, res.body).toBe(202);
    return res.json() as { batchId: string; workflowId: string };
  };
  const progress = async (batchId: string) => {
    const res = await stack.app.inject({ method: 'GET', url: `/api/reconcile/${batchId}/progress`, headers: writer });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as ReconcileProgress & { live: boolean };
  };
  // POST /api/reconcile requires an Idempotency-Key: a fresh one per intended start.
  const key = () => ({ 'idempotency-key': uniqueId('rk') });
  const finished = async (batchId: string, timeout = 60_000) => {
    let p = await progress(batchId);
    const until = Date.now() + timeout;
    while (!['completed', 'partial', 'failed', 'cancelled'].includes(p.state) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      p = await progress(batchId);
    }
    return p;
  };

  it('20k records with every drift kind: a dry run writes nothing, then a repair makes the target equal the source with exact counts', async () => {
    const n = 20_000;
    const gen = await generatePair(data, { source: 'src20k', target: 'tgt20k' }, n, driftOf(n, 0.015));
    expect(gen.drift).toEqual({ missing: 100, mismatched: 100, extra: 100 });

    const dry = await start('src20k', 'tgt20k', { dryRun: true, chunkSize: 1000 });
    const d = await finished(dry.batchId);
    expect(d).toMatchObject({
      state: 'completed',
      processed: n + 100,
      failed: 0,
      repaired: 0,
      outcomes: { matched: n - 200, missing_in_target: 100, extra_in_target: 100, mismatched: 100 },
    });
    expect(await stack.deps.mongo.db.collection(Collections.reconcilePending).countDocuments({ batchId: dry.batchId })).toBe(0);

    // The repairing run observes exactly the generated drift: the dry run wrote nothing.
    const run = await start('src20k', 'tgt20k', { chunkSize: 1000, extras: 'delete', retryDelay: 50 });
    const p = await finished(run.batchId);
    expect(p).toMatchObject({
      state: 'completed',
      processed: n + 100,
      failed: 0,
      conflicts: 0,
      repaired: 300,
      outcomes: { matched: n - 200, missing_in_target: 100, extra_in_target: 100, mismatched: 100 },
    });
    expect(p.chunks).toMatchObject({ done: Math.ceil((n + 100) / 1000), failed: 0, inFlight: 0 });
    expect(await rawCompare(data.collection('src20k'), data.collection('tgt20k'))).toEqual({
      processed: n,
      matched: n,
      missing: 0,
      extra: 0,
      mismatched: 0,
    });
    const stored = await stack.deps.mongo.db.collection(Collections.reconcileBatches).findOne({ _id: run.batchId } as never);
    expect(stored).toMatchObject({ state: 'completed', result: { repaired: 300 } });
  }, 90_000);

  it("repairMode 'rewrite': one pass applies every repair, keeps BSON types and indexes; a record changed after the compare is a conflict", async () => {
    const n = 20_000;
    await generatePair(data, { source: 'rwsrc', target: 'rwtgt' }, n, driftOf(n, 0.015));
    // A source-only record whose types a promoted read would change (1.0 → 1, a Long past 2^53).
    const typed = { _id: 'zz-typed', ratio: new Double(1), big: Long.fromString('9007199254740993'), version: 1 };
    await data.collection('rwsrc').insertOne(typed as never);
    await data.collection('rwtgt').createIndex({ name: 1 }, { name: 'by_name' });
    const batchId = uniqueId('rc-rewrite');
    let touched: unknown;
    hooks.set(batchId, async (seq) => {
      if (seq !== 5 || touched !== undefined) return;
      // Someone writes a record the compare found mismatched, before the repairs are applied.
      const staged = await stack.deps.mongo.db.collection(Collections.reconcilePending).findOne({ batchId, op: 'replace' });
      touched = staged!.key;
      await data.collection('rwtgt').updateOne({ _id: touched } as never, { $set: { touched: true } });
    });
    await start('rwsrc', 'rwtgt', { chunkSize: 1000, extras: 'delete', scan: 'hashed', repairMode: 'rewrite' }, batchId);
    const p = await finished(batchId, 120_000);
    expect(touched).toBeDefined();
    expect(p).toMatchObject({
      state: 'completed',
      processed: n + 1 + 100,
      failed: 0,
      conflicts: 1,
      repaired: 300,
      outcomes: { matched: n - 200, missing_in_target: 101, extra_in_target: 100, mismatched: 100 },
    });
    // One flush: the rewrite, after the last chunk.
    const flushes = await stack.deps.mongo.db.collection(Collections.reconcileChunks).find({ batchId, kind: 'flush' }).toArray();
    expect(flushes).toHaveLength(1);
    expect(flushes[0]!.delta).toMatchObject({ repaired: 300, conflicts: 1, inserted: 200, deleted: 199 });
    // Equal to the source but for the record written meanwhile, which was kept as that writer left it.
    expect(await rawCompare(data.collection('rwsrc'), data.collection('rwtgt'))).toEqual({
      processed: n + 1,
      matched: n,
      missing: 0,
      extra: 0,
      mismatched: 1,
    });
    expect(await data.collection('rwtgt').findOne({ _id: touched } as never)).toMatchObject({ touched: true });
    const back = await data.collection('rwtgt').findOne({ _id: 'zz-typed' } as never, { promoteValues: false });
    expect(back!.ratio).toBeInstanceOf(Double);
    expect((back!.big as Long).toString()).toBe('9007199254740993');
    expect((await data.collection('rwtgt').listIndexes().toArray()).map((i) => i.name)).toContain('by_name');
    expect(await stack.deps.mongo.db.collection(Collections.reconcileBatches).findOne({ _id: batchId } as never)).toMatchObject({
      rewriteTemp: null,
    });
    const siblings = await data.listCollections({}, { nameOnly: true }).toArray();
    expect(siblings.map((c) => c.name).filter((c) => c.startsWith('rwtgt__'))).toEqual([]);
  }, 150_000);

  it.each(['ordered', 'hashed'] as const)(
    'a repair of a %s scan writes source records as stored: a Double stays a double, a Long past 2^53 keeps its digits, an Int32 key stays one',
    async (scan) => {
      const [src, tgt] = [`fid_src_${scan}`, `fid_tgt_${scan}`];
      await data.collection(src).insertMany([
        { _id: new Int32(7), ratio: new Double(1), big: Long.fromString('9007199254740993') },
        { _id: 'm', ratio: new Double(2) },
        { _id: 'same', v: 1 },
      ] as never);
      await data.collection(tgt).insertMany([
        { _id: 'm', ratio: new Double(3) },
        { _id: 'same', v: 1 },
      ] as never);
      const run = await start(src, tgt, { scan, extras: 'delete' });
      const p = await finished(run.batchId);
      expect(p).toMatchObject({ state: 'completed', repaired: 2, outcomes: { missing_in_target: 1, mismatched: 1, matched: 1 } });
      const docs = await data.collection(tgt).find({}, { promoteValues: false }).toArray();
      const typed = docs.find((d) => d._id instanceof Int32);
      expect(typed?.ratio).toBeInstanceOf(Double);
      expect((typed?.big as Long).toString()).toBe('9007199254740993');
      const m = docs.find((d) => (d._id as unknown) === 'm');
      expect(m?.ratio).toBeInstanceOf(Double);
      expect((m?.ratio as Double).valueOf()).toBe(2);
    },
  );

  it('an injected chunk failure is recorded while the other chunks complete; a transient one is retried and succeeds; findings page by cursor', async () => {
    const n = 3_000;
    const gen = await generatePair(data, { source: 'fsrc', target: 'ftgt' }, n, driftOf(n, 0.03));
    const batchId = uniqueId('rc-fail');
    faults.set(
      batchId,
      new Map([
        [2, 99],
        [4, 1],
      ]),
    );
    await start('fsrc', 'ftgt', { dryRun: true, chunkSize: 500, retryAttempts: 2, retryDelay: 20 }, batchId);
    const p = await finished(batchId);
    const keys = n + gen.drift.extra;
    const chunks = Math.ceil(keys / 500);
    expect(p).toMatchObject({
      state: 'partial',
      processed: keys,
      failed: 500,
      successful: keys - 500,
      chunks: { done: chunks - 1, failed: 1, inFlight: 0 },
    });
    const o = p.outcomes;
    expect(o.matched + o.missing_in_target + o.extra_in_target + o.mismatched).toBe(keys - 500);
    expect(faults.get(batchId)!.get(4)).toBe(0);
    const fourth = await stack.deps.mongo.db.collection(Collections.reconcileChunks).findOne({ batchId, kind: 'chunk', seq: 4 });
    expect(fourth).toMatchObject({ state: 'done' });

    const items: Array<{ id: string; action: string; records?: number; message: string | null }> = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const r = await stack.app.inject({
        method: 'GET',
        url: `/api/reconcile/${batchId}/errors?limit=25${after ? `&after=${encodeURIComponent(after)}` : ''}`,
        headers: writer,
      });
      expect(r.statusCode, r.body).toBe(200);
      const page = r.json() as { items: typeof items; nextCursor: string | null };
      items.push(...page.items);
      after = page.nextCursor;
      pages += 1;
    } while (after);
    expect(pages).toBeGreaterThan(1);
    expect(new Set(items.map((i) => i.id)).size).toBe(items.length);
    const chunkFailures = items.filter((i) => i.action === 'chunk_failed');
    expect(chunkFailures).toHaveLength(1);
    expect(chunkFailures[0]).toMatchObject({ records: 500 });
    expect(chunkFailures[0]!.message).toContain('injected failure of chunk 2');
    expect(items.filter((i) => i.action === 'reported')).toHaveLength(o.missing_in_target + o.extra_in_target + o.mismatched);
  }, 60_000);

  it('cancel mid-run stops at a chunk boundary and keeps the partial counts', async () => {
    // Its own pair, equal on both sides (every processed key is a match).
    const n = 20_000;
    await generatePair(data, { source: 'csrc', target: 'ctgt' }, n, { missing: 0, mismatched: 0, extra: 0 });
    const batchId = uniqueId('rc-cancel');
    delays.set(batchId, 150);
    await start('csrc', 'ctgt', { dryRun: true, chunkSize: 500, heartbeatTimeoutMs: 2_000, progressIntervalMs: 0 }, batchId);
    await expect.poll(async () => (await progress(batchId)).processed, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(1_000);
    const cancel = await stack.app.inject({ method: 'POST', url: `/api/reconcile/${batchId}/cancel`, headers: writer });
    expect(cancel.statusCode, cancel.body).toBe(202);
    const p = await finished(batchId);
    expect(p.state).toBe('cancelled');
    expect(p.processed).toBeGreaterThanOrEqual(1_000);
    expect(p.processed).toBeLessThan(n);
    expect(p.processed % 500).toBe(0);
    expect(p.outcomes.matched).toBe(p.processed);
    expect(p.chunks).toMatchObject({ done: p.processed / 500, inFlight: 0 });
    // The result is recorded just before the workflow closes as cancelled.
    await expect
      .poll(async () => (await stack.deps.temporal.client.workflow.getHandle(`reconcile:${batchId}`).describe()).status.name, {
        timeout: 10_000,
      })
      .toBe('CANCELLED');
    expect((await stack.app.inject({ method: 'POST', url: `/api/reconcile/${batchId}/cancel`, headers: writer })).statusCode).toBe(409);
  }, 60_000);

  it("a tenant's upstream collection, read through its connector, against the tenant's own collection", async () => {
    const tenantId = uniqueId('rct');
    const admin = await stack.bearer(['admin']);
    const reg = await stack.app.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: admin,
      payload: {
        tenantId,
        name: 'Reconcile tenant',
        source: { kind: 'mongodb', settings: { uri: stack.deps.config.MONGODB_URI, database: data.databaseName } },
        collections: [{ name: 'tusers', essential: true }],
      },
    });
    expect(reg.statusCode, reg.body).toBe(201);
    await data.collection('tusers').insertMany(Array.from({ length: 2_000 }, (_, i) => sourceDoc(i)));
    // The target as tenant sync writes it, then drifted.
    const target = stack.deps.mongo.tenantDb(tenantId).collection('tusers');
    const source = createMongoSource({ uri: stack.deps.config.MONGODB_URI, database: data.databaseName });
    for (let after: string | null = null; ;) {
      const page = await source.readPage('tusers', { after, limit: 1_000 });
      await writeRecords(target, page.records, 'seed', { assumeAbsent: true });
      if (!(after = page.nextCursor)) break;
    }
    await source.close();
    await target.deleteMany({ _id: { $in: ['r000000010', 'r000000020', 'r000000030'] } } as never);
    await target.updateOne({ _id: 'r000000040' } as never, { $set: { value: -5 } });
    await target.insertOne({ _id: 'r000000050x', name: 'orphan', _sync: { hash: 'x' } } as never);

    const tenantToken = await stack.bearer(['reconcile:write', 'reconcile:read'], [tenantId]);
    const otherToken = await stack.bearer(['reconcile:write', 'reconcile:read'], ['someone-else']);
    const body = { source: { kind: 'tenant', tenantId, collection: 'tusers' }, options: { extras: 'delete', chunkSize: 300 } };
    expect(
      (await stack.app.inject({ method: 'POST', url: '/api/reconcile', headers: { ...otherToken, ...key() }, payload: body })).statusCode,
    ).toBe(403);
    const res = await stack.app.inject({ method: 'POST', url: '/api/reconcile', headers: { ...tenantToken, ...key() }, payload: body });
    expect(res.statusCode, res.body).toBe(202);
    const { batchId } = res.json() as { batchId: string };
    // Another tenant's batch does not exist for this token.
    expect((await stack.app.inject({ method: 'GET', url: `/api/reconcile/${batchId}/progress`, headers: otherToken })).statusCode).toBe(
      404,
    );
    const p = await finished(batchId);
    expect(p).toMatchObject({
      state: 'completed',
      processed: 2_001,
      repaired: 5,
      conflicts: 0,
      outcomes: { matched: 1_996, missing_in_target: 3, mismatched: 1, extra_in_target: 1 },
    });

    const again = await stack.app.inject({
      method: 'POST',
      url: '/api/reconcile',
      headers: { ...tenantToken, ...key() },
      payload: { ...body, options: { dryRun: true } },
    });
    const check = await finished((again.json() as { batchId: string }).batchId);
    expect(check).toMatchObject({
      state: 'completed',
      processed: 2_000,
      outcomes: { matched: 2_000, missing_in_target: 0, mismatched: 0, extra_in_target: 0 },
    });
    const repaired = await target.findOne({ _id: 'r000000010' } as never);
    expect(repaired).toMatchObject({ name: 'record 10', _sync: { runId: batchId, version: 1 } });
  }, 60_000);

  it('validates requests, scopes and batch IDs; a repeated start with the same spec is idempotent', async () => {
    await generatePair(data, { source: 'vsrc', target: 'vtgt' }, 300, driftOf(300, 0.03));
    const ns = (collection: string) => ({ db: data.databaseName, collection });
    const body = {
      batchId: uniqueId('rc-api'),
      source: { kind: 'namespace', ...ns('vsrc') },
      target: ns('vtgt'),
      options: { dryRun: true },
    };
    expect((await stack.app.inject({ method: 'POST', url: '/api/reconcile', payload: body })).statusCode).toBe(401);
    expect(
      (await stack.app.inject({ method: 'POST', url: '/api/reconcile', headers: { ...reader, ...key() }, payload: body })).statusCode,
    ).toBe(403);
    expect(
      (
        await stack.app.inject({
          method: 'POST',
          url: '/api/reconcile',
          headers: { ...writer, ...key() },
          payload: { ...body, target: undefined },
        })
      ).statusCode,
    ).toBe(400);
    expect(
      (
        await stack.app.inject({
          method: 'POST',
          url: '/api/reconcile',
          headers: { ...writer, ...key() },
          payload: { ...body, target: { db: stack.deps.config.MONGODB_DB, collection: 'tenants' } },
        })
      ).statusCode,
    ).toBe(403);
    expect(
      (
        await stack.app.inject({
          method: 'POST',
          url: '/api/reconcile',
          headers: { ...writer, ...key() },
          payload: { ...body, options: { chunkSize: 0 } },
        })
      ).statusCode,
    ).toBe(400);
    const first = await stack.app.inject({ method: 'POST', url: '/api/reconcile', headers: { ...writer, ...key() }, payload: body });
    expect(first.statusCode, first.body).toBe(202);
    expect(first.json()).toMatchObject({ batchId: body.batchId, workflowId: `reconcile:${body.batchId}`, created: true });
    // The key is required (400 problem+json without it) and, without a batchId, names the batch.
    const noKey = await stack.app.inject({ method: 'POST', url: '/api/reconcile', headers: writer, payload: body });
    expect(noKey.statusCode).toBe(400);
    expect(noKey.headers['content-type']).toContain('application/problem+json');
    expect(noKey.json().detail).toMatch(/Idempotency-Key header is required/);
    const keyed = { ...writer, ...key() };
    const fromKey = { ...body, batchId: undefined };
    const k1 = await stack.app.inject({ method: 'POST', url: '/api/reconcile', headers: keyed, payload: fromKey });
    expect(k1.statusCode, k1.body).toBe(202);
    const k2 = await stack.app.inject({ method: 'POST', url: '/api/reconcile', headers: keyed, payload: fromKey });
    expect(k2.statusCode).toBe(202);
    expect(k2.headers['idempotent-replayed']).toBe('true');
    expect(k2.json().batchId).toBe(k1.json().batchId);
    expect(k1.json().batchId).toMatch(/^rc-[0-9a-f]{24}$/);
    // Redis down: a required key cannot be recorded → 503, and nothing starts.
    const deadRedis = createRedis({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    const noRedisApp = await buildTestApp(stack.deps, {}, { redis: deadRedis });
    try {
      const downId = uniqueId('rc-down');
      const down = await noRedisApp.inject({
        method: 'POST',
        url: '/api/reconcile',
        headers: { ...writer, ...key() },
        payload: { ...body, batchId: downId },
      });
      expect(down.statusCode, down.body).toBe(503);
      expect(down.headers['content-type']).toContain('application/problem+json');
      expect((await stack.app.inject({ method: 'GET', url: `/api/reconcile/${downId}/progress`, headers: reader })).statusCode).toBe(404);
    } finally {
      await noRedisApp.close();
      deadRedis.disconnect();
    }
    await finished(k1.json().batchId);
    const repeat = await stack.app.inject({ method: 'POST', url: '/api/reconcile', headers: { ...writer, ...key() }, payload: body });
    expect(repeat.statusCode).toBe(202);
    expect(repeat.json()).toMatchObject({ batchId: body.batchId, created: false });
    expect(
      (
        await stack.app.inject({
          method: 'POST',
          url: '/api/reconcile',
          headers: { ...writer, ...key() },
          payload: { ...body, options: { dryRun: false } },
        })
      ).statusCode,
    ).toBe(409);
    expect((await stack.app.inject({ method: 'GET', url: '/api/reconcile/no-such-batch/progress', headers: reader })).statusCode).toBe(404);
    expect((await stack.app.inject({ method: 'GET', url: '/api/reconcile/bad%20id/errors', headers: reader })).statusCode).toBe(400);
    await finished(body.batchId);
  }, 60_000);
});
