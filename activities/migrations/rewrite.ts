import { BSON, type Document } from 'mongodb';
import { createIndexSpecs, dropIfExists, FAITHFUL, listIndexSpecs, quickCount, siblingName, swapInto } from './copy';
import type { MigrationContext } from './registry';

// The helper for migrations that change many documents. On FerretDB every update scans the
// collection (300 updates on 50k documents ≈ 80 s; updateMany is the same per document) and
// deleteMany({}) fails beyond ~32k documents: a rewrite is one scan plus cheap inserts.

export interface RewriteCounts {
  read: number;
  changed: number;
  removed: number;
}

/**
 * For migrations that change many documents: streams `name` through `transform` into a new
 * collection (insertMany batches, indexes copied) and swaps it in — linear, where per-document
 * updates on FerretDB scan the collection once each. `transform` returns the new document,
 * `undefined` to keep it as stored, or `null` to drop it. Needs the collection quiescent.
 */
export async function rewriteCollection(
  ctx: MigrationContext,
  name: string,
  transform: (doc: Document) => Document | null | undefined | Promise<Document | null | undefined>,
): Promise<RewriteCounts> {
  const src = ctx.db.collection(name);
  const tempName = siblingName(name, 'rewrite');
  const temp = ctx.db.collection(tempName);
  const total = await quickCount(src);
  const counts: RewriteCounts = { read: 0, changed: 0, removed: 0 };
  let batch: Document[] = [];
  const flush = async () => {
    if (batch.length > 0) await temp.insertMany(batch, { ordered: true });
    batch = [];
    ctx.progress(counts.read, total, name);
  };
  try {
    await ctx.db.createCollection(tempName);
    await createIndexSpecs(temp, await listIndexSpecs(src));
    const cursor = src.find({}, { sort: { _id: 1 }, batchSize: ctx.batchSize, raw: true });
    for await (const raw of cursor) {
      ctx.signal.throwIfAborted();
      const bytes = raw as unknown as Uint8Array;
      counts.read += 1;
      const next = await transform(BSON.deserialize(bytes));
      if (next === null) counts.removed += 1;
      else if (next === undefined) batch.push(BSON.deserialize(bytes, FAITHFUL));
      else {
        counts.changed += 1;
        batch.push(next);
      }
      if (batch.length >= ctx.batchSize) await flush();
    }
    await flush();
    await swapInto(ctx.db, tempName, name);
  } catch (err) {
    await dropIfExists(temp).catch(() => undefined);
    throw err;
  }
  return counts;
}
