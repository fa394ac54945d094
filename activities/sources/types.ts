import { SyncFailureError, type SyncErrorType } from '../../shared/errors';

// One interface for every upstream a tenant's data comes from.

/**
 * One record as read from a source, whole: the target's copy is `{ _id: id, ...data }` plus our
 * `_sync` metadata beside it. Records travel only inside activities, so BSON values are kept.
 */
export interface SourceRecord {
  /** The key as the source holds it (ObjectId, string, number…): the target's `_id`, same value and type. */
  id: unknown;
  /** How writes of this record are ordered, as received (a number, a numeric or date string, a Date…). */
  version?: unknown;
  /** ISO-8601 time of the last change, normalised; drives the changed-since watermark. */
  updatedAt?: string;
  /** Every field of the record as received (its own version and updatedAt included), without `_id`. */
  data: Record<string, unknown>;
}

export interface ReadPageOptions {
  /** Opaque cursor from the previous page; null/undefined for the first page. */
  after?: string | null;
  /** Page size (1..5000). */
  limit: number;
  /** Only records with updatedAt at or after this ISO time (inclusive: the boundary is read again). */
  changedSince?: string | null;
  /** Aborts the request (deadline, activity cancellation). */
  signal?: AbortSignal;
}

export interface SourcePage {
  records: SourceRecord[];
  /** Cursor for the next page; null when this was the last page. */
  nextCursor: string | null;
}

export interface SourceConnector {
  readonly kind: 'http' | 'mongodb';
  listCollections(signal?: AbortSignal): Promise<string[]>;
  readPage(collection: string, options: ReadPageOptions): Promise<SourcePage>;
  close(): Promise<void>;
}

/** HTTP JSON source settings. `token` is a secret: write-only, never returned or logged. */
export interface HttpSourceSettings {
  /** e.g. http://127.0.0.1:4010/tenants/acme */
  baseUrl: string;
  token?: string;
  /** Per-request timeout (default 10 000 ms). */
  timeoutMs?: number;
}

/** MongoDB source settings. `uri` is a secret (may carry credentials). */
export interface MongoSourceSettings {
  uri: string;
  database: string;
}

export type SourceSpec = { kind: 'http'; settings: HttpSourceSettings } | { kind: 'mongodb'; settings: MongoSourceSettings };

/** Thrown by connectors when an upstream fails; `errorType` (the seed's classification) decides its code and retryability. */
export class SourceError extends SyncFailureError {
  constructor(
    errorType: SyncErrorType,
    message: string,
    readonly details: { status?: number; collection?: string; retryAfterMs?: number } = {},
  ) {
    super(errorType, message);
  }
}
