import { createHash } from 'node:crypto';
import { BSON, MongoBulkWriteError, MongoServerError, type AnyBulkWriteOperation, type Collection, type Document } from 'mongodb';
import stringify from 'safe-stable-stringify';
import { keyText, recordHash } from './hash';
import { planWrite } from './version';
import { unsafeField } from './fields';
import type { SourceRecord } from '../sources/types';

// Idempotent, version-guarded writes of source records into a tenant collection. The stored
// copy is the record itself (`_id` and every field as the source holds them); `_sync` beside it.
//
// Shaped by FerretDB (DESIGN.md): inserts are cheap, updates are not (each one scans), and an
// update command of 100+ statements hangs on v1.24 — so records known to be absent are
// inserted in one command, changed ones are replaced in batches of at most 50, and unchanged
// ones are not written at all. Stored versions are read once per page ($in) and compared in JS
// (record-version.ts); each replace is guarded by the exact `_sync` stamp read and read back, so
// a writer that raced in between makes the record be planned again, never overwritten blind.

export interface SyncMeta {
  /** The version this write is ordered by: the record's own, else its updatedAt (as received). */
  version?: unknown;
  hash: string;
  /** When the page holding the record was read: orders writes the versions cannot. */
  readAt: Date;
  syncedAt: Date;
  runId: string;
}

/** A record that was not written, and why; it stays retriable (tenant-sync.ts). */
export interface RejectedRecord {
  key: unknown;
  reason: string;
  updatedAt?: string;
}

export interface WriteCounts {
  written: number;
  unchanged: number;
  rejected: number;
  /** Written or unchanged records whose versions could not order the write (record-version.ts). */
  conflicts: number;
  rejectedRecords: RejectedRecord[];
  /** An insert met an existing record: another writer is active, stop assuming absence. */
  collided?: boolean;
  /** The page's records at its newest updatedAt (at most BOUNDARY_MAX + 1). */
  newest?: Boundary;
}

/**
 * The records a sync saw at its watermark, by key text and content hash. An incremental read
 * asks for changes at or after the watermark, so the next sync reads these again: when one comes
 * back with the same hash, the target already holds it (that sync wrote it or found it there)
 * and it counts as unchanged without a read of the target (on FerretDB a point read scans the
 * collection). A record changed since, or any other record, goes the usual way.
 */
export interface Boundary {
  at: string;
  /** Key text and content hash of each (objects, not pairs: FerretDB stores no nested arrays). */
  keys: Array<{ k: string; h: string }>;
}

/** More records than this at one updatedAt: no boundary is kept (each is read as before). */
export const BOUNDARY_MAX = 64;

export interface WriteOptions {
  /** The caller knows the collection was empty when the run began: skip the version read. */
  assumeAbsent?: boolean;
  /** When the records' page was read. @default now */
  readAt?: Date;
  /** The previous sync's boundary (see Boundary): its unchanged records are not read again. */
  known?: Boundary;
}

const DUPLICATE_KEY = 11000;
/**
 * The server refused one document as it is (BadValue — FerretDB: nested arrays —, too large,
 * bad field names): that record is rejected, the others are written.
 */
const REFUSED = new Set([2, 52, 53, 56, 57, 10334, 17419, 17280]);
/** BSON's document limit; the driver refuses a larger one before sending it. */
const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;
export const REPLACE_BATCH = 50;
/** Plan-and-write rounds against racing writers before a record is left as it is (a conflict). */
const MAX_ROUNDS = 5;

/** Stable content hash of plain JSON-like data (key order does not matter). */
export function contentHash(data: unknown): string {
  return createHash('sha256')
    .update(stringify(data) ?? '')
    .digest('base64url')
    .slice(0, 22);
}

interface Prepared {
  key: unknown;
  text: string;
  updatedAt?: string;
  meta: SyncMeta;
  doc: Document;
  conflict: boolean;
}

/** What a page's read learned of one stored record. */
interface Stored {
  version?: unknown;
  hash?: string;
  readAt?: Date;
  syncedAt?: Date;
  runId?: string;
  hasSync: boolean;
}

/** Up to this many keys are read by `_id` point reads: on FerretDB an `$in` scans the whole collection. */
const POINT_READS_MAX = 8;

