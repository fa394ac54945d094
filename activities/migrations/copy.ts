import { createHash, randomBytes } from 'node:crypto';
import { BSON, MongoBulkWriteError, MongoServerError, type Collection, type Db, type Document, type Filter } from 'mongodb';
import type { CollectionSnapshot } from '../../shared/migrations';

// Streaming copies, checksums and index specs for backups, restores and dry runs.
//
// Shaped by FerretDB (DESIGN.md): one long-lived `_id`-ordered cursor per collection (a range
// query per batch would be quadratic), insertMany batches (cheap), never update-many-documents
// (each update scans the collection), drop instead of deleteMany({}) (which fails beyond ~32k
// documents with "too many SQL variables"), and drop + rename to swap (no dropTarget).

/** Keep every BSON type as stored (1.0 stays a double, regexes keep their flags). */
export const FAITHFUL = { promoteValues: false, promoteBuffers: false, bsonRegExp: true } as const;
const MASK = (1n << 128n) - 1n;
const NAMESPACE_NOT_FOUND = 26;

/**
 * Order-independent checksum: the sum (mod 2^128) of the first 128 bits of SHA-256 over each
 * document's stored BSON bytes. Any field, type or field-order change shows; a sum (unlike XOR)
 * also catches a document counted twice. Resumable: the running sum is part of a checkpoint.
 */
export class ChecksumAccumulator {
  private sum: bigint;
  count: number;
  constructor(from?: CollectionSnapshot) {
    this.sum = from ? BigInt(`0x${from.checksum}`) : 0n;
    this.count = from?.count ?? 0;
  }
  add(bson: Uint8Array): void {
    const h = createHash('sha256').update(bson).digest();
    this.sum = (this.sum + ((h.readBigUInt64BE(0) << 64n) | h.readBigUInt64BE(8))) & MASK;
    this.count += 1;
  }
  snapshot(): CollectionSnapshot {
    return { count: this.count, checksum: this.sum.toString(16).padStart(32, '0') };
  }
}

export const sameSnapshot = (a: CollectionSnapshot, b: CollectionSnapshot) => a.count === b.count && a.checksum === b.checksum;

export async function collectionExists(db: Db, name: string): Promise<boolean> {
  return (await db.listCollections({ name }, { nameOnly: true }).toArray()).length > 0;
}

export async function dropIfExists(col: Collection<Document>): Promise<void> {
  try {
    await col.drop();
  } catch (err) {
    if (!(err instanceof MongoServerError && (err.code === NAMESPACE_NOT_FOUND || /not found/i.test(err.message)))) throw err;
  }
}

/** Document count from collection metadata ($collStats: milliseconds on FerretDB, where a count scans). */
export async function quickCount(col: Collection<Document>): Promise<number | undefined> {
  try {
    const [s] = await col.aggregate<{ count?: number }>([{ $collStats: { count: {} } }]).toArray();
    return typeof s?.count === 'number' ? s.count : undefined;
  } catch {
    return undefined;
  }
}

/** Count + checksum of a whole collection: one scan in natural order (the checksum ignores order). */
export async function snapshotCollection(col: Collection<Document>, signal?: AbortSignal): Promise<CollectionSnapshot> {
  const acc = new ChecksumAccumulator();
  for await (const raw of col.find({}, { raw: true, batchSize: 1000 })) {
    signal?.throwIfAborted();
    acc.add(raw as unknown as Uint8Array);
  }
  return acc.snapshot();
}

export interface IndexSpec {
  name: string;
  key: Document;
  options: Document;
}

/** Secondary indexes with their options (the `_id` index always exists). */
export async function listIndexSpecs(col: Collection<Document>): Promise<IndexSpec[]> {
  let indexes: Document[];
  try {
    indexes = await col.listIndexes().toArray();
  } catch (err) {
    if (err instanceof MongoServerError && err.code === NAMESPACE_NOT_FOUND) return [];
    throw err;
  }
  return indexes
    .filter((i) => i.name !== '_id_')
    .map(({ v: _v, key, name, ns: _ns, ...options }) => ({ name: String(name), key: key as Document, options }));
}

export async function createIndexSpecs(col: Collection<Document>, specs: readonly IndexSpec[]): Promise<void> {
  for (const s of specs) await col.createIndex(s.key as never, { ...s.options, name: s.name });
}

/** Where a copy stands; travels as heartbeat details, so the `_id` is canonical EJSON. */
export interface CopyCheckpoint extends CollectionSnapshot {
  /** Canonical EJSON of the last copied `_id`. */
  lastId?: unknown;
  batches: number;
  /** `_id`s of different BSON type brackets: a `$gt` resume would skip some, so a retry restarts. */
  mixedIds?: boolean;
  idType?: string;
}

