import type { DryRunCollection, DryRunReport, VerifyOutcome } from '../../shared/migrations';
import { currentActivity } from '../activity-context';
import type { ActivityDeps } from '../deps';
import { EMPTY_SNAPSHOT } from './backup';
import type { MigrationContexts } from './context';
import { collectionExists, copyDocuments, createIndexSpecs, listIndexSpecs, sameSnapshot, snapshotCollection } from './copy';
import type { Migration } from './registry';

// The dry run runs `up` for real, against a scratch database holding copies of the declared
// collections (data and indexes), then `verify` there, and reports the difference. Live data is
// never a target, whatever the migration does; writes to undeclared collections show up too.

export interface RehearseDeps extends Pick<MigrationContexts, 'contextFor' | 'keepAlive' | 'logFor'> {
  deps: ActivityDeps;
  batchSize: number;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 1000);

export async function rehearse(r: RehearseDeps, m: Migration, scratchId: string): Promise<DryRunReport> {
  const { deps, batchSize, contextFor, keepAlive, logFor } = r;
  const db = deps.mongo.db;
  const started = Date.now();
  const a = currentActivity();
  const scratch = deps.mongo.client.db(`${db.databaseName}_dry_${scratchId}`.slice(0, 63));
  const stopBeat = keepAlive(() => undefined);
  await scratch.dropDatabase();
  try {
    const before = new Map<string, { snap: typeof EMPTY_SNAPSHOT; indexes: string[] }>();
    for (const c of m.collections) {
      if (!(await collectionExists(db, c))) {
        before.set(c, { snap: EMPTY_SNAPSHOT, indexes: [] });
        continue;
      }
      const indexes = await listIndexSpecs(db.collection(c));
      await scratch.createCollection(c);
      const copied = await copyDocuments(db.collection(c), scratch.collection(c), {
        batchSize,
        onBatch: () => a?.heartbeat(),
        ...(a ? { signal: a.cancellationSignal } : {}),
      });
      await createIndexSpecs(scratch.collection(c), indexes);
      before.set(c, { snap: { count: copied.count, checksum: copied.checksum }, indexes: indexes.map((i) => i.name) });
    }
    const { ctx, stop } = contextFor(m.name, 'dry-run', scratch, true);
    let verify: VerifyOutcome;
    let error: string | undefined;
    try {
      await m.up(ctx);
      verify = await m.verify(ctx);
    } catch (err) {
      error = messageOf(err);
      verify = { ok: false, message: `threw: ${error}` };
    } finally {
      stop();
    }
    const collections: DryRunCollection[] = [];
    for (const c of m.collections) {
      const b = before.get(c)!;
      const exists = await collectionExists(scratch, c);
      const after = exists ? await snapshotCollection(scratch.collection(c)) : EMPTY_SNAPSHOT;
      const idx = exists ? (await listIndexSpecs(scratch.collection(c))).map((i) => i.name) : [];
      collections.push({
        name: c,
        before: b.snap,
        after,
        changed: !sameSnapshot(b.snap, after),
        indexesAdded: idx.filter((i) => !b.indexes.includes(i)),
        indexesRemoved: b.indexes.filter((i) => !idx.includes(i)),
      });
    }
    const present = (await scratch.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    const undeclared = present.filter((n) => !m.collections.includes(n)).sort();
    logFor(m.name, 'dry-run').info({ verify: verify.ok, changes: ctx.changes.length, undeclared }, 'dry run finished');
    return { changes: ctx.changes, verify, collections, undeclared, ...(error ? { error } : {}), durationMs: Date.now() - started };
  } finally {
    stopBeat();
    await scratch.dropDatabase().catch(() => undefined);
  }
}