async function readStored(col: Collection<Document>, ps: readonly Prepared[]): Promise<Map<string, Stored>> {
  const projection = { _sync: 1, version: 1 };
  const found =
    ps.length <= POINT_READS_MAX
      ? ((await Promise.all(ps.map((p) => col.findOne({ _id: p.key } as Document, { projection })))).filter(
          (d) => d !== null,
        ) as Document[])
      : await col.find({ _id: { $in: ps.map((p) => p.key) } } as Document, { projection }).toArray();
  const out = new Map<string, Stored>();
  for (const d of found) {
    const s = d._sync as Partial<SyncMeta> | undefined;
    const date = (v: unknown) => (v instanceof Date ? v : undefined);
    out.set(keyText(d._id), {
      version: s ? s.version : d.version,
      hash: typeof s?.hash === 'string' ? s.hash : undefined,
      readAt: date(s?.readAt),
      syncedAt: date(s?.syncedAt),
      runId: typeof s?.runId === 'string' ? s.runId : undefined,
      hasSync: s !== undefined && s !== null,
    });
  }
  return out;
}

/** Replace only the copy that was read: same `_sync` stamp (or still none). */
function guardOf(key: unknown, s: Stored): Document {
  if (!s.hasSync) return { _id: key, _sync: { $exists: false } };
  return { _id: key, '_sync.hash': s.hash ?? { $exists: false }, '_sync.syncedAt': s.syncedAt ?? { $exists: false } };
}

const isOurs = (s: Stored | undefined, m: SyncMeta) =>
  s?.hash === m.hash && s.syncedAt?.getTime() === m.syncedAt.getTime() && s.runId === m.runId;

/** The first failed document of an ordered write; undefined for a failure of the whole command. */
function firstWriteError(err: unknown): { index: number; code: number; message: string } | undefined {
  if (err instanceof MongoBulkWriteError) {
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    if (errors.length === 0) return undefined;
    const first = errors.reduce((min, e) => (e.index < min.index ? e : min), errors[0]!);
    return { index: first.index, code: first.code, message: first.errmsg ?? '' };
  }
  if (err instanceof MongoServerError && typeof err.code === 'number' && (err.code === DUPLICATE_KEY || REFUSED.has(err.code)))
    return { index: 0, code: err.code, message: err.message };
  return undefined;
}

/** Why the server refused a document, without echoing its content (the message quotes it). */
function refusalReason(code: number, message: string): string {
  const why = /\(([^()]{1,80})\)\s*$/.exec(message)?.[1];
  return `the database refused the record (code ${code}${why ? `: ${why}` : ''})`;
}

export async function writeRecords(
  col: Collection<Document>,
  records: readonly SourceRecord[],
  runId: string,
  o: WriteOptions = {},
): Promise<WriteCounts> {
  const counts: WriteCounts = { written: 0, unchanged: 0, rejected: 0, conflicts: 0, rejectedRecords: [] };
  const syncedAt = new Date();
  const readAt = o.readAt ?? syncedAt;
  const prepared: Prepared[] = [];
  const known = o.known && { at: o.known.at, hashes: new Map(o.known.keys.map((e) => [e.k, e.h])) };
  const newest: Boundary = { at: '', keys: [] };
  const reject = (r: SourceRecord, reason: string) => {
    counts.rejected += 1;
    counts.rejectedRecords.push({ key: r.id, reason, ...(r.updatedAt ? { updatedAt: r.updatedAt } : {}) });
  };
  for (const r of records) {
    const reason = unsafeField(r.data);
    if (reason) {
      reject(r, reason);
      continue;
    }
    const meta: SyncMeta = { hash: recordHash(r.data), readAt, syncedAt, runId };
    const version = r.version ?? r.updatedAt;
    if (version !== undefined) meta.version = version;
    const doc = { _id: r.id, ...r.data, _sync: meta };
    if (BSON.calculateObjectSize(doc) > MAX_DOCUMENT_BYTES) {
      reject(r, 'the record is larger than the 16 MiB a document may hold');
      continue;
    }
    const text = keyText(r.id);
    if (r.updatedAt !== undefined) {
      if (r.updatedAt > newest.at) Object.assign(newest, { at: r.updatedAt, keys: [] });
      if (r.updatedAt === newest.at && newest.keys.length <= BOUNDARY_MAX) newest.keys.push({ k: text, h: meta.hash });
    }
    if (known && r.updatedAt === known.at && known.hashes.get(text) === meta.hash) {
      counts.unchanged += 1;
      continue;
    }
    prepared.push({ key: r.id, text, ...(r.updatedAt ? { updatedAt: r.updatedAt } : {}), meta, doc, conflict: false });
  }
  await writeRound(col, prepared, counts, o.assumeAbsent ?? false, 0);
  if (newest.at) counts.newest = newest;
  return counts;
}

