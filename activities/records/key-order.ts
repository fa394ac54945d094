import { Double, Int32, Long, ObjectId, type Document } from 'mongodb';
import { AppError } from '../../shared/errors';

// Record keys (`_id`s) in BSON sort order, and type-aware range filters over them. Shared by the
// MongoDB source's cursors and the reconcile's merge. Supported: numbers, strings, ObjectIds, Dates.

export type Key = number | string | ObjectId | Date;

/** Thrown when a key cannot be ordered or a stream is not in key order (non-retryable). */
export class KeyOrderError extends AppError {
  constructor(message: string) {
    super('key-order', message);
  }
}

const typeName = (k: unknown) => (k === null ? 'null' : typeof k === 'object' ? ((k as object).constructor?.name ?? 'object') : typeof k);

/** BSON type order: numbers < strings < ObjectIds < Dates. */
function rank(k: unknown): number {
  if (typeof k === 'number') return 1;
  if (typeof k === 'string') return 2;
  if (k instanceof ObjectId) return 3;
  if (k instanceof Date) return 4;
  throw new KeyOrderError(`unsupported _id type ${typeName(k)}: keys must be numbers, strings, ObjectIds or Dates`);
}

export function isKey(k: unknown): k is Key {
  return typeof k === 'number' || typeof k === 'string' || k instanceof ObjectId || k instanceof Date;
}

/**
 * A raw BSON key (as read with `promoteValues: false`: Int32, Double, Long wrappers) as an
 * orderable Key; undefined for a type that cannot be one (or a Long beyond 2^53).
 */
export function keyOf(raw: unknown): Key | undefined {
  if (raw instanceof Int32 || raw instanceof Double) return raw.valueOf();
  if (raw instanceof Long)
    return raw.lessThanOrEqual(Number.MAX_SAFE_INTEGER) && raw.greaterThanOrEqual(Number.MIN_SAFE_INTEGER) ? raw.toNumber() : undefined;
  return isKey(raw) ? raw : undefined;
}

/** keyOf, or a KeyOrderError naming the type. */
export function keyOrThrow(raw: unknown, label: string): Key {
  const k = keyOf(raw);
  if (k === undefined) throw new KeyOrderError(`${label}: _id of type ${typeName(raw)} is not a number, string, ObjectId or Date`);
  return k;
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

// No 'decimal': FerretDB knows no Decimal128 and refuses the alias.
const TYPE_ALIASES: Record<number, string[]> = { 1: ['double', 'int', 'long'], 2: ['string'], 3: ['objectId'], 4: ['date'] };
const typesAbove = (r: number) =>
  Object.entries(TYPE_ALIASES)
    .filter(([x]) => Number(x) > r)
    .flatMap(([, t]) => t);
const typesBelow = (r: number) =>
  Object.entries(TYPE_ALIASES)
    .filter(([x]) => Number(x) < r)
    .flatMap(([, t]) => t);

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

/** A key for people (status, logs): its text and BSON type name. */
export function describeKey(raw: unknown): { key: string; keyType: string } {
  const k = keyOf(raw);
  if (typeof k === 'string') return { key: k, keyType: 'string' };
  if (typeof k === 'number') return { key: String(k), keyType: 'number' };
  if (k instanceof ObjectId) return { key: k.toHexString(), keyType: 'objectId' };
  if (k instanceof Date) return { key: k.toISOString(), keyType: 'date' };
  return { key: raw instanceof Long ? raw.toString() : String(raw), keyType: typeName(raw) };
}
