import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { BSON, ObjectId, type Document, type FindCursor } from 'mongodb';
import type { SpilledPair } from './compare';
import { hashOf, isKey, keyId, KeyOrderError, versionOf, viewOf, type Key } from './keys';

// The hashed scan's spill: each store is read once in natural order (FerretDB streams it; a
// sorted query it materialises whole before the first batch), and every record leaves one line
// — key ID, content hash, version — in one of B bucket files per side on the worker's disk. A
// bucket is later compared in memory (B is chosen so that a bucket holds ~50k keys), so memory
// is bounded in every process whatever the collection's size, and the database only ever serves
// two sequential reads. Buffers are flushed at a fixed total, so the spill's memory is bounded too.

export type SpillSide = 'source' | 'target';

/** One record as spilled: its key ID (keys.ts keyId), content hash and version (EJSON), if any. */
export interface SpillEntry {
  id: string;
  hash: string;
  version?: unknown;
}

/** What a finished spill recorded: a retry on the same host reuses it, any other rebuilds it. */
export interface SpillManifest {
  batchId: string;
  partition: number;
  buckets: number;
  records: Record<SpillSide, number>;
  finishedAt: string;
  /** Where it is (not stored: the folder the manifest was found in). */
  dir: string;
}

/** Keys per bucket the compare holds in memory at once (both sides: about twice this). */
export const SPILL_BUCKET_KEYS = 50_000;
export const SPILL_MAX_BUCKETS = 4_096;
/** Bytes buffered over all buckets of one side before they are written out. */
const FLUSH_BYTES = 4 * 1024 * 1024;

/** Buckets for a collection of `records` keys: ~SPILL_BUCKET_KEYS each. */
export function spillBucketsFor(records: number): number {
  return Math.min(SPILL_MAX_BUCKETS, Math.max(1, Math.ceil(records / SPILL_BUCKET_KEYS)));
}

/** FNV-1a of the key ID: stable across processes and hosts. */
export function bucketOf(id: string, buckets: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % buckets;
}

/** The key a keyId() names (its inverse). */
export function keyFromId(id: string): Key {
  const v = id.slice(2);
  switch (id.slice(0, 2)) {
    case 's:':
      return v;
    case 'n:':
      return Number(v);
    case 'o:':
      return new ObjectId(v);
    case 'd:':
      return new Date(v);
    default:
      throw new KeyOrderError(`not a key ID: ${id.slice(0, 40)}`);
  }
}

const encodeVersion = (v: unknown) => BSON.EJSON.serialize({ v }, { relaxed: true }).v as unknown;
const decodeVersion = (v: unknown) => (BSON.EJSON.deserialize({ v } as Document, { relaxed: true }) as { v: unknown }).v;

/** One record's spill line (JSON: any key string is safe in it). */
export function spillLine(doc: Document): { id: string; line: string } {
  const key = doc._id as unknown;
  if (!isKey(key)) throw new KeyOrderError(`_id ${String(key)} is not a number, string, ObjectId or Date`);
  const id = keyId(key);
  const hash = hashOf(viewOf(doc));
  const version = versionOf(doc);
  return { id, line: `${JSON.stringify(version === undefined ? [id, hash] : [id, hash, encodeVersion(version)])}\n` };
}

export function parseSpillLine(line: string): SpillEntry {
  const [id, hash, version] = JSON.parse(line) as [string, string, unknown?];
  return version === undefined ? { id, hash } : { id, hash, version: decodeVersion(version) };
}

/** Where a batch's spills live (with `partition`: that partition's, one folder per attempt in it). */
export function spillRootOf(root: string, batchId: string, partition?: number): string {
  const batch = path.join(root, encodeURIComponent(batchId));
  return partition === undefined ? batch : path.join(batch, `p${partition}`);
}

/** A fresh folder for one attempt's spill: two attempts alive at once never share files. */
export async function newSpillDir(partitionDir: string, attempt: number): Promise<string> {
  await mkdir(partitionDir, { recursive: true });
  return mkdtemp(path.join(partitionDir, `a${attempt}-`));
}

/** A finished spill of this batch with `buckets` buckets that an earlier attempt left on this host. */
export async function findSpill(partitionDir: string, batchId: string, buckets: number): Promise<SpillManifest | null> {
  let names: string[];
  try {
    names = await readdir(partitionDir);
  } catch {
    return null;
  }
  for (const name of names.sort()) {
    const m = await readManifest(path.join(partitionDir, name));
    if (m && m.batchId === batchId && m.buckets === buckets) return m;
  }
  return null;
}

const bucketFile = (dir: string, side: SpillSide, b: number) => path.join(dir, `${side}-${String(b).padStart(4, '0')}.jsonl`);
const manifestFile = (dir: string) => path.join(dir, 'manifest.json');

export async function readManifest(dir: string): Promise<SpillManifest | null> {
  try {
    return { ...(JSON.parse(await readFile(manifestFile(dir), 'utf8')) as Omit<SpillManifest, 'dir'>), dir };
  } catch {
    return null;
  }
}

/** Buffers lines per bucket and appends them to the side's bucket files. */
class BucketWriter {
  private readonly bufs: string[][];
  private readonly files: Array<FileHandle | undefined>;
  private bytes = 0;

  constructor(
    private readonly dir: string,
    private readonly side: SpillSide,
    private readonly buckets: number,
  ) {
    this.bufs = Array.from({ length: buckets }, () => []);
    this.files = Array.from({ length: buckets });
  }

