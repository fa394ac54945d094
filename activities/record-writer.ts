import { createHash } from 'node:crypto';
import { MongoBulkWriteError, MongoServerError, type AnyBulkWriteOperation, type Collection, type Document } from 'mongodb';
import stringify from 'safe-stable-stringify';
import type { SourceRecord } from './sources/types';

// Idempotent, version-guarded writes of source records into a tenant collection.
//
// Shaped by FerretDB (DESIGN.md): inserts are cheap, updates are not (each one scans), and an
// update command of 100+ statements hangs on v1.24 — so records known to be absent are
// inserted in one command, changed ones are replaced in batches of at most 50, and unchanged
// ones are not written at all. On MongoDB the same plan is index lookups throughout.

export interface SyncMeta {
  version?: number | string;
  updatedAt?: string;
  hash: string;
  syncedAt: Date;
  runId: string;
}

export interface WriteCounts {
  written: number;
  unchanged: number;
  rejected: number;
  /** An insert met an existing record: another writer is active, stop assuming absence. */
  collided?: boolean;
}

export interface WriteOptions {
  /** The caller knows the collection was empty when the run began: skip the version read. */
  assumeAbsent?: boolean;
}

const DUPLICATE_KEY = 11000;
export const REPLACE_BATCH = 50;

/** Stable content hash of a record's fields (key order does not matter). */
export function contentHash(data: unknown): string {
  return createHash('sha256').update(stringify(data) ?? '').digest('base64url').slice(0, 22);
}

/** Field names MongoDB/FerretDB would refuse or misread: the record is rejected, not written. */
function hasUnsafeKeys(data: Record<string, unknown>): boolean {
  return Object.keys(data).some((k) => k.startsWith('$') || k.includes('.') || k === '_id' || k === '_sync' || k.includes('\0'));
}

interface Prepared {
  id: string;
  meta: SyncMeta;
  doc: Document;
  record: SourceRecord;
}

const recordsOf = (ps: readonly Prepared[]) => ps.map((p) => p.record);

/** Is `incoming` newer than what is stored? Without versions, any content change counts. */
export function isNewer(incoming: SyncMeta, stored: Partial<SyncMeta> | undefined): boolean {
  if (!stored) return true;
  if (incoming.version !== undefined && stored.version !== undefined) return incoming.version > stored.version;
  if (incoming.version !== undefined) return true;
  return incoming.hash !== stored.hash;
}

/** Replace only when the stored version is older (or absent); a newer stored one collides on _id. */
function guardFilter(p: Prepared): Document {
  if (p.meta.version !== undefined) return { _id: p.id, $or: [{ '_sync.version': { $lt: p.meta.version } }, { '_sync.version': { $exists: false } }] };
  return { _id: p.id, '_sync.hash': { $ne: p.meta.hash } };
}

function firstDuplicateIndex(err: unknown): number | undefined {
  if (err instanceof MongoBulkWriteError) {
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    const first = errors.reduce((min, e) => (e.index < min.index ? e : min), errors[0]!);
    return first.code === DUPLICATE_KEY ? first.index : undefined;
  }
  if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) return 0;
  return undefined;
}

/** Runs `ops` in order; a duplicate-key collision at i means ops before i applied: count it, go on after it. */
async function orderedWithCollisions(run: (from: number) => Promise<unknown>, length: number, onCollision: (index: number) => void): Promise<number> {
  let applied = 0;
  let i = 0;
  while (i < length) {
    try {
      await run(i);
      applied += length - i;
      break;
    } catch (err) {
      const at = firstDuplicateIndex(err);
      if (at === undefined) throw err;
      applied += at;
      onCollision(i + at);
      i += at + 1;
    }
  }
  return applied;
}

export async function writeRecords(col: Collection<Document>, records: readonly SourceRecord[], runId: string, o: WriteOptions = {}): Promise<WriteCounts> {
  const counts: WriteCounts = { written: 0, unchanged: 0, rejected: 0 };
  const syncedAt = new Date();
  const prepared: Prepared[] = [];
  for (const r of records) {
    if (hasUnsafeKeys(r.data)) {
      counts.rejected += 1;
      continue;
    }
    const meta: SyncMeta = { hash: contentHash(r.data), syncedAt, runId };
    const version = r.version ?? r.updatedAt;
    if (version !== undefined) meta.version = version;
    if (r.updatedAt) meta.updatedAt = r.updatedAt;
    prepared.push({ id: r.id, meta, doc: { _id: r.id, ...r.data, _sync: meta }, record: r });
  }
  if (prepared.length === 0) return counts;

  const stored = new Map<string, Partial<SyncMeta>>();
  if (!o.assumeAbsent) {
    const found = await col.find({ _id: { $in: prepared.map((p) => p.id) } } as Document, { projection: { '_sync.version': 1, '_sync.hash': 1 } }).toArray();
    for (const d of found) stored.set(String(d._id), (d._sync ?? {}) as Partial<SyncMeta>);
  }
  const toInsert = prepared.filter((p) => !stored.has(p.id));
  const toReplace: Prepared[] = [];
  for (const p of prepared) {
    if (!stored.has(p.id)) continue;
    if (isNewer(p.meta, stored.get(p.id))) toReplace.push(p);
    else counts.unchanged += 1;
  }

  // A racing writer may have inserted first: everything from the collision on is re-planned
  // against the stored versions (one read) instead of colliding record by record.
  try {
    if (toInsert.length > 0) await col.insertMany(toInsert.map((p) => p.doc), { ordered: true });
    counts.written += toInsert.length;
  } catch (err) {
    const at = firstDuplicateIndex(err);
    if (at === undefined) throw err;
    counts.written += at;
    const rest = await writeRecords(col, recordsOf(toInsert.slice(at)), runId, { assumeAbsent: false });
    counts.written += rest.written;
    counts.unchanged += rest.unchanged;
    counts.collided = true;
  }

  for (let b = 0; b < toReplace.length; b += REPLACE_BATCH) {
    const batch = toReplace.slice(b, b + REPLACE_BATCH);
    const ops = batch.map((p): AnyBulkWriteOperation<Document> => {
      const { _id, ...replacement } = p.doc;
      return { replaceOne: { filter: guardFilter(p), replacement, upsert: true } };
    });
    // Ordered on purpose: FerretDB stops at the first error whatever `ordered` says.
    counts.written += await orderedWithCollisions((from) => col.bulkWrite(ops.slice(from), { ordered: true }), ops.length, () => (counts.unchanged += 1));
  }
  return counts;
}
