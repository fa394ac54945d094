import { MongoBulkWriteError, MongoServerError, type Collection, type Db, type Document, type Filter } from 'mongodb';
import { Collections } from '../../infra/mongo';
import type { Page, PageRequest } from '../../shared/paging';
import { pageById } from '../records/paging';
import { redactConnectionDetails } from '../../shared/redact';
import {
  addCounters,
  type NamespaceRef,
  type PartitionCheckpoint,
  type ReconcileCounters,
  type ReconcileInput,
  type ReconcileOptions,
  type ReconcilePlan,
  type ReconcileProgress,
  type ReconcileSourceRef,
  type ReconcileState,
} from '../../shared/reconcile';

// reconcile_batches (one per run: spec, secrets, plan, final result), reconcile_chunks (one
// per chunk: the durable checkpoint after it; plus one per repair flush), reconcile_errors
// (per-record findings and failures, cursor-paged) and reconcile_pending (repairs staged
// until their flush). IDs are deterministic, so a redone chunk or flush rewrites nothing.
// Everything is insert-only or a point access by _id, except the small pending set.

export interface BatchDoc {
  _id: string;
  correlationId: string;
  workflowId: string;
  state: ReconcileState;
  source: ReconcileSourceRef;
  target: NamespaceRef;
  options: ReconcileOptions;
  /** Hash of source, target and options: a repeated start with the same batchId is idempotent. */
  specHash: string;
  /** Connection strings of external namespaces, sealed (reconcile-secrets.ts); never returned by the API or logged. */
  secrets?: { sourceUri?: string; targetUri?: string };
  createdAt: Date;
  /** A delayed start: its workflow's first task is not dispatched before this. */
  notBefore?: Date;
  startedAt?: Date;
  finishedAt?: Date;
  plan?: Omit<ReconcilePlan, 'partitions'> & { partitions: number };
  result?: ReconcileProgress;
  /** A repair by rewrite between its sibling's completion and the swap: the sibling's name (rewrite-repair.ts). */
  rewriteTemp?: string | null;
  /** Token subject that started it ('unknown' on batches from before audit fields; 'cli'/'bench' off the API). */
  createdBy?: string;
  /** BATCH_SCHEMA_VERSION when written; absent on batches from before versions (migration 20261202000100). */
  _schemaVersion?: number;
}

/** Shape version of a reconcile_batches document this code writes. */
export const BATCH_SCHEMA_VERSION = 1;

/** Filters of GET /api/reconcile. */
export interface BatchFilter {
  state?: ReconcileState;
  /** Batches whose source is this tenant. */
  tenantId?: string;
  /** Only tenant batches of these tenants (a token without the platform reach); absent: all. */
  onlyTenants?: readonly string[];
  /** What the filter cannot say: the token's reach of each batch (api/services/reconcile/access.ts). */
  visible?: (b: BatchDoc) => boolean;
}

export interface ChunkDoc {
  _id: string;
  kind: 'chunk' | 'flush';
  batchId: string;
  partition: number;
  seq: number;
  state: 'done' | 'failed';
  records: number;
  /** Counters of this chunk (or flush) alone. */
  delta: Partial<ReconcileCounters>;
  /** The partition's checkpoint right after this chunk (chunks only). */
  checkpoint?: PartitionCheckpoint;
  firstKey?: unknown;
  lastKey?: unknown;
  worker: string;
  attempt: number;
  resumed?: boolean;
  error?: string;
  durationMs: number;
  at: Date;
}

export type FindingAction = 'reported' | 'flagged' | 'conflict' | 'failed' | 'chunk_failed';

export interface ErrorDoc {
  _id: string;
  batchId: string;
  partition: number;
  chunk: number;
  /** The record's key (absent for a chunk failure). */
  key?: unknown;
  outcome?: string;
  action: FindingAction;
  errorType?: string;
  message?: string;
  firstKey?: unknown;
  lastKey?: unknown;
  records?: number;
  at: Date;
}

export type RepairOp = 'insert' | 'replace' | 'delete';

export interface PendingDoc {
  _id: string;
  batchId: string;
  partition: number;
  seq: number;
  key: unknown;
  keyId: string;
  op: RepairOp;
  observedHash?: string;
  sourceHash?: string;
  doc?: Document;
}

/** A record as it was before a repair deleted it (reconcile_undo; see reconcile-repair.ts). */
export interface UndoDoc {
  _id: string;
  batchId: string;
  partition: number;
  key: unknown;
  keyId: string;
  doc: Document;
}

