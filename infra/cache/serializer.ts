// Cache entries go through JSON (Redis L2, and L1 too so no caller shares a mutable object), but
// the cached documents carry Dates (createdAt, lastSyncAt): they are tagged on the way in and
// revived on the way out, so a cached read is the same shape as a MongoDB read.

const DATE_TAG = '$date';

function isTaggedDate(v: unknown): v is { [DATE_TAG]: string } {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === DATE_TAG && typeof (v as Record<string, unknown>)[DATE_TAG] === 'string';
}

/** JSON.stringify with every Date as `{"$date": iso}` (a replacer sees the value after toJSON, so look at the holder). */
export function serialize(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const raw = this[key];
    return raw instanceof Date ? { [DATE_TAG]: raw.toISOString() } : v;
  });
}

/** The inverse of serialize: `{"$date": iso}` objects become Dates again. */
export function deserialize(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => (isTaggedDate(v) ? new Date(v[DATE_TAG]) : v));
}

/** bentocache's CacheSerializer contract. */
export const dateAwareSerializer = { serialize, deserialize };
