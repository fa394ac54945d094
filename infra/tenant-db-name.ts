import { createHash } from 'node:crypto';

// Tenant ID → database name, injective even where names compare case-insensitively (MongoDB).
// Lowercase letters, digits and '-' stay as they are; every other character becomes '_' plus a
// fixed code, so a name decodes one way only. Names are [a-z0-9_-] (FerretDB's rule) and at
// most 63 bytes (MongoDB's); an ID too long for that keeps a prefix and ends in '_1' + a hash.

/** Every tenant's target database starts with this (compared case-insensitively). */
export const TENANT_DB_PREFIX = 'tenant_';
const PREFIX = TENANT_DB_PREFIX;
/** MongoDB: database names are fewer than 64 bytes. */
export const DB_NAME_MAX = 63;
const HASH_MARK = '_1';
const HASH_HEX = 16;

/** One character's code: `A`→`_a`, `_`→`__`, `.`→`_0`, anything else → `_2` + 6 hex digits. */
function encodeChar(ch: string): string {
  if (/^[a-z0-9-]$/.test(ch)) return ch;
  if (/^[A-Z]$/.test(ch)) return `_${ch.toLowerCase()}`;
  if (ch === '_') return '__';
  if (ch === '.') return '_0';
  return `_2${ch.codePointAt(0)!.toString(16).padStart(6, '0')}`;
}

/** Database name for a tenant's data (`tenant_<id>` for IDs of lowercase letters, digits and '-'). */
export function tenantDbName(tenantId: string): string {
  const codes = Array.from(tenantId, encodeChar);
  const full = PREFIX + codes.join('');
  if (full.length <= DB_NAME_MAX) return full;
  // Too long: whole codes up to the room left, then the mark and a hash of the whole ID.
  const room = DB_NAME_MAX - PREFIX.length - HASH_MARK.length - HASH_HEX;
  let head = '';
  for (const c of codes) {
    if (head.length + c.length > room) break;
    head += c;
  }
  const hash = createHash('sha256').update(tenantId, 'utf8').digest('hex').slice(0, HASH_HEX);
  return `${PREFIX}${head}${HASH_MARK}${hash}`;
}

/**
 * Why a MongoDB *source* database may not be read, or undefined: the platform database (the
 * registry with every tenant's credentials, runs, batches) and tenants' target databases are
 * never upstream data, whatever server the URI names (names compare case-insensitively).
 */
export function sourceDatabaseRefusal(database: string, platformDb: string): string | undefined {
  const db = database.toLowerCase();
  if (db === platformDb.toLowerCase()) return `database '${database}' is the platform database and cannot be a source`;
  if (db.startsWith(TENANT_DB_PREFIX))
    return `database '${database}' is a tenant target database (${TENANT_DB_PREFIX}…) and cannot be a source`;
  return undefined;
}
