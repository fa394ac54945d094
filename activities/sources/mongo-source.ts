import {
  MongoClient,
  MongoError,
  MongoNetworkError,
  MongoNetworkTimeoutError,
  MongoOperationTimeoutError,
  MongoParseError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  ObjectId,
  type Document,
  type FindCursor,
  type MongoClientOptions,
} from 'mongodb';
import { SyncErrorType } from '../../shared/errors';
import { keyOf, rangeFilter, type Key } from '../records/key-order';
import { DEFAULT_OUTBOUND, isOutboundRefusal, mongoUriRefusal, OutboundRefusal, vettingLookup, type OutboundPolicy } from './outbound';
import { SourceError, type MongoSourceSettings, type SourceConnector, type SourceRecord } from './types';
import { InProcessProfiles } from '../profiles';

// A MongoDB (or FerretDB) database as an upstream. Consecutive pages continue one long-lived
// _id-ordered cursor: on FerretDB every range query is a full scan, so a query per page would be
// quadratic (measured: ~0.5 s per 1,000-doc page over 20k docs, vs ~0.9 s for the whole scan).

const MAX_PAGE_LIMIT = 5_000;
/** Parked scans per connector; the oldest is closed beyond this. */
const MAX_PARKED_SCANS = 16;
/** A parked scan nobody continues is closed after this. */
const SCAN_IDLE_MS = 60_000;
/** Auth failures: AuthenticationFailed, Unauthorized. */
const AUTH_CODES = new Set([18, 13]);

interface ParkedScan {
  cursor: FindCursor<Document>;
  timer: NodeJS.Timeout;
}

