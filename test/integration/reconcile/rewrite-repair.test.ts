import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, Document } from 'mongodb';
import type { RepairEntry } from '../../../activities/reconcile/compare';
import { hashOf, keyId, viewOf } from '../../../activities/reconcile/keys';
import { repairByRewrite, type RewriteJournal } from '../../../activities/reconcile/rewrite-repair';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// A repair by rewrite killed between dropping the target and renaming its finished sibling
// (FerretDB has no atomic swap): the journalled sibling is the only complete copy. The retry
// finishes the swap, re-checks every repair against it and counts them as already applied.

describe('repair by rewrite: an interrupted swap', () => {
  const stack = useStack();
  let data: Db;
  beforeAll(() => {
    data = stack.deps.mongo.client.db(uniqueId('rcrw').replace(/-/g, '_'));
  });
  afterAll(async () => {
    await data?.dropDatabase().catch(() => undefined);
  });

  it('finishes the swap from the journal and counts every repair once, as already applied', async () => {
    const source = data.collection('src');
    const before: Document[] = [
      { _id: 'a', v: 'old' },
      { _id: 'b', v: 'extra' },
      { _id: 'k', v: 'kept' },
    ];
    const after: Document[] = [
      { _id: 'a', v: 'new' },
      { _id: 'c', v: 'missing' },
      { _id: 'k', v: 'kept' },
    ];
    await source.insertMany(after.map((d) => ({ ...d })) as never);
    // The sibling the killed attempt finished; the target it had already dropped.
    const sibling = 'tgt__repair_dead0001';
    await data.collection(sibling).insertMany(after.map((d) => ({ ...d })) as never);
    const entries: RepairEntry[] = [
      {
        key: 'a',
        keyId: keyId('a'),
        op: 'replace',
        observedHash: hashOf(viewOf(before[0]!)),
        sourceHash: hashOf(viewOf(after[0]!)),
        redo: true,
      },
      { key: 'b', keyId: keyId('b'), op: 'delete', observedHash: hashOf(viewOf(before[1]!)), redo: true },
      { key: 'c', keyId: keyId('c'), op: 'insert', sourceHash: hashOf(viewOf(after[1]!)), redo: true },
    ];
    let journalled: string | null = sibling;
    const journal: RewriteJournal = { get: async () => journalled, set: async (n) => void (journalled = n) };

    const r = await repairByRewrite({ db: data, target: data.collection('tgt'), source, entries, journal });
    expect(r).toMatchObject({ repaired: 3, alreadyApplied: 3, conflicts: 0, inserted: 0, deleted: 0, failed: 0 });
    expect(journalled).toBeNull();
    expect(await data.collection('tgt').find({}).sort({ _id: 1 }).toArray()).toEqual(after);
    const names = (await data.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
    expect(names).toEqual(['src', 'tgt']);
  });
});
