import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoBulkWriteError, MongoNetworkError, type Collection, type Db, type Document } from 'mongodb';
import { createReconcileActivities, type ReconcileSettings } from '../../../activities/reconcile/activities';
import { createReconcileStore, type ErrorDoc } from '../../../activities/reconcile/store';
import { Collections } from '../../../infra/mongo';
import { resolveReconcileOptions, type ReconcileCounters, type ReconcileInput } from '../../../shared/reconcile';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Repairs that lose nothing (issue 12, item 14): a replacement the target refuses, or a lost
// connection between the delete and the insert, leaves the record there (old or new version)
// or its copy in reconcile_undo with the staged repair, and a re-run finishes the repair.
// The partition activity runs in process (no Temporal), so each failure is injected exactly.

type Wrap = NonNullable<ReconcileSettings['repairTarget']>;

/** The target as the repair sees it, with insertMany replaced. */
const withInsert = (target: Collection<Document>, insertMany: (docs: Document[]) => Promise<unknown>): Collection<Document> =>
  new Proxy(target, { get: (t, prop, recv) => (prop === 'insertMany' ? insertMany : Reflect.get(t, prop, recv)) });

describe('reconcile repair safety', () => {
  const stack = useStack();
  let data: Db;

  beforeAll(async () => {
    data = stack.deps.mongo.client.db(uniqueId('rcrep').replace(/-/g, '_'));
  });
  afterAll(async () => {
    await data?.dropDatabase().catch(() => undefined);
  });

  const store = () => createReconcileStore(stack.deps.mongo.db);

  /** Registers a batch and runs its partitions in process; a failed partition answers its error. */
  async function run(source: string, target: string, repairTarget?: Wrap, batchId = uniqueId('rr')) {
    const options = resolveReconcileOptions({ chunkSize: 100, extras: 'flag', retryAttempts: 1, retryDelay: 5, partitions: 1 });
    const ns = (collection: string) => ({ db: data.databaseName, collection });
    const input: ReconcileInput = {
      batchId,
      correlationId: `corr-${batchId}`,
      source: { kind: 'namespace', ...ns(source) },
      target: ns(target),
      options,
      startedAt: new Date().toISOString(),
    };
    await store().createBatch({
      _id: batchId,
      correlationId: input.correlationId,
      workflowId: `reconcile:${batchId}`,
      state: 'pending',
      source: input.source,
      target: input.target,
      options,
      specHash: batchId,
      createdAt: new Date(),
    });
    const acts = createReconcileActivities(stack.deps, { workerId: 'rr', repairTarget });
    const plan = await acts.planReconcile(input);
    expect(plan.partitions).toHaveLength(1);
    const go = async () => {
      try {
        return {
          counters: (await acts.reconcilePartition({ input, partition: plan.partitions[0]!, resume: null })).checkpoint.counters,
          error: undefined,
        };
      } catch (error) {
        return { counters: undefined as ReconcileCounters | undefined, error: error as Error };
      }
    };
    return { batchId, first: await go(), again: go };
  }

  const errorsOf = (batchId: string) => stack.deps.mongo.db.collection<ErrorDoc>(Collections.reconcileErrors).find({ batchId }).toArray();
  const undoOf = (batchId: string) => stack.deps.mongo.db.collection(Collections.reconcileUndo).find({ batchId }).toArray();
  const pendingOf = (batchId: string) => stack.deps.mongo.db.collection(Collections.reconcilePending).countDocuments({ batchId });

  /** 30 records; k03, k13 and k23 are stale in the target, k05 is missing from it. */
  async function seed(name: string) {
    const src = data.collection<Record<string, unknown> & { _id: string }>(`${name}_src`);
    const tgt = data.collection<Record<string, unknown> & { _id: string }>(`${name}_tgt`);
    const docs = Array.from({ length: 30 }, (_, i) => ({ _id: `k${String(i).padStart(2, '0')}`, code: `c${i}`, v: i, note: 'new' }));
    await src.insertMany(docs);
    await tgt.insertMany(
      docs.filter((d) => d._id !== 'k05').map((d) => (d._id.endsWith('3') ? { ...d, v: -1, note: 'old', _sync: { keep: true } } : d)),
    );
    return { src, tgt, source: src.collectionName, target: tgt.collectionName };
  }

  it('a replacement the server refuses (not a duplicate key): the previous record is put back, the failure is reported, a re-run repairs it', async () => {
    const s = await seed('refuse');
    const refuseK13: Wrap = (target) =>
      withInsert(target, async (docs) => {
        const at = docs.findIndex((d) => d._id === 'k13' && d.note === 'new');
        if (at < 0) return target.insertMany(docs, { ordered: true });
        if (at > 0) await target.insertMany(docs.slice(0, at), { ordered: true });
        throw new MongoBulkWriteError(
          {
            message: 'Document failed validation',
            code: 121,
            writeErrors: [{ index: at, code: 121, errmsg: 'Document failed validation' }],
          } as never,
          { insertedCount: at } as never,
        );
      });
    const r = await run(s.source, s.target, refuseK13);
    expect(r.first.error).toBeUndefined();
    expect(r.first.counters).toMatchObject({ processed: 30, mismatched: 3, missing: 1, repaired: 3, failed: 1, conflicts: 0 });
    // The refused record is still there, as it was (its own metadata too); the others are repaired.
    expect(await s.tgt.findOne({ _id: 'k13' })).toEqual({ _id: 'k13', code: 'c13', v: -1, note: 'old', _sync: { keep: true } });
    expect(await s.tgt.findOne({ _id: 'k03' })).toMatchObject({ v: 3, note: 'new' });
    expect(await s.tgt.findOne({ _id: 'k05' })).toMatchObject({ v: 5 });
    expect(await s.tgt.countDocuments()).toBe(30);
    const failed = (await errorsOf(r.batchId)).filter((e) => e.action === 'failed');
    expect(failed).toEqual([
      expect.objectContaining({ key: 'k13', outcome: 'mismatched', message: expect.stringContaining('previous record was kept') }),
    ]);
    expect(await undoOf(r.batchId)).toEqual([]);
    const flush = await stack.deps.mongo.db.collection(Collections.reconcileChunks).findOne({ batchId: r.batchId, kind: 'flush' });
    expect(flush?.delta).toMatchObject({ restored: 1, failed: 1 });

    const again = await run(s.source, s.target);
    expect(again.first.counters).toMatchObject({ mismatched: 1, repaired: 1, failed: 0 });
    expect(await s.tgt.findOne({ _id: 'k13' })).toEqual({ _id: 'k13', code: 'c13', v: 13, note: 'new' });
  });

  it('a replacement refused by a unique index of the target is a failure, not a conflict: the record is put back', async () => {
    const s = await seed('unique');
    await s.tgt.createIndex({ code: 1 }, { unique: true });
    // k23's new version takes a code another target record holds.
    await s.src.updateOne({ _id: 'k23' }, { $set: { code: 'c7' } });
    const r = await run(s.source, s.target);
    expect(r.first.error).toBeUndefined();
    expect(r.first.counters).toMatchObject({ mismatched: 3, repaired: 3, failed: 1, conflicts: 0 });
    expect(await s.tgt.findOne({ _id: 'k23' })).toMatchObject({ code: 'c23', v: -1, note: 'old' });
    const failed = (await errorsOf(r.batchId)).filter((e) => e.action === 'failed');
    expect(failed).toEqual([expect.objectContaining({ key: 'k23', message: expect.stringContaining('unique index') })]);
  });

  it('the connection lost between delete and insert: the staged repair and the copy survive, the partition fails, and its retry finishes the repair', async () => {
    const s = await seed('lost');
    let down = true;
    const lostInserts: Wrap = (target) =>
      withInsert(target, async (docs) => {
        if (down) throw new MongoNetworkError('connection 7 to 127.0.0.1:1 closed (injected)');
        return target.insertMany(docs, { ordered: true });
      });
    const r = await run(s.source, s.target, lostInserts);
    // The flush could neither insert nor restore: it does not record the records as failed and move on.
    expect(r.first.error?.message).toContain('closed (injected)');
    expect(await s.tgt.findOne({ _id: 'k03' })).toBeNull();
    const copies = await undoOf(r.batchId);
    expect(copies.map((c) => c.key).sort()).toEqual(['k03', 'k13', 'k23']);
    expect(copies.find((c) => c.key === 'k03')!.doc).toEqual({ _id: 'k03', code: 'c3', v: -1, note: 'old', _sync: { keep: true } });
    expect(await pendingOf(r.batchId)).toBe(4);
    expect(await stack.deps.mongo.db.collection(Collections.reconcileChunks).countDocuments({ batchId: r.batchId, kind: 'flush' })).toBe(0);

    // The retry (Temporal's next attempt, or another worker) resumes from the recorded chunk.
    down = false;
    const retry = await r.again();
    expect(retry.error).toBeUndefined();
    expect(retry.counters).toMatchObject({ processed: 30, mismatched: 3, missing: 1, repaired: 4, failed: 0, conflicts: 0 });
    for (const k of ['k03', 'k13', 'k23']) expect(await s.tgt.findOne({ _id: k })).toMatchObject({ note: 'new' });
    expect(await s.tgt.countDocuments()).toBe(30);
    expect(await undoOf(r.batchId)).toEqual([]);
    expect(await pendingOf(r.batchId)).toBe(0);
  });

  it('an insert that throws mid-flush puts back what it deleted before the retry', async () => {
    const s = await seed('throw');
    let throws = 1;
    const once: Wrap = (target) =>
      withInsert(target, async (docs) => {
        if (docs.some((d) => d.note === 'new') && throws-- > 0) throw new Error('insert refused (injected)');
        return target.insertMany(docs, { ordered: true });
      });
    const seen: Array<Document | null> = [];
    const watch: Wrap = (target, at) => {
      const inner = once(target, at);
      return withInsert(target, async (docs) => {
        try {
          return await inner.insertMany(docs);
        } finally {
          seen.push(await target.findOne({ _id: 'k13' } as Document));
        }
      });
    };
    const r = await run(s.source, s.target, watch);
    expect(r.first.error).toBeUndefined();
    expect(r.first.counters).toMatchObject({ mismatched: 3, repaired: 4, failed: 0 });
    // Right after the failed insert k13 was missing; the restore put it back before the retry.
    expect(seen[0]).toBeNull();
    expect(seen[1]).toMatchObject({ v: -1, note: 'old' });
    expect(await s.tgt.findOne({ _id: 'k13' })).toMatchObject({ v: 13, note: 'new' });
  });
});