export function createMongoSource(settings: MongoSourceSettings, policy: OutboundPolicy = DEFAULT_OUTBOUND): SourceConnector {
  let client: MongoClient | undefined;
  /** A connection the vetting lookup refused (the driver reports it only as a selection timeout). */
  let refused: OutboundRefusal | undefined;
  /** key: collection, changedSince and the nextCursor handed out for the scan's next page. */
  const parked = new Map<string, ParkedScan>();
  const db = () => {
    if (!client) {
      const why = mongoUriRefusal(policy, settings.uri); // literal IPs never reach the lookup
      if (why) throw new OutboundRefusal(why);
      client = new MongoClient(settings.uri, { ...clientDefaults(settings.uri), lookup: vettingLookup(policy, (e) => (refused = e)) });
    }
    return client.db(settings.database);
  };
  const fail = (err: unknown, what: string, collection?: string, signal?: AbortSignal) => {
    const refusal = isOutboundRefusal(err) ? err : refused;
    if (refusal)
      return new SourceError(SyncErrorType.VALIDATION_ERROR, `${what}: ${refusal.message}`, collection === undefined ? {} : { collection });
    return toSourceError(err, what, settings.uri, collection, signal);
  };

  const unpark = (key: string) => {
    const scan = parked.get(key);
    if (!scan) return undefined;
    parked.delete(key);
    clearTimeout(scan.timer);
    return scan.cursor;
  };
  const park = (key: string, cursor: FindCursor<Document>) => {
    void unpark(key)
      ?.close()
      .catch(() => undefined);
    for (const old of [...parked.keys()].slice(0, Math.max(0, parked.size - MAX_PARKED_SCANS + 1)))
      void unpark(old)
        ?.close()
        .catch(() => undefined);
    const timer = setTimeout(
      () =>
        void unpark(key)
          ?.close()
          .catch(() => undefined),
      SCAN_IDLE_MS,
    );
    timer.unref();
    parked.set(key, { cursor, timer });
  };

  return {
    kind: 'mongodb',
    async listCollections(signal) {
      try {
        const infos = await abortable(db().listCollections({}, { nameOnly: true }).toArray(), signal);
        return infos
          .map((c) => c.name)
          .filter((n) => !n.startsWith('system.'))
          .sort();
      } catch (err) {
        throw fail(err, 'listCollections', undefined, signal);
      }
    },
    async readPage(collection, { after, limit, changedSince, signal }) {
      const bad = (what: string) => new SourceError(SyncErrorType.VALIDATION_ERROR, `collection ${collection}: ${what}`, { collection });
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) throw bad(`page limit ${limit} is outside 1..${MAX_PAGE_LIMIT}`);
      const since = changedSince ? new Date(changedSince) : undefined;
      if (since && Number.isNaN(since.getTime())) throw bad(`changedSince "${changedSince}" is not a date`);
      const scanKey = (cursor: string) => `${collection}\u0000${changedSince ?? ''}\u0000${cursor}`;
      const startScan = () => {
        // After the cursor in BSON order: keys of the types that sort later (strings < ObjectIds) too.
        const terms: Document[] = after ? [rangeFilter(decodeCursor(after, bad), null)] : [];
        // updatedAt is stored as a Date or an ISO string; BSON compares only within one type. The
        // boundary is inclusive: a record committed later with the watermark's own time is read.
        if (since) terms.push({ $or: [{ updatedAt: { $gte: since } }, { updatedAt: { $gte: since.toISOString() } }] });
        const filter: Document = terms.length > 1 ? { $and: terms } : (terms[0] ?? {});
        // Unpromoted: Int32, Long and Double stay what they are, so the copy keeps each BSON type.
        return db().collection(collection).find(filter, { promoteValues: false }).sort({ _id: 1 }).batchSize(limit);
      };

      const resumed = after ? unpark(scanKey(after)) : undefined;
      let cursor = resumed;
      const closeCursor = () => void cursor?.close().catch(() => undefined);
      try {
        let page: { docs: Document[]; more: boolean };
        try {
          cursor ??= startScan();
          page = await readFrom(cursor, limit, signal);
        } catch (err) {
          if (!resumed || signal?.aborted) throw err;
          // The parked cursor died (idle timeout on the server, lost connection): query afresh once.
          closeCursor();
          cursor = startScan();
          page = await readFrom(cursor, limit, signal);
        }
        const records = page.docs.map((doc, i) => toRecord(doc, i, bad));
        const last = page.docs.at(-1);
        if (!page.more || !last) {
          closeCursor();
          return { records, nextCursor: null };
        }
        const nextCursor = encodeCursor(last._id, bad);
        park(scanKey(nextCursor), cursor);
        return { records, nextCursor };
      } catch (err) {
        closeCursor();
        throw fail(err, `read ${collection}`, collection, signal);
      }
    },
    async close() {
      await Promise.allSettled([...parked.keys()].map((k) => unpark(k)?.close()));
      const c = client;
      client = undefined;
      await c?.close();
    },
  };
}

/** Our defaults, except where the URI sets an option itself (constructor options would win). */
function clientDefaults(uri: string): MongoClientOptions {
  const defaults: MongoClientOptions = { ...InProcessProfiles.outboundMongo, maxPoolSize: 10, appName: 'sync-orchestrator-source' };
  const query = uri.split('?')[1] ?? '';
  const inUri = new Set(query.split('&').map((kv) => (kv.split('=')[0] ?? '').toLowerCase()));
  return Object.fromEntries(Object.entries(defaults).filter(([k]) => !inUri.has(k.toLowerCase())));
}

/** Up to `limit` documents, and whether the scan has more; aborting closes the cursor. */
async function readFrom(cursor: FindCursor<Document>, limit: number, signal?: AbortSignal) {
  const read = async () => {
    const docs: Document[] = [];
    while (docs.length < limit) {
      const doc = await cursor.next();
      if (!doc) return { docs, more: false };
      docs.push(doc);
    }
    return { docs, more: await cursor.hasNext() };
  };
  return abortable(read(), signal, () => void cursor.close().catch(() => undefined));
}

