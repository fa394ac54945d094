import type { Document, FindCursor } from 'mongodb';
import { AppError } from '../../shared/errors';
import type { SourceConnector, SourceRecord } from '../sources/types';
import { compareKeys, isKey, keyOf, keyOrThrow, KeyOrderError, type Key } from './keys';

// Key-ordered streams over one long-lived cursor each, read one batch ahead, and their merge
// into chunks. On FerretDB a sorted query materialises its whole result before the first batch,
// and every range query decodes the whole collection: so a partition opens each store's cursor
// once and cuts its chunks from the stream — never one query per chunk.

/** One source record: a document of a namespace, or a record of a tenant's connector. */
export type SourceItem = { key: Key; doc: Document; record?: undefined } | { key: Key; record: SourceRecord; doc?: undefined };

export interface MergedItem {
  key: Key;
  source?: SourceItem;
  target?: Document;
}

export interface OrderedStream<T> {
  /** Ensures an item is buffered unless the stream is exhausted. */
  fill(): Promise<void>;
  /** Key of the next buffered item; undefined when the buffer is empty (call fill) or the stream ended. */
  peekKey(): Key | undefined;
  shift(): T;
  close(): Promise<void>;
}

/** Checks each key against the previous one: the merge is only correct on strictly ordered input. */
function orderGuard(label: string) {
  let last: Key | undefined;
  return (key: unknown): Key => {
    if (!isKey(key)) throw new KeyOrderError(`${label}: _id ${String(key)} is not a number, string, ObjectId or Date`);
    if (last !== undefined && compareKeys(last, key) >= 0)
      throw new KeyOrderError(`${label}: keys are not in ascending order (${String(last)} then ${String(key)})`);
    last = key;
    return key;
  };
}

/** Documents deserialised at a time: short-lived objects die young instead of filling the old heap. */
const SLICE = 64;

/**
 * A driver cursor read slice by slice; when a server batch is used up the next getMore is sent at
 * once, so it travels while this batch is compared. Batches stay raw BSON until sliced.
 */
export class CursorStream implements OrderedStream<Document> {
  private buf: Document[] = [];
  private i = 0;
  private done = false;
  private ahead: Promise<boolean> | undefined;
  private readonly check: (k: unknown) => Key;

  constructor(
    private readonly cursor: FindCursor<Document>,
    label: string,
  ) {
    this.check = orderGuard(label);
  }

  async fill(): Promise<void> {
    while (this.i >= this.buf.length && !this.done) {
      if (this.cursor.bufferedCount() === 0) {
        const has = await (this.ahead ?? this.cursor.hasNext());
        this.ahead = undefined;
        if (!has) {
          this.done = true;
          return;
        }
      }
      this.buf = this.cursor.readBufferedDocuments(SLICE);
      this.i = 0;
      if (this.cursor.bufferedCount() === 0 && !this.ahead) {
        // The server batch is used up: ask for the next one while this slice is worked on.
        const next = this.cursor.hasNext();
        next.catch(() => undefined);
        this.ahead = next;
      }
    }
  }

  peekKey(): Key | undefined {
    // Documents are read as stored (promoteValues off: Int32, Double, Long stay wrappers).
    const raw = this.buf[this.i]?._id as unknown;
    return raw === undefined ? undefined : (keyOf(raw) ?? (raw as Key));
  }

  shift(): Document {
    const doc = this.buf[this.i]!;
    this.buf[this.i++] = undefined as never;
    this.check(keyOf(doc._id) ?? doc._id);
    return doc;
  }

  async close(): Promise<void> {
    await this.cursor.close().catch(() => undefined);
  }
}

/** Namespace source: the cursor's documents as source items. */
export class DocSourceStream implements OrderedStream<SourceItem> {
  constructor(private readonly inner: CursorStream) {}
  fill = () => this.inner.fill();
  peekKey = () => this.inner.peekKey();
  shift(): SourceItem {
    const d = this.inner.shift();
    return { key: keyOf(d._id) ?? (d._id as Key), doc: d };
  }
  close = () => this.inner.close();
}

/**
 * A tenant's connector, page after page (the Mongo connector continues one parked cursor). Keeps
 * the cursor of the page holding the next record, so a checkpoint can resume mid-page.
 */
