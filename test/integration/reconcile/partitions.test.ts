import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from 'mongodb';
import { createReconcileActivities } from '../../../activities/reconcile/activities';
import { createReconcileStore } from '../../../activities/reconcile/store';
import { generatePair } from '../../../fixtures/reconcile-data';
import { resolveReconcileOptions, type ReconcileInput, type ReconcileOptions } from '../../../shared/reconcile';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// `partitions: 0` = auto, as the README says: one partition on FerretDB (every range query
// decodes the whole collection), a few per maxConcurrency on MongoDB; an explicit count is
// honoured on both. The plan activity runs in process against the stack's database.

const RECORDS = 2_000;

describe('reconcile partitions', () => {
  const stack = useStack();
  let data: Db;

  beforeAll(async () => {
    data = stack.deps.mongo.client.db(uniqueId('rcpart').replace(/-/g, '_'));
    await generatePair(data, { source: 'src', target: 'tgt' }, RECORDS, { missing: 0, mismatched: 0, extra: 0 });
  });
  afterAll(async () => {
    await data?.dropDatabase().catch(() => undefined);
  });

  async function plan(partial: Partial<ReconcileOptions>) {
    const batchId = uniqueId('rp');
    const options = resolveReconcileOptions(partial);
    const ns = (collection: string) => ({ db: data.databaseName, collection });
    const input: ReconcileInput = {
      batchId,
      correlationId: `corr-${batchId}`,
      source: { kind: 'namespace', ...ns('src') },
      target: ns('tgt'),
      options,
      startedAt: new Date().toISOString(),
    };
    const store = createReconcileStore(stack.deps.mongo.db);
    await store.createBatch({
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
    const p = await createReconcileActivities(stack.deps, { workerId: 'rp' }).planReconcile(input);
    expect((await store.getBatch(batchId))?.plan).toMatchObject({ partitions: p.partitions.length, backend: p.backend });
    return p;
  }

  it('auto: one partition on FerretDB, several on MongoDB', async () => {
    const p = await plan({ partitions: 0, chunkSize: 10, maxConcurrency: 4 });
    // On MongoDB: min(2 × maxConcurrency, ⌈records / (chunkSize × 50)⌉) = min(8, 4).
    expect(p.partitions).toHaveLength(p.backend === 'ferretdb' ? 1 : 4);
    expect(p.partitions[0]).toMatchObject({ index: 0, lo: null });
    expect(p.partitions.at(-1)).toMatchObject({ hi: null });
    if (process.env.MONGODB_URI === undefined) expect(p.backend).toBe('ferretdb');
  });

  it('an explicit count is honoured on FerretDB too: contiguous key ranges covering everything', async () => {
    const p = await plan({ partitions: 3, chunkSize: 10, maxConcurrency: 4 });
    expect(p.partitions).toHaveLength(3);
    expect(p.partitions.map((x) => x.index)).toEqual([0, 1, 2]);
    expect(p.partitions[0]!.lo).toBeNull();
    expect(p.partitions[2]!.hi).toBeNull();
    for (let i = 1; i < 3; i++) expect(p.partitions[i]!.lo).toEqual(p.partitions[i - 1]!.hi);
  });
});