export interface CopyOptions {
  batchSize: number;
  /** Resume after this checkpoint (from the previous attempt's heartbeat). */
  from?: CopyCheckpoint;
  /** After each batch is written: heartbeat the checkpoint here. */
  onBatch?: (cp: CopyCheckpoint) => Promise<void> | void;
  signal?: AbortSignal;
}

export interface CopyResult extends CopyCheckpoint {
  /** Documents of this attempt already in the target (written after the last checkpoint that reached the server). */
  duplicates: number;
  resumedFrom?: number;
}

/** `$type` alias per `_id` bracket, for the resume filter. */
const BRACKET_TYPE: Record<string, string> = {
  number: 'number',
  string: 'string',
  ObjectId: 'objectId',
  date: 'date',
  boolean: 'bool',
  Binary: 'binData',
  object: 'object',
  Timestamp: 'timestamp',
  null: 'null',
};

function idBracket(id: unknown): string {
  if (id === null || id === undefined) return 'null';
  if (typeof id !== 'object') return typeof id;
  const t = (id as { _bsontype?: string })._bsontype;
  if (t === 'Int32' || t === 'Double' || t === 'Long' || t === 'Decimal128') return 'number';
  if (t) return t;
  return id instanceof Date ? 'date' : Array.isArray(id) ? 'array' : 'object';
}

function duplicateCount(err: unknown): number | undefined {
  if (!(err instanceof MongoBulkWriteError)) return err instanceof MongoServerError && err.code === 11000 ? 1 : undefined;
  const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  return errors.every((e) => e.code === 11000) ? errors.length : undefined;
}

/**
 * Copies `src` into `dst` in `_id` order through one cursor, `batchSize` documents per
 * insertMany, byte-for-byte (stored types kept), accumulating count and checksum of what it read.
 * Resumable: from a checkpoint it reads `_id > lastId`; documents a lost heartbeat did not
 * record are already in `dst` and are counted, not duplicated (unordered insert, E11000 skipped).
 */
export async function copyDocuments(src: Collection<Document>, dst: Collection<Document>, o: CopyOptions): Promise<CopyResult> {
  let from = o.from;
  if (from && (from.mixedIds || (from.lastId !== undefined && !BRACKET_TYPE[from.idType ?? '']))) {
    await dropIfExists(dst);
    from = undefined;
  }
  const acc = new ChecksumAccumulator(from);
  const cp: CopyCheckpoint = {
    ...acc.snapshot(),
    batches: from?.batches ?? 0,
    ...(from?.lastId !== undefined ? { lastId: from.lastId } : {}),
    ...(from?.idType ? { idType: from.idType } : {}),
  };
  // Everything copied so far is in the lowest _id bracket (else mixedIds): resume after lastId
  // within it, plus every document of a higher bracket ($gt alone compares within one type).
  const filter: Filter<Document> =
    from?.lastId !== undefined
      ? ({
          $or: [
            { _id: { $gt: (BSON.EJSON.deserialize({ id: from.lastId } as Document, { relaxed: false }) as { id: never }).id } },
            { _id: { $not: { $type: BRACKET_TYPE[from.idType!]! } } },
          ],
        } as Document)
      : {};
  let duplicates = 0;
  let batch: Document[] = [];
  let lastId: unknown;
  const flush = async () => {
    try {
      await dst.insertMany(batch, { ordered: false });
    } catch (err) {
      const dups = duplicateCount(err);
      if (dups === undefined) throw err;
      duplicates += dups;
    }
    batch = [];
    Object.assign(cp, acc.snapshot(), {
      batches: cp.batches + 1,
      lastId: BSON.EJSON.serialize({ id: lastId }, { relaxed: false }).id as unknown,
    });
    await o.onBatch?.({ ...cp });
  };
  const cursor = src.find(filter, { sort: { _id: 1 }, batchSize: o.batchSize, raw: true });
  try {
    for await (const raw of cursor) {
      o.signal?.throwIfAborted();
      const bytes = raw as unknown as Uint8Array;
      acc.add(bytes);
      const doc = BSON.deserialize(bytes, FAITHFUL);
      const bracket = idBracket(doc._id);
      cp.idType ??= bracket;
      if (bracket !== cp.idType) cp.mixedIds = true;
      lastId = doc._id;
      batch.push(doc);
      if (batch.length >= o.batchSize) await flush();
    }
    if (batch.length > 0) await flush();
  } finally {
    await cursor.close();
  }
  return { ...cp, ...acc.snapshot(), duplicates, ...(from ? { resumedFrom: from.count } : {}) };
}

/** `{name}__{tag}_{random}`: a sibling collection for copies and swaps. */
export const siblingName = (name: string, tag: string) => `${name.slice(0, 80)}__${tag}_${randomBytes(4).toString('hex')}`;

/** Replaces `target` with `source` (its indexes included): drop, then rename. */
export async function swapInto(db: Db, source: string, target: string): Promise<void> {
  await dropIfExists(db.collection(target));
  await db.renameCollection(source, target);
}
