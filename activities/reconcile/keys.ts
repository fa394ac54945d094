import { BSON, ObjectId, type Document } from 'mongodb';
import { isKey, KeyOrderError, type Key } from '../records/key-order';
import { recordHash } from '../records/hash';
import { compareVersions } from '../records/version';

// Keys' JSON-safe forms for checkpoints, the content view that is hashed and versions; key order
// and range filters live in key-order.ts (re-exported). Key types: numbers, strings, ObjectIds, Dates.

export { compareKeys, compareStrings, isKey, keyOf, keyOrThrow, KeyOrderError, rangeFilter, type Key } from '../records/key-order';

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

/** The fields that are compared: everything but `_id` and our own `_sync` metadata. */
export function viewOf(doc: Document): Document {
  const { _id, _sync, ...rest } = doc;
  return rest;
}

/** Type-aware (a Date is not its ISO string); numbers by value, promoted or not (record-hash.ts). */
export const hashOf = (view: unknown): string => recordHash(view);

/** A record's version (`_sync.version` written by tenant sync, else its own `version`), if any. */
export function versionOf(doc: Document | undefined): unknown {
  if (!doc) return undefined;
  const sync = doc._sync as { version?: unknown } | undefined;
  return sync?.version ?? doc.version ?? undefined;
}

/** Is the target strictly newer than the source (versions compared by kind)? Then a repair would go backwards. */
export function targetIsNewer(source: unknown, target: unknown): boolean {
  return source !== undefined && target !== undefined && compareVersions(source, target) === 'older';
}
