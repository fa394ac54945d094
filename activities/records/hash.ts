import { createHash } from 'node:crypto';
import { BSON, Binary, Double, Int32, Long, ObjectId } from 'mongodb';
import stringify from 'safe-stable-stringify';

// Type-aware content hash of a record: a Date and its ISO string, an ObjectId and its hex, a
// Binary and its base64 hash differently; key order does not matter. Numbers hash by value,
// whatever their BSON width, so a document read with or without `promoteValues` hashes the same
// (tenant sync reads sources unpromoted, reconcile reads targets promoted).

/** A JSON-safe form that keeps BSON types apart. Field names starting with `$` never reach it. */
export function canonical(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) && !Object.is(v, -0) ? v : { $num: String(Object.is(v, -0) ? '-0' : v) };
  if (typeof v === 'bigint') return canonical(Long.fromBigInt(v));
  if (Array.isArray(v)) return v.map(canonical);
  if (v instanceof Date) return { $date: v.getTime() };
  if (v instanceof Int32 || v instanceof Double) return canonical(v.valueOf());
  if (v instanceof Long)
    return v.lessThanOrEqual(Number.MAX_SAFE_INTEGER) && v.greaterThanOrEqual(Number.MIN_SAFE_INTEGER)
      ? v.toNumber()
      : { $long: v.toString() };
  if (v instanceof ObjectId) return { $oid: v.toHexString() };
  if (v instanceof Binary) return { $bin: v.toString('base64'), t: v.sub_type };
  if (v instanceof RegExp) return { $re: v.source, o: v.flags };
  if (v instanceof Uint8Array) return { $bin: Buffer.from(v).toString('base64'), t: 0 };
  if (typeof v === 'object' && '_bsontype' in v) return { $bson: BSON.EJSON.serialize({ v }, { relaxed: false }).v };
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = canonical(x);
    return out;
  }
  return { $other: String(v) };
}

/** Stable hash of a record's fields (22 chars of base64url SHA-256). */
export function recordHash(view: unknown): string {
  return createHash('sha256')
    .update(stringify(canonical(view)) ?? '')
    .digest('base64url')
    .slice(0, 22);
}

/** A map key for a record key: `'5'` and `5`, or an ObjectId and its hex, stay distinct. */
export const keyText = (key: unknown): string => stringify(canonical(key)) ?? 'null';