/** Settles with the caller's abort reason as soon as the signal fires. */
function abortable<T>(work: Promise<T>, signal?: AbortSignal, onAbort?: () => void): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      onAbort?.();
      reject(signal.reason);
    };
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/** The document whole (`_id` aside, as the key); its version and updatedAt read, not removed. */
function toRecord(doc: Document, i: number, bad: (what: string) => SourceError): SourceRecord {
  const { _id, ...data } = doc;
  if (keyOf(_id) === undefined) throw bad(`record ${i} has an _id that is not a string, number, ObjectId or Date`);
  const record: SourceRecord = { id: _id, data };
  const { version, updatedAt } = data;
  if (version !== undefined && version !== null) record.version = version;
  if (updatedAt !== undefined && updatedAt !== null) {
    const at = updatedAt instanceof Date ? updatedAt : typeof updatedAt === 'string' ? new Date(updatedAt) : undefined;
    if (!at || Number.isNaN(at.getTime()))
      throw bad(`record ${i} (${String(keyOf(_id))}) has an updatedAt that is neither a Date nor an ISO string`);
    record.updatedAt = at.toISOString();
  }
  return record;
}

const TAGGED = /^(oid|num|str|dat):/;

/** Cursors are the last _id: strings as they are; ObjectIds, numbers, Dates and look-alike strings tagged. */
function encodeCursor(raw: unknown, bad: (what: string) => SourceError): string {
  const id = keyOf(raw);
  if (id instanceof ObjectId) return `oid:${id.toHexString()}`;
  if (id instanceof Date) return `dat:${id.getTime()}`;
  if (typeof id === 'number') return `num:${id}`;
  if (typeof id === 'string') return TAGGED.test(id) ? `str:${id}` : id;
  throw bad('cannot page past an _id that is not a string, number, ObjectId or Date');
}

function decodeCursor(cursor: string, bad: (what: string) => SourceError): Key {
  const tag = cursor.slice(0, 4);
  const rest = cursor.slice(4);
  if (tag === 'str:') return rest;
  if (tag === 'oid:') {
    if (!/^[0-9a-f]{24}$/i.test(rest)) throw bad(`cursor "${cursor}" is not a valid ObjectId cursor`);
    return new ObjectId(rest);
  }
  if (tag === 'num:' || tag === 'dat:') {
    const n = Number(rest);
    if (rest === '' || Number.isNaN(n)) throw bad(`cursor "${cursor}" is not a valid ${tag === 'num:' ? 'number' : 'date'} cursor`);
    return tag === 'num:' ? n : new Date(n);
  }
  return cursor;
}

/** Maps driver errors to the seed's classification; the caller's own abort keeps its reason. */
function toSourceError(err: unknown, what: string, uri: string, collection?: string, signal?: AbortSignal): unknown {
  if (err instanceof SourceError) return err;
  if (signal?.aborted && err === signal.reason) return err;
  const message = `${what}: ${redact(err instanceof Error ? err.message : String(err), uri)}`;
  const type = classify(err);
  return new SourceError(type, message, collection === undefined ? {} : { collection });
}

function classify(err: unknown): SyncErrorType {
  // mongodb-connection-string-url throws its own MongoParseError class for a malformed URI.
  if (err instanceof MongoParseError || (err instanceof Error && err.name === 'MongoParseError')) return SyncErrorType.VALIDATION_ERROR;
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof MongoError && typeof e.code === 'number' && AUTH_CODES.has(e.code)) return SyncErrorType.AUTH_ERROR;
  }
  if (err instanceof MongoOperationTimeoutError || err instanceof MongoNetworkTimeoutError) return SyncErrorType.TIMEOUT_ERROR;
  if (err instanceof MongoError && err.code === 50) return SyncErrorType.TIMEOUT_ERROR;
  if (err instanceof MongoNetworkError || err instanceof MongoServerSelectionError || err instanceof MongoTopologyClosedError)
    return SyncErrorType.NETWORK_ERROR;
  if (err instanceof MongoError) return SyncErrorType.DATABASE_ERROR;
  return SyncErrorType.UNKNOWN_ERROR;
}

/** Never echo the URI or its credentials. */
function redact(message: string, uri: string): string {
  return message
    .split(uri)
    .join('<uri>')
    .replace(/\/\/[^/@\s]+@/g, '//***@');
}