/** Plans each record against what is stored, writes, and plans again those a racing writer touched. */
async function writeRound(
  col: Collection<Document>,
  ps: Prepared[],
  counts: WriteCounts,
  assumeAbsent: boolean,
  round: number,
): Promise<void> {
  if (ps.length === 0) return;
  const settle = (p: Prepared, outcome: 'written' | 'unchanged') => {
    counts[outcome] += 1;
    if (p.conflict) counts.conflicts += 1;
  };
  if (round >= MAX_ROUNDS) {
    // Another writer keeps winning the race: its copy stays, and the loss is counted.
    for (const p of ps) settle(Object.assign(p, { conflict: true }), 'unchanged');
    return;
  }
  const stored = assumeAbsent ? new Map<string, Stored>() : await readStored(col, ps);
  const inserts: Prepared[] = [];
  const replaces: Array<{ p: Prepared; filter: Document }> = [];
  for (const p of ps) {
    const s = stored.get(p.text);
    const plan = planWrite(p.meta, s);
    if (plan.conflict) p.conflict = true;
    if (plan.op === 'insert') inserts.push(p);
    else if (plan.op === 'replace') replaces.push({ p, filter: guardOf(p.key, s!) });
    else settle(p, 'unchanged');
  }

  const again: Prepared[] = [];
  const reject = (p: Prepared, reason: string) => {
    counts.rejected += 1;
    counts.rejectedRecords.push({ key: p.key, reason, ...(p.updatedAt ? { updatedAt: p.updatedAt } : {}) });
  };
  for (let rest = inserts; rest.length > 0;) {
    try {
      await col.insertMany(
        rest.map((p) => p.doc),
        { ordered: true },
      );
      for (const p of rest) settle(p, 'written');
      break;
    } catch (err) {
      // The inserts before the failed one applied. A racing writer inserted first: the rest are
      // planned again. The server refused this one document: it is rejected, the rest go on.
      const e = firstWriteError(err);
      if (!e || (e.code !== DUPLICATE_KEY && !REFUSED.has(e.code))) throw err;
      for (const p of rest.slice(0, e.index)) settle(p, 'written');
      if (e.code === DUPLICATE_KEY) {
        again.push(...rest.slice(e.index));
        counts.collided = true;
        break;
      }
      reject(rest[e.index]!, refusalReason(e.code, e.message));
      rest = rest.slice(e.index + 1);
    }
  }

  for (let b = 0; b < replaces.length; b += REPLACE_BATCH) {
    const batch = replaces.slice(b, b + REPLACE_BATCH);
    const ops = batch.map(({ p, filter }): AnyBulkWriteOperation<Document> => {
      const { _id, ...replacement } = p.doc;
      return { replaceOne: { filter, replacement } };
    });
    let refused: number | undefined;
    try {
      // Ordered on purpose: FerretDB stops at the first error whatever `ordered` says.
      await col.bulkWrite(ops, { ordered: true });
    } catch (err) {
      const e = firstWriteError(err);
      if (!e || !REFUSED.has(e.code)) throw err;
      refused = e.index;
      reject(batch[e.index]!.p, refusalReason(e.code, e.message));
    }
    // Read back: what holds our stamp is written; the others are planned again — a guard missed
    // (someone wrote or deleted the record since it was read) or, on FerretDB, whose update
    // filters and then writes by _id (no atomic compare-and-swap), a racing writer landed after us.
    const now = await readStored(
      col,
      batch.map((x) => x.p),
    );
    batch.forEach(({ p }, i) => {
      if (i === refused) return;
      if (isOurs(now.get(p.text), p.meta)) settle(p, 'written');
      else again.push(p);
    });
  }
  await writeRound(col, again, counts, false, round + 1);
}