const DUPLICATE_KEY = 11000;
const pad = (n: number, w: number) => String(n).padStart(w, '0');

export const chunkDocId = (batchId: string, partition: number, seq: number) => `${batchId}|${pad(partition, 3)}|${pad(seq, 9)}`;
export const flushDocId = (batchId: string, partition: number, seq: number) => `${chunkDocId(batchId, partition, seq)}|flush`;
export const errorDocId = (batchId: string, keyId: string) => `${batchId}|${keyId}`;
export const chunkErrorId = (batchId: string, partition: number, seq: number) => `${batchId}|~chunk|${pad(partition, 3)}|${pad(seq, 9)}`;
export const pendingDocId = (batchId: string, partition: number, keyId: string) => `${batchId}|${pad(partition, 3)}|${keyId}`;

interface WriteFailure {
  index: number;
  code?: number;
  message: string;
}

function firstWriteError(err: unknown): WriteFailure | undefined {
  if (err instanceof MongoBulkWriteError) {
    const list = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    if (list.length === 0) return undefined;
    const first = list.reduce((min, e) => (e.index < min.index ? e : min), list[0]!);
    return { index: first.index, code: first.code, message: first.errmsg ?? err.message };
  }
  if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) return { index: 0, code: DUPLICATE_KEY, message: err.message };
  return undefined;
}

export interface InsertOutcome {
  inserted: number;
  /** Indexes of documents whose _id already existed. */
  duplicates: number[];
  /** Indexes of documents the server refused for another reason (only with `tolerate`). */
  failures: WriteFailure[];
}

/**
 * Inserts in order, stepping over rejected documents: FerretDB stops at the first error whatever
 * `ordered` says, so after a failure at i the documents before i are in and the rest is resent.
 */
export async function insertStepping(col: Collection<Document>, docs: readonly Document[], tolerate = false): Promise<InsertOutcome> {
  const out: InsertOutcome = { inserted: 0, duplicates: [], failures: [] };
  let from = 0;
  while (from < docs.length) {
    try {
      await col.insertMany(docs.slice(from) as Document[], { ordered: true });
      out.inserted += docs.length - from;
      break;
    } catch (err) {
      const first = firstWriteError(err);
      if (!first || (first.code !== DUPLICATE_KEY && !tolerate)) throw err;
      out.inserted += first.index;
      const at = from + first.index;
      if (first.code === DUPLICATE_KEY) out.duplicates.push(at);
      else out.failures.push({ ...first, index: at });
      from = at + 1;
    }
  }
  return out;
}

