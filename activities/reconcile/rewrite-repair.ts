import { BSON, type Collection, type Db, type Document } from 'mongodb';
import { ReconcileOutcome } from '../../shared/reconcile';
import { collectionExists, createIndexSpecs, dropIfExists, FAITHFUL, listIndexSpecs, siblingName } from '../migrations/copy';
import type { Finding, RepairEntry } from './compare';
import { hashOf, keyId, keyOrThrow, viewOf } from './keys';
import type { RepairResult } from './repair';

// Repairs by rewriting the target (`repairMode: 'rewrite'`, hashed scans): on FerretDB every
// `_id` lookup, update and delete scans the table, so applying D repairs one by one or in `$in`
// batches costs D × N; a rewrite costs one natural-order read of each store plus N cheap inserts,
// whatever D. The target is streamed into a sibling collection with every record kept as stored
// except those the staged repairs change — each still guarded: a record that is no longer as it
// was compared is kept and listed as a conflict — and the sibling then replaces the target. Only
// for a target nothing else writes while it runs (as migrations' rewriteCollection): a write
// between the read and the swap would be lost. The sibling's name is journalled before the swap,
// so a retry after a kill finishes an interrupted swap and then re-checks every entry against
// the swapped target (already applied ones count as repaired).

/** Where the sibling's name is kept while it may be the only complete copy (the batch document). */
export interface RewriteJournal {
  get(): Promise<string | null>;
  set(name: string | null): Promise<void>;
}

export interface RewriteArgs {
  db: Db;
  target: Collection<Document>;
  source: Collection<Document>;
  entries: readonly RepairEntry[];
  journal: RewriteJournal;
  /** Documents per insert into the sibling. @default 2000 */
  batchSize?: number;
  onProgress?: (read: number) => void;
}

const outcomeOf = (e: RepairEntry) =>
  e.op === 'insert' ? ReconcileOutcome.missingInTarget : e.op === 'delete' ? ReconcileOutcome.extraInTarget : ReconcileOutcome.mismatched;

/** Renames `temp` over `target` (drop then rename: FerretDB has no atomic swap); a repeat is harmless. */
async function finishSwap(db: Db, temp: string, target: string): Promise<void> {
  if (!(await collectionExists(db, temp))) return;
  await dropIfExists(db.collection(target));
  await db.renameCollection(temp, target);
}

export async function repairByRewrite(a: RewriteArgs): Promise<RepairResult> {
  const r: RepairResult = { repaired: 0, conflicts: 0, failed: 0, inserted: 0, deleted: 0, restored: 0, alreadyApplied: 0, findings: [] };
  const targetName = a.target.collectionName;
  const interrupted = await a.journal.get();
  if (interrupted) {
    await finishSwap(a.db, interrupted, targetName);
    await a.journal.set(null);
  }
  const byId = new Map(a.entries.map((e) => [e.keyId, e]));
  const conflict = (e: RepairEntry, message: string) => {
    r.conflicts += 1;
    const f: Finding = { key: e.key, keyId: e.keyId, outcome: outcomeOf(e), action: 'conflict', message };
    r.findings.push(f);
  };

  // The source records the repairs write, as stored (types kept).
  const wanted = new Set(a.entries.filter((e) => e.op !== 'delete').map((e) => e.keyId));
  const sourceDocs = new Map<string, Document>();
  if (wanted.size)
    for await (const d of a.source.find({}, { ...FAITHFUL, batchSize: 2_000 })) {
      const id = keyId(keyOrThrow(d._id, 'source'));
      if (wanted.has(id)) sourceDocs.set(id, d);
    }

  const tempName = siblingName(targetName, 'repair');
  const temp = a.db.collection(tempName);
  const batchSize = a.batchSize ?? 2_000;
  let batch: Document[] = [];
  const flush = async () => {
    if (batch.length) await temp.insertMany(batch, { ordered: true });
    batch = [];
  };
  const seen = new Set<string>();
  let read = 0;
  try {
    await a.db.createCollection(tempName);
    await createIndexSpecs(temp, await listIndexSpecs(a.target));
    for await (const raw of a.target.find({}, { raw: true, batchSize: 2_000 })) {
      const bytes = raw as unknown as Uint8Array;
      const doc = BSON.deserialize(bytes, FAITHFUL);
      read += 1;
      const id = keyId(keyOrThrow(doc._id, 'target'));
      const e = byId.get(id);
      let write: Document | null = doc;
      if (e) {
        seen.add(id);
        const now = hashOf(viewOf(doc));
        const src = sourceDocs.get(id);
        if (e.op === 'delete') {
          if (now === e.observedHash) {
            write = null;
            r.deleted += 1;
            r.repaired += 1;
          } else conflict(e, 'the target record changed since it was compared');
        } else if (src && now === hashOf(viewOf(src))) {
          r.alreadyApplied += 1;
          r.repaired += 1;
        } else if (e.op === 'replace' && now === e.observedHash) {
          if (src) {
            write = src;
            r.deleted += 1;
            r.inserted += 1;
            r.repaired += 1;
          } else conflict(e, 'the source record was deleted since it was compared');
        } else {
          conflict(
            e,
            e.op === 'insert'
              ? 'someone else inserted the record since it was compared'
              : 'the target record changed since it was compared',
          );
        }
      }
      if (write) batch.push(write);
      if (batch.length >= batchSize) await flush();
      if (read % 10_000 === 0) a.onProgress?.(read);
    }
    // Missing records (and replacements whose old record is gone meanwhile): the source's.
    for (const e of a.entries) {
      if (e.op === 'delete') {
        if (!seen.has(e.keyId)) {
          r.alreadyApplied += 1;
          r.repaired += 1;
        }
        continue;
      }
      if (seen.has(e.keyId)) continue;
      const src = sourceDocs.get(e.keyId);
      if (!src) {
        conflict(e, 'the source record was deleted since it was compared');
        continue;
      }
      batch.push(src);
      r.inserted += 1;
      r.repaired += 1;
      if (batch.length >= batchSize) await flush();
    }
    await flush();
    await a.journal.set(tempName);
  } catch (err) {
    await dropIfExists(temp).catch(() => undefined);
    throw err;
  }
  await finishSwap(a.db, tempName, targetName);
  await a.journal.set(null);
  return r;
}