export class ConnectorStream implements OrderedStream<SourceItem> {
  private buf: SourceRecord[] = [];
  private i = 0;
  private pageAfter: string | null;
  private nextAfter: string | null = null;
  private done = false;
  private started = false;
  private ahead: Promise<{ records: SourceRecord[]; nextCursor: string | null }> | undefined;
  private readonly check: (k: unknown) => Key;

  constructor(
    private readonly connector: SourceConnector,
    private readonly collection: string,
    private readonly pageSize: number,
    after: string | null,
    private readonly skipThrough: Key | null,
    private readonly signal?: AbortSignal,
  ) {
    this.pageAfter = after;
    this.check = orderGuard(`source ${collection}`);
  }

  private read(after: string | null) {
    const p = this.connector.readPage(this.collection, { after, limit: this.pageSize, signal: this.signal });
    p.catch(() => undefined);
    return p;
  }

  async fill(): Promise<void> {
    while (this.i >= this.buf.length && !this.done) {
      let after: string | null;
      if (!this.started) {
        after = this.pageAfter;
        this.started = true;
      } else {
        if (this.nextAfter === null) {
          this.done = true;
          return;
        }
        after = this.nextAfter;
      }
      const page = await (this.ahead ?? this.read(after));
      this.ahead = undefined;
      this.pageAfter = after;
      this.nextAfter = page.nextCursor;
      this.buf = page.records;
      this.i = 0;
      if (this.skipThrough !== null) {
        while (this.i < this.buf.length && compareKeys(this.keyAt(this.i)!, this.skipThrough) <= 0) this.i++;
      }
      if (page.nextCursor !== null) this.ahead = this.read(page.nextCursor);
      else if (this.i >= this.buf.length) this.done = true;
    }
  }

  /** A record's key as an orderable Key (the connector keeps raw BSON: Int32, Long, Double). */
  private keyAt(i: number): Key | undefined {
    const r = this.buf[i];
    return r ? keyOrThrow(r.id, `source ${this.collection}`) : undefined;
  }

  peekKey(): Key | undefined {
    return this.keyAt(this.i);
  }

  shift(): SourceItem {
    const key = this.keyAt(this.i)!;
    const r = this.buf[this.i++]!;
    this.check(key);
    return { key, record: r };
  }

  /** The connector cursor to resume from: the page that holds the next unread record. */
  resumeCursor(): string | null {
    return this.i < this.buf.length ? this.pageAfter : this.nextAfter;
  }

  async close(): Promise<void> {
    this.ahead = undefined;
  }
}

/** Thrown when a stop was requested while waiting between chunks. */
export class StopRequested extends AppError {
  constructor() {
    super('stop-requested', 'stop requested');
  }
}

/** Settles with `work`, or rejects with StopRequested as soon as `signal` aborts. */
function unlessStopped<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new StopRequested());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new StopRequested());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The next chunk: up to `max` keys of the merged streams, in key order, each passed through `map`
 * as it is merged. A stop while waiting for the first item throws StopRequested; once a chunk
 * has begun, it is read to its end.
 */
export async function readChunk<R = MergedItem>(
  source: OrderedStream<SourceItem>,
  target: CursorStream,
  max: number,
  stop?: AbortSignal,
  map: (item: MergedItem) => R = (i) => i as R,
): Promise<R[]> {
  const out: R[] = [];
  while (out.length < max) {
    let s = source.peekKey();
    let t = target.peekKey();
    if (s === undefined || t === undefined) {
      const fills: Promise<void>[] = [];
      if (s === undefined) fills.push(source.fill());
      if (t === undefined) fills.push(target.fill());
      const both = Promise.all(fills);
      both.catch(() => undefined);
      if (out.length === 0 && stop) await unlessStopped(both, stop);
      else await both;
      s = source.peekKey();
      t = target.peekKey();
    }
    if (s === undefined && t === undefined) break;
    const c = s === undefined ? 1 : t === undefined ? -1 : compareKeys(s, t);
    if (c < 0) out.push(map({ key: s!, source: source.shift() }));
    else if (c > 0) out.push(map({ key: t!, target: target.shift() }));
    else out.push(map({ key: s!, source: source.shift(), target: target.shift() }));
  }
  return out;
}