  /** Adds a line; resolves at once unless the buffers are full and are being written. */
  add(id: string, line: string): Promise<void> | undefined {
    this.bufs[bucketOf(id, this.buckets)]!.push(line);
    this.bytes += line.length;
    return this.bytes >= FLUSH_BYTES ? this.flush() : undefined;
  }

  async flush(): Promise<void> {
    this.bytes = 0;
    const writes: Promise<unknown>[] = [];
    for (let b = 0; b < this.buckets; b++) {
      const lines = this.bufs[b]!;
      if (lines.length === 0) continue;
      this.bufs[b] = [];
      writes.push(this.write(b, lines.join('')));
    }
    await Promise.all(writes);
  }

  private async write(b: number, text: string): Promise<void> {
    const f = (this.files[b] ??= await open(bucketFile(this.dir, this.side, b), 'w'));
    await f.write(text);
  }

  async close(): Promise<void> {
    await this.flush();
    // Every bucket has a file (empty ones too): the compare opens each.
    for (let b = 0; b < this.buckets; b++) this.files[b] ??= await open(bucketFile(this.dir, this.side, b), 'w');
    await Promise.all(this.files.map((f) => f?.close()));
  }

  async abort(): Promise<void> {
    await Promise.allSettled(this.files.map((f) => f?.close()));
  }
}

/** Thrown by a spill when a stop was requested (cancel, drain): nothing of it is kept. */
export class SpillStopped extends Error {}

/**
 * Reads `cursor` to its end (natural order, the next server batch requested while this one is
 * hashed) and spills every record into its bucket file. `onRead` sees the running count.
 */
export async function spillSide(
  cursor: FindCursor<Document>,
  dir: string,
  side: SpillSide,
  buckets: number,
  onRead: (n: number) => void,
  stop?: AbortSignal,
): Promise<number> {
  const out = new BucketWriter(dir, side, buckets);
  let n = 0;
  try {
    // The next server batch is asked for as soon as this one is in hand, so FerretDB reads it
    // while this one is hashed and spilled (not only once it is used up: README, measured figures).
    let next = cursor.hasNext();
    next.catch(() => undefined);
    for (;;) {
      if (stop?.aborted) throw new SpillStopped(`${side} spill stopped`);
      if (!(await next)) break;
      const docs = cursor.readBufferedDocuments();
      next = cursor.hasNext();
      next.catch(() => undefined);
      for (const d of docs) {
        const { id, line } = spillLine(d);
        const w = out.add(id, line);
        if (w) await w;
      }
      n += docs.length;
      onRead(n);
    }
    await out.close();
    return n;
  } catch (err) {
    await out.abort();
    throw err;
  } finally {
    await cursor.close().catch(() => undefined);
  }
}

/** Spills both stores at once into a fresh folder and records the manifest last. */
export async function spillBoth(args: {
  dir: string;
  batchId: string;
  partition: number;
  buckets: number;
  source: FindCursor<Document>;
  target: FindCursor<Document>;
  onRead: (total: number) => void;
  stop?: AbortSignal;
}): Promise<SpillManifest> {
  const { dir } = args;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const read = { source: 0, target: 0 };
  const report = () => args.onRead(read.source + read.target);
  const [source, target] = await Promise.all(
    (['source', 'target'] as const).map((side) =>
      spillSide(
        args[side],
        dir,
        side,
        args.buckets,
        (n) => {
          read[side] = n;
          report();
        },
        args.stop,
      ),
    ),
  );
  const manifest: Omit<SpillManifest, 'dir'> = {
    batchId: args.batchId,
    partition: args.partition,
    buckets: args.buckets,
    records: { source: source!, target: target! },
    finishedAt: new Date().toISOString(),
  };
  // Written last, then renamed into place: a manifest present means every bucket file is whole.
  await writeFile(`${manifestFile(dir)}.tmp`, JSON.stringify(manifest));
  await rename(`${manifestFile(dir)}.tmp`, manifestFile(dir));
  return { ...manifest, dir };
}

/** The entries of one bucket file, line by line. */
export async function* readBucket(dir: string, side: SpillSide, b: number): AsyncGenerator<SpillEntry> {
  const lines = createInterface({ input: createReadStream(bucketFile(dir, side, b), { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of lines) if (line) yield parseSpillLine(line);
}

export async function removeSpill(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

const compareIds = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * One bucket's keys from both sides, paired and in key-ID order (so that a chunk's position in
 * it is a key ID). Holds the bucket's source side in a Map while the target side streams past.
 */
export async function pairBucket(dir: string, b: number): Promise<SpilledPair[]> {
  const src = new Map<string, SpillEntry>();
  for await (const e of readBucket(dir, 'source', b)) src.set(e.id, e);
  const out: SpilledPair[] = [];
  const side = (e: SpillEntry) => (e.version === undefined ? { hash: e.hash } : { hash: e.hash, version: e.version });
  for await (const t of readBucket(dir, 'target', b)) {
    const s = src.get(t.id);
    if (s) src.delete(t.id);
    out.push(
      s ? { key: keyFromId(t.id), id: t.id, source: side(s), target: side(t) } : { key: keyFromId(t.id), id: t.id, target: side(t) },
    );
  }
  for (const s of src.values()) out.push({ key: keyFromId(s.id), id: s.id, source: side(s) });
  return out.sort((x, y) => compareIds(x.id, y.id));
}