export function createReconcileStore(db: Db) {
  const batches = db.collection<BatchDoc>(Collections.reconcileBatches);
  const chunks = db.collection<ChunkDoc>(Collections.reconcileChunks);
  const errors = db.collection<ErrorDoc>(Collections.reconcileErrors);
  const pending = db.collection<PendingDoc>(Collections.reconcilePending);
  const undo = db.collection<UndoDoc>(Collections.reconcileUndo);
  const asDocs = <T extends Document>(c: Collection<T>) => c as unknown as Collection<Document>;

  return {
    batches,
    chunks,
    errors,
    pending,
    getBatch: (batchId: string) => batches.findOne({ _id: batchId }),
    /** One page of batches in batch-ID order, secrets left out; no total (batches grow without bound). */
    listBatches(req: PageRequest, f: BatchFilter): Promise<Page<BatchDoc>> {
      const filter: Filter<BatchDoc> = {};
      if (f.state) filter.state = f.state;
      if (f.tenantId !== undefined || f.onlyTenants) filter['source.kind'] = 'tenant';
      if (f.tenantId !== undefined) filter['source.tenantId'] = f.tenantId;
      else if (f.onlyTenants) filter['source.tenantId'] = { $in: [...f.onlyTenants] };
      return pageById(batches, filter, req, { projection: { secrets: 0 }, ...(f.visible ? { accept: f.visible } : {}) });
    },
    /** Inserts the batch; false when one with this ID exists. */
    async createBatch(doc: BatchDoc): Promise<boolean> {
      const res = await insertStepping(asDocs(batches), [doc]);
      return res.inserted === 1;
    },
    async updateBatch(batchId: string, set: Partial<BatchDoc>): Promise<void> {
      await batches.updateOne({ _id: batchId }, { $set: set });
    },
    async recordChunk(doc: ChunkDoc): Promise<void> {
      await insertStepping(asDocs(chunks), [doc.error ? { ...doc, error: redactConnectionDetails(doc.error) } : doc]);
    },
    getChunk: (batchId: string, partition: number, seq: number) => chunks.findOne({ _id: chunkDocId(batchId, partition, seq) }),
    getFlush: (batchId: string, partition: number, seq: number) => chunks.findOne({ _id: flushDocId(batchId, partition, seq) }),

    /**
     * The newest durable checkpoint at or after `from`: chunk documents are probed forward by _id
     * (the heartbeat or the workflow may lag behind), then a flush recorded after the last chunk
     * is added once.
     */
    async catchUp(batchId: string, partition: number, from: PartitionCheckpoint): Promise<PartitionCheckpoint> {
      let cp = from;
      for (;;) {
        const next = await chunks.findOne({ _id: chunkDocId(batchId, partition, cp.seq) });
        if (!next?.checkpoint) break;
        cp = next.checkpoint;
      }
      if (cp.seq > 0 && cp.flushedAt !== cp.seq) {
        const flush = await chunks.findOne({ _id: flushDocId(batchId, partition, cp.seq - 1) });
        if (flush) cp = { ...cp, counters: addCounters(cp.counters, flush.delta), flushedAt: cp.seq };
      }
      return cp;
    },

    async insertErrors(docs: ErrorDoc[]): Promise<void> {
      // Messages may quote servers the worker tried: stored without their connection details.
      if (docs.length)
        await insertStepping(
          asDocs(errors),
          docs.map((d) => (d.message ? { ...d, message: redactConnectionDetails(d.message) } : d)),
        );
    },
    /** One page of a batch's findings in _id order; `after` is the last _id of the previous page. */
    async listErrors(batchId: string, after: string | undefined, limit: number): Promise<{ items: ErrorDoc[]; nextCursor: string | null }> {
      const lower = after && after.startsWith(`${batchId}|`) ? after : `${batchId}|`;
      const docs = await errors
        .find({ _id: { $gt: lower, $lt: `${batchId}}` } })
        .sort({ _id: 1 })
        .limit(limit + 1)
        .toArray();
      const items = docs.slice(0, limit);
      return { items, nextCursor: docs.length > limit ? items.at(-1)!._id : null };
    },

    async stagePending(docs: PendingDoc[]): Promise<void> {
      if (docs.length) await insertStepping(asDocs(pending), docs);
    },
    loadPending: (batchId: string, partition: number) => pending.find({ batchId, partition }).toArray(),
    async dropPending(batchId: string, partition: number | undefined, seqAbove?: number): Promise<void> {
      const filter: Document = { batchId };
      if (partition !== undefined) filter.partition = partition;
      if (seqAbove !== undefined) filter.seq = { $gt: seqAbove };
      await pending.deleteMany(filter);
    },
    async dropPendingSeq(batchId: string, partition: number, seq: number): Promise<void> {
      await pending.deleteMany({ batchId, partition, seq });
    },

    /** The undo log of one partition's repair flush: copies by _id, dropped once the flush is recorded. */
    undoLog(batchId: string, partition: number) {
      return {
        async save(copies: Array<Pick<UndoDoc, 'key' | 'keyId' | 'doc'>>): Promise<void> {
          const docs = copies.map((c) => ({
            _id: pendingDocId(batchId, partition, c.keyId),
            batchId,
            partition,
            key: c.key,
            keyId: c.keyId,
            doc: c.doc,
          }));
          await insertStepping(asDocs(undo), docs);
        },
        async load(keyIds: string[]): Promise<Map<string, Document>> {
          const out = new Map<string, Document>();
          for (const keyId of keyIds) {
            const d = await undo.findOne({ _id: pendingDocId(batchId, partition, keyId) });
            if (d) out.set(keyId, d.doc);
          }
          return out;
        },
      };
    },
    /** Copies still kept: records a repair deleted and has not confirmed replaced (or put back). */
    countUndo: (batchId: string, partition?: number) => undo.countDocuments(partition === undefined ? { batchId } : { batchId, partition }),
    async dropUndo(batchId: string, partition: number): Promise<void> {
      await undo.deleteMany({ batchId, partition });
    },
  };
}

export type ReconcileStore = ReturnType<typeof createReconcileStore>;

/** The public part of an input, for the batch document. */
export type BatchSpec = Pick<ReconcileInput, 'source' | 'target' | 'options'>;
