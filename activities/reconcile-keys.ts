import { BSON, ObjectId, type Document } from 'mongodb';
import { contentHash } from './record-writer';

// Keys in BSON sort order, their JSON-safe forms for checkpoints, type-aware range filters and
// the content view that is hashed. Supported key types: numbers, strings, ObjectIds, Dates.

export type Key = number | string | ObjectId | Date;

/** Thrown when a key cannot be ordered or the stream is not in key order (non-retryable). */
export class KeyOrderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyOrderError';
  }
}

/** BSON type order: numbers < strings < ObjectIds < Dates. */
function rank(k: unknown): number {
  if (typeof k === 'number') return 1;
  if (typeof k === 'string') return 2;
  if (k instanceof ObjectId) return 3;
  if (k instanceof Date) return 4;
  throw new KeyOrderError(`unsupported _id type ${k === null ? 'null' : typeof k === 'object' ? (k as object).constructor?.name : typeof k}: keys must be numbers, strings, ObjectIds or Dates`);
}

export function isKey(k: unknown): k is Key {
  return typeof k === 'number' || typeof k === 'string' || k instanceof ObjectId || k instanceof Date;
}

/** UTF-8 byte order (how the server sorts strings); differs from UTF-16 order only around surrogates. */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs && !ys && y >= 0xe000) return 1;
    if (ys && !xs && x >= 0xe000) return -1;
    return x - y;
  }
  return a.length - b.length;
}

export function compareKeys(a: Key, b: Key): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 1) return (a as number) - (b as number);
  if (ra === 2) return compareStrings(a as string, b as string);
  if (ra === 3) return Buffer.compare((a as ObjectId).id, (b as ObjectId).id);
  return (a as Date).getTime() - (b as Date).getTime();
}

/** JSON-safe form for heartbeats, signals and workflow state. */
export function encodeKey(k: Key): unknown {
  return BSON.EJSON.serialize({ k }, { relaxed: true }).k;
}

export function decodeKey(v: unknown): Key {
  const k = (BSON.EJSON.deserialize({ k: v } as Document, { relaxed: true }) as { k: unknown }).k;
  if (!isKey(k)) throw new KeyOrderError('checkpoint key is not a number, string, ObjectId or Date');
  return k;
}

/** A sortable string form of a key, for document IDs (errors, pending repairs). */
export function keyId(k: Key): string {
  if (typeof k === 'string') return `s:${k}`;
  if (typeof k === 'number') return `n:${k}`;
  if (k instanceof ObjectId) return `o:${k.toHexString()}`;
  return `d:${k.toISOString()}`;
}

// No 'decimal': FerretDB knows no Decimal128 and refuses the alias.
const TYPE_ALIASES: Record<number, string[]> = { 1: ['double', 'int', 'long'], 2: ['string'], 3: ['objectId'], 4: ['date'] };
const typesAbove = (r: number) => Object.entries(TYPE_ALIASES).filter(([x]) => Number(x) > r).flatMap(([, t]) => t);
const typesBelow = (r: number) => Object.entries(TYPE_ALIASES).filter(([x]) => Number(x) < r).flatMap(([, t]) => t);

/**
 * `_id` in (lo, hi]. Comparison operators only match their own BSON type, so each bound also
 * admits the key types that sort beyond it (an $or of two terms, only when such types exist).
 */
export function rangeFilter(lo: Key | null, hi: Key | null): Document {
  const terms: Document[] = [];
  if (lo !== null) {
    const above = typesAbove(rank(lo));
    terms.push(above.length ? { $or: [{ _id: { $gt: lo } }, { _id: { $type: above } }] } : { _id: { $gt: lo } });
  }
  if (hi !== null) {
    const below = typesBelow(rank(hi));
    terms.push(below.length ? { $or: [{ _id: { $lte: hi } }, { _id: { $type: below } }] } : { _id: { $lte: hi } });
  }
  if (terms.length === 0) return {};
  if (terms.length === 1) return terms[0]!;
  return { $and: terms };
}

/** The fields that are compared: everything but `_id` and our own `_sync` metadata. */
export function viewOf(doc: Document): Document {
  const { _id, _sync, ...rest } = doc;
  return rest;
}

export const hashOf = (view: unknown): string => contentHash(view);

/** A record's version (top-level `version`, or `_sync.version` written by tenant sync), if any. */
export function versionOf(doc: Document | undefined): number | string | undefined {
  if (!doc) return undefined;
  const v = (doc._sync as { version?: unknown } | undefined)?.version ?? doc.version;
  return typeof v === 'number' || typeof v === 'string' ? v : undefined;
}

/** Is the target strictly newer than the source (same version type)? Then a repair would go backwards. */
export function targetIsNewer(source: number | string | undefined, target: number | string | undefined): boolean {
  return source !== undefined && target !== undefined && typeof source === typeof target && target > source;
}
