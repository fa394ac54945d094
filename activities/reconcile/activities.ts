import { hostname } from 'node:os';
import { ApplicationFailure, type Context } from '@temporalio/activity';
import type { Collection, Document } from 'mongodb';
import {
  addCounters,
  initialCheckpoint,
  type PartitionCheckpoint,
  type PartitionSpec,
  type ReconcileInput,
  type ReconcilePlan,
  type ReconcileProgress,
} from '../../shared/reconcile';
import { withTimeout } from '../../infra/timeout';
import { Collections } from '../../infra/mongo';
import { createReconcileMetrics } from '../../infra/metrics';
import { currentActivity } from '../activity-context';
import { classifyError, toApplicationFailure } from '../classify-error';
import type { ActivityDeps } from '../deps';
import { compareItem, compareSpilled, tallyChunk, type Finding, type ItemResult, type RepairEntry, type SpilledPair } from './compare';
import { countOf, nonRetryable, openEndpoints } from './endpoints';
import { decodeKey, encodeKey, hashOf, keyId, keyOrThrow, KeyOrderError, rangeFilter, viewOf, type Key } from './keys';
import { FAITHFUL } from '../migrations/copy';
import { createProgressReporter } from './report';
import { applyRepairs } from './repair';
import { repairByRewrite } from './rewrite-repair';
import {
  findSpill,
  newSpillDir,
  pairBucket,
  removeSpill,
  spillBoth,
  spillBucketsFor,
  spillRootOf,
  SpillStopped,
  type SpillManifest,
} from './spill';
import { ReconcileOutcome, scanModeFor } from '../../shared/reconcile';
import {
  chunkDocId,
  chunkErrorId,
  createReconcileStore,
  errorDocId,
  flushDocId,
  pendingDocId,
  type ErrorDoc,
  type PendingDoc,
} from './store';
import { ConnectorStream, CursorStream, DocSourceStream, readChunk, StopRequested, type OrderedStream, type SourceItem } from './stream';
import { createTenantRepository } from '../tenant-sync/registry';
import { InProcessProfiles, reconcileRetryDelayMs } from '../profiles';

// Reconcile activities. One partition = one long-running, heartbeating activity that opens one
// key-ordered cursor per store, cuts the merged stream into chunks and, per chunk, compares,
// stages repairs and records a durable checkpoint (reconcile_chunks) before it heartbeats. A retry
// (killed worker, lost cursor) resumes after the last recorded chunk: at most the chunk in flight
// is redone, and since repairs are applied only between chunks (to keys already passed), the
// redone chunk sees what the first attempt saw — counts stay exact. Cancellation (user cancel,
// or the workflow draining before continue-as-new) stops at the next chunk boundary.

export interface ChunkHookInfo {
  batchId: string;
  partition: number;
  seq: number;
  attempt: number;
}

export interface ReconcileSettings {
  /** Name recorded on each chunk (default host:pid). */
  workerId?: string;
  /** Testing: runs before each chunk attempt; throwing fails that attempt. */
  beforeChunk?: (c: ChunkHookInfo) => Promise<void> | void;
  /** Testing: wraps the target collection a repair flush writes through (to make its writes fail). */
  repairTarget?: (target: Collection<Document>, c: { batchId: string; partition: number }) => Collection<Document>;
  /** Where hashed scans spill (RECONCILE_SPILL_DIR). @default '.data/reconcile-spill' */
  spillDir?: string;
}

export interface PartitionInput {
  input: ReconcileInput;
  partition: PartitionSpec;
  /** The workflow's latest checkpoint for this partition (it may lag: durable records win). */
  resume: PartitionCheckpoint | null;
}

/** Where a partition's chunks come from: merged ordered cursors, or a hashed scan's buckets. */
interface ChunkReader {
  /** Before the first chunk (a hashed scan spills here). */
  prepare(): Promise<void>;
  /** The next chunk's results; empty at the end. */
  next(): Promise<ItemResult[]>;
  /** Checkpoint fields that locate the end of the last chunk read. */
  position(): Partial<PartitionCheckpoint>;
  close(): Promise<void>;
  /** After the partition's last flush. */
  finished?(): Promise<void>;
}

export const DEFAULT_SPILL_DIR = '.data/reconcile-spill';
/** A hashed scan applies its repairs at least this many at a time (`repairBatch` raises it). */
export const HASHED_MIN_REPAIR_BATCH = 10_000;
/** Bound on one repair by rewrite (a day: it is watched by the partition's heartbeats). */
const REWRITE_TIMEOUT_MS = 86_400_000;

export interface PartitionResult {
  partition: number;
  checkpoint: PartitionCheckpoint;
  /** Stopped at a chunk boundary on request (not finished). */
  stopped: boolean;
}

const HEARTBEAT_EVERY_MS = 1_000;
/** A hashed scan's reading progress is reported at most this often (an update costs history). */
const SCAN_REPORT_EVERY_MS = 5_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A per-record finding of chunk `seq` as stored (reconcile_errors); one per key and batch. */
function findingDoc(batchId: string, partition: number, chunk: number, f: Finding): ErrorDoc {
  const doc: ErrorDoc = {
    _id: errorDocId(batchId, f.keyId),
    batchId,
    partition,
    chunk,
    key: f.key,
    outcome: f.outcome,
    action: f.action,
    at: new Date(),
  };
  if (f.message) doc.message = f.message;
  return doc;
}

export function createReconcileActivities(deps: ActivityDeps, settings: ReconcileSettings = {}) {
  const store = createReconcileStore(deps.mongo.db);
  const metrics = createReconcileMetrics();
  const tenants = createTenantRepository(deps.mongo.db, deps.secrets);
  const workerId = settings.workerId ?? `${hostname()}:${process.pid}`;

  /** Every ~count/parts-th key of one `_id`-only scan: the partitions' upper bounds. */
  async function sampleSplits(col: Collection<Document>, parts: number, count: number): Promise<Key[]> {
    if (parts < 2 || count < parts) return [];
    const marks = Array.from({ length: parts - 1 }, (_, i) => Math.floor((count * (i + 1)) / parts) - 1);
    const splits: Key[] = [];
    let i = 0;
    for await (const d of col
      .find({}, { projection: { _id: 1 } })
      .sort({ _id: 1 })
      .batchSize(5_000)) {
      if (i === marks[splits.length]) {
        splits.push(d._id as Key);
        if (splits.length === marks.length) break;
      }
      i += 1;
    }
    return splits;
  }

  async function planReconcile(input: ReconcileInput): Promise<ReconcilePlan> {
    const ep = await openEndpoints(deps, store, tenants, input);
    try {
      const info = await ep.targetClient.db('admin').command({ buildInfo: 1 });
      const backend = 'ferretdbVersion' in info ? 'ferretdb' : 'mongodb';
      const targetCount = await countOf(ep.target);
      const sourceCount = ep.source.kind === 'namespace' ? await countOf(ep.source.col) : null;
      const totalEstimate = Math.max(targetCount, sourceCount ?? 0);
      const o = input.options;
      // A tenant connector pages forward only; FerretDB decodes the whole collection for every
      // range query, so there one partition (one scan per store) beats several.
      const scan = scanModeFor(o, backend, ep.source.kind);
      if (scan === 'hashed' && ep.source.kind === 'tenant')
        throw nonRetryable("scan 'hashed' reads a namespace source; a tenant's records are read through its connector (scan 'ordered')");
      let parts = o.partitions;
      // A hashed scan reads each store whole whatever the partition: one partition, many buckets.
      if (ep.source.kind === 'tenant' || scan === 'hashed') parts = 1;
      else if (parts === 0)
        parts = backend === 'ferretdb' ? 1 : Math.min(o.maxConcurrency * 2, Math.max(1, Math.ceil(totalEstimate / (o.chunkSize * 50))));
      const splits = ep.source.kind === 'namespace' && parts > 1 ? await sampleSplits(ep.source.col, parts, sourceCount ?? 0) : [];
      const bounds = [null, ...splits.map(encodeKey), null];
      const partitions: PartitionSpec[] = bounds
        .slice(1)
        .map((hi, index) =>
          scan === 'hashed'
            ? { index, lo: null, hi: null, scan, buckets: spillBucketsFor(totalEstimate) }
            : { index, lo: bounds[index], hi },
        );
      const plan: ReconcilePlan = { partitions, totalEstimate, sourceCount, targetCount, backend, scan };
      await store.updateBatch(input.batchId, { state: 'running', startedAt: new Date(), plan: { ...plan, partitions: partitions.length } });
      deps.log.info(
        { batchId: input.batchId, correlationId: input.correlationId, partitions: partitions.length, totalEstimate, backend, scan },
        'reconcile planned',
      );
      return plan;
    } finally {
      await ep.close();
    }
  }

  async function reconcilePartition({ input, partition, resume }: PartitionInput): Promise<PartitionResult> {
    const ctx: Context | undefined = currentActivity();
    const o = input.options;
    const b = input.batchId;
    const p = partition.index;
    const attempt = ctx?.info.attempt ?? 1;
    const log = deps.log.child({ batchId: b, correlationId: input.correlationId, partition: p, attempt, worker: workerId });
    const heartbeatCp = ctx?.info.heartbeatDetails as PartitionCheckpoint | undefined;
    const start = [resume, heartbeatCp].reduce<PartitionCheckpoint>((best, c) => (c && c.seq > best.seq ? c : best), initialCheckpoint());
    const state = { cp: await store.catchUp(b, p, start) };
    if (state.cp.finished) return { partition: p, checkpoint: state.cp, stopped: false };
    const resumedAt = state.cp.seq;
    if (resumedAt > 0 || attempt > 1)
      log.info(
        { seq: state.cp.seq, heartbeatSeq: heartbeatCp?.seq ?? null, workflowSeq: resume?.seq ?? null },
        'resuming partition from checkpoint',
      );

    // Repairs staged by an earlier attempt: those of the chunk it did not finish are staged
    // again when it is redone; the rest are applied now unless a recorded flush already did.
    await store.dropPending(b, p, state.cp.seq - 1);
    let pending: RepairEntry[] = [];
    if (state.cp.flushedAt !== state.cp.seq) {
      pending = (await store.loadPending(b, p)).map((d) => ({
        key: d.key as Key,
        keyId: d.keyId,
        op: d.op,
        observedHash: d.observedHash,
        sourceHash: d.sourceHash,
        doc: d.doc,
        redo: true,
      }));
    } else {
      await store.dropPending(b, p);
      await store.dropUndo(b, p);
    }

    // Stop at the next chunk boundary when Temporal cancels the activity (run cancelled) or the
    // workflow refuses a progress report (draining before continue-as-new, or cancelled).
    const halt = new AbortController();
    const stop = halt.signal;
    ctx?.cancellationSignal.addEventListener('abort', () => halt.abort(), { once: true });
    const report = createProgressReporter({
      ctx,
      partition: p,
      workerId,
      intervalMs: o.progressIntervalMs,
      halt,
      snapshot: () => state.cp,
      log,
    });
    const ep = await openEndpoints(deps, store, tenants, input);
    const heartbeat = ctx ? setInterval(() => ctx.heartbeat(state.cp), HEARTBEAT_EVERY_MS) : undefined;
    const backoff = (n: number) => reconcileRetryDelayMs(o.retryDelay, n);
    const compareSettings = { dryRun: o.dryRun, extras: o.extras, batchId: b, tenantMode: input.source.kind === 'tenant', now: new Date() };
    const hashed = partition.scan === 'hashed';
    const sourceCol = ep.source.kind === 'namespace' ? ep.source.col : undefined;
    if (hashed && !sourceCol) throw nonRetryable("scan 'hashed' reads a namespace source");
    const reader = hashed ? hashedReader() : orderedReader();
    // Repairs by rewrite: staged through the whole compare, applied once at the end (rewrite-repair.ts).
    const rewrite = hashed && !o.dryRun && o.repairMode === 'rewrite';
    const rewriteJournal = {
      get: async () => (await store.getBatch(b))?.rewriteTemp ?? null,
      set: (name: string | null) => store.updateBatch(b, { rewriteTemp: name }),
    };
    // Each flush of a hashed scan reads both stores by `$in` (a full scan on FerretDB): fewer, larger ones.
    const repairBatch = hashed ? Math.max(o.repairBatch, HASHED_MIN_REPAIR_BATCH) : o.repairBatch;

    /** Key-ordered cursors merged (MongoDB; tenant connectors): chunks cut from the merged stream. */
    function orderedReader(): ChunkReader {
      const lo = state.cp.lastKey !== null ? decodeKey(state.cp.lastKey) : partition.lo !== null ? decodeKey(partition.lo) : null;
      const hi = partition.hi !== null ? decodeKey(partition.hi) : null;
      const batchSize = 2_000;
      // As stored (FAITHFUL): a repair writes the source record with its BSON types (1.0 stays a double).
      const target = new CursorStream(
        ep.target.find(rangeFilter(lo, hi), FAITHFUL).sort({ _id: 1 }).batchSize(batchSize),
        `target ${input.target.collection}`,
      );
      let connectorStream: ConnectorStream | undefined;
      let source: OrderedStream<SourceItem>;
      if (ep.source.kind === 'namespace') {
        source = new DocSourceStream(
          new CursorStream(
            ep.source.col.find(rangeFilter(lo, hi), FAITHFUL).sort({ _id: 1 }).batchSize(batchSize),
            `source ${ep.source.col.collectionName}`,
          ),
        );
      } else {
        connectorStream = new ConnectorStream(
          ep.source.connector,
          ep.source.collection,
          Math.min(5_000, Math.max(500, o.chunkSize)),
          state.cp.sourceCursor ?? null,
          lo,
        );
        source = connectorStream;
      }
      return {
        prepare: async () => undefined,
        next: () => readChunk(source, target, o.chunkSize, stop, (item) => compareItem(item, compareSettings)),
        position: () => (connectorStream ? { sourceCursor: connectorStream.resumeCursor() } : {}),
        close: async () => {
          await Promise.allSettled([source.close(), target.close()]);
        },
      };
    }

    /**
     * Both stores read once in natural order into hash buckets on this worker's disk, then compared
     * bucket by bucket (FerretDB). A spill another attempt finished on this host is reused; else
     * it is rebuilt (a killed spill is read again whole). Chunks are slices of a bucket in key-ID
     * order, so a checkpoint is (bucket, last key ID).
     */
    function hashedReader(): ChunkReader {
      const pDir = spillRootOf(settings.spillDir ?? DEFAULT_SPILL_DIR, b, p);
      const buckets = partition.buckets ?? 1;
      let manifest: SpillManifest | null = null;
      let bucket = state.cp.spill?.bucket ?? 0;
      let after = state.cp.spill?.after ?? null;
      let rows: SpilledPair[] | null = null;
      let i = 0;
      let at: { bucket: number; after: string | null } = { bucket, after };
      return {
        async prepare() {
          manifest = await findSpill(pDir, b, buckets);
          const of = (await countOf(sourceCol!)) + (await countOf(ep.target));
          if (!manifest) {
            if (state.cp.seq > 0 || attempt > 1) log.info({ buckets }, 'no finished spill on this host: reading both stores again');
            const started = Date.now();
            let lastScanReport = 0;
            state.cp = { ...state.cp, scan: { read: 0, of, done: false } };
            manifest = await spillBoth({
              dir: await newSpillDir(pDir, attempt),
              batchId: b,
              partition: p,
              buckets,
              source: sourceCol!.find({}).batchSize(2_000),
              target: ep.target.find({}).batchSize(2_000),
              onRead: (read) => {
                state.cp = { ...state.cp, scan: { read, of: Math.max(of, read), done: false } };
                if (Date.now() - lastScanReport >= SCAN_REPORT_EVERY_MS) {
                  lastScanReport = Date.now();
                  void report(true);
                }
              },
              // Only a cancel stops the read: a drain waits for its end (the next run reuses the spill).
              ...(ctx ? { stop: ctx.cancellationSignal } : {}),
            });
            log.info({ buckets, ...manifest.records, ms: Date.now() - started }, 'spill finished: comparing bucket by bucket');
          } else {
            log.info({ buckets, ...manifest.records }, 'reusing the spill an earlier attempt finished on this host');
          }
          const read = manifest.records.source + manifest.records.target;
          state.cp = { ...state.cp, scan: { read, of: Math.max(of, read), done: true } };
          ctx?.heartbeat(state.cp);
        },
        async next() {
          for (;;) {
            if (rows === null) {
              if (bucket >= buckets) return [];
              rows = await pairBucket(manifest!.dir, bucket);
              i = 0;
              if (after !== null) {
                const skip = after;
                while (i < rows.length && rows[i]!.id <= skip) i++;
                after = null;
              }
            }
            if (i < rows.length) break;
            rows = null;
            bucket += 1;
          }
          const slice = rows.slice(i, i + o.chunkSize);
          i += slice.length;
          at = { bucket, after: slice.at(-1)!.id };
          return slice.map((r) => compareSpilled(r, compareSettings));
        },
        position: () => ({ spill: at }),
        close: async () => undefined,
        async finished() {
          await removeSpill(pDir);
        },
      };
    }

    /**
     * Source records the staged repairs write (hashed scans spill no records): one `$in` read per
     * flush — on FerretDB every `_id` lookup scans the table, one key or a thousand (README).
     */
    async function withSourceDocs(entries: RepairEntry[]): Promise<{ ready: RepairEntry[]; gone: RepairEntry[] }> {
      const wanted = entries.filter((e) => e.op !== 'delete' && !e.doc);
      if (!hashed || wanted.length === 0) return { ready: entries, gone: [] };
      const found = new Map<string, Document>();
      // As stored: a repair writes the source record with its BSON types (1.0 stays a double).
      for await (const d of sourceCol!.find({ _id: { $in: wanted.map((e) => e.key) } } as Document, { ...FAITHFUL, batchSize: 2_000 }))
        found.set(keyId(keyOrThrow(d._id, 'source')), d);
      const ready: RepairEntry[] = [];
      const gone: RepairEntry[] = [];
      for (const e of entries) {
        const doc = e.op === 'delete' || e.doc ? e.doc : found.get(e.keyId);
        if (e.op === 'delete' || e.doc) ready.push(e);
        else if (!doc) gone.push(e);
        else ready.push({ ...e, doc, sourceHash: hashOf(viewOf(doc)) });
      }
      return { ready, gone };
    }

    /** Applies the staged repairs; retried like a chunk, then recorded as failed records. */
    async function flush(): Promise<void> {
      const entries = pending;
      const seq = state.cp.seq - 1;
      const started = Date.now();
      let delta: { repaired: number; conflicts: number; failed: number };
      let findings: ErrorDoc[];
      let stats: Record<string, number> = {};
      const undo = store.undoLog(b, p);
      const repairTarget = settings.repairTarget?.(ep.target, { batchId: b, partition: p }) ?? ep.target;
      for (let n = 1; ; n++) {
        try {
          // A retry may follow an attempt that applied part of the batch: check every entry first.
          const batch = n === 1 ? entries : entries.map((e) => ({ ...e, redo: true }));
          const r = await withTimeout(
            `repair flush after chunk ${seq}`,
            // A rewrite reads both stores and writes the whole target: bounded by heartbeats, not a clock.
            rewrite ? REWRITE_TIMEOUT_MS : Math.max(o.timeoutPerChunk, InProcessProfiles.reconcileFlush.minTimeoutMs),
            async () => {
              if (rewrite) {
                log.info({ repairs: batch.length }, 'applying the repairs by rewriting the target');
                return repairByRewrite({
                  db: ep.target.db,
                  target: repairTarget,
                  source: sourceCol!,
                  entries: batch,
                  journal: rewriteJournal,
                });
              }
              const { ready, gone } = await withSourceDocs(batch);
              const res = await applyRepairs(repairTarget, ready, undo);
              // Deleted from the source since the compare: nothing to write, listed as a conflict.
              for (const e of gone) {
                res.conflicts += 1;
                res.findings.push({
                  key: e.key,
                  keyId: e.keyId,
                  outcome: e.op === 'insert' ? ReconcileOutcome.missingInTarget : ReconcileOutcome.mismatched,
                  action: 'conflict',
                  message: 'the source record was deleted since it was compared',
                });
              }
              return res;
            },
          );
          delta = { repaired: r.repaired, conflicts: r.conflicts, failed: r.failed };
          findings = r.findings.map((f) => findingDoc(b, p, seq, f));
          stats = { inserted: r.inserted, deleted: r.deleted, restored: r.restored, alreadyApplied: r.alreadyApplied };
          break;
        } catch (err) {
          if (n > o.retryAttempts) {
            const message = err instanceof Error ? err.message : String(err);
            // Records deleted and not confirmed replaced: the staged repairs and their copies stay,
            // and the partition's retry (Temporal's, or a resumed run) finishes or restores them.
            const kept = await store.countUndo(b, p);
            // A rewrite whose sibling may be the only complete copy (between the drop and the rename): never given up.
            if (rewrite && (await rewriteJournal.get())) throw err;
            if (kept > 0) {
              log.error(
                { err: message, records: entries.length, kept },
                'repair flush failed with deleted records not yet replaced; retrying the partition',
              );
              throw err;
            }
            log.error({ err: message, records: entries.length }, 'repair flush failed; its records are recorded as failed');
            delta = { repaired: 0, conflicts: 0, failed: entries.length };
            findings = entries.map((e) => ({
              _id: errorDocId(b, e.keyId),
              batchId: b,
              partition: p,
              chunk: seq,
              key: e.key,
              action: 'failed',
              errorType: classifyError(err),
              message: message.slice(0, 300),
              at: new Date(),
            }));
            break;
          }
          log.warn({ err: String(err), try: n }, 'repair flush failed; retrying');
          await sleep(backoff(n));
        }
      }
      await store.insertErrors(findings);
      await store.recordChunk({
        _id: flushDocId(b, p, seq),
        kind: 'flush',
        batchId: b,
        partition: p,
        seq,
        state: 'done',
        records: entries.length,
        delta: { ...delta, ...stats },
        worker: workerId,
        attempt,
        durationMs: Date.now() - started,
        at: new Date(),
      });
      state.cp = { ...state.cp, counters: addCounters(state.cp.counters, delta), flushedAt: state.cp.seq };
      await store.dropPending(b, p);
      await store.dropUndo(b, p);
      pending = [];
      ctx?.heartbeat(state.cp);
    }

    /** Compares one chunk and records it; retried with backoff, then recorded as a failed chunk. */
    async function processChunk(items: ItemResult[]): Promise<void> {
      const seq = state.cp.seq;
      const started = Date.now();
      const firstKey = encodeKey(items[0]!.key);
      const lastKey = encodeKey(items.at(-1)!.key);
      const cmp = tallyChunk(items);
      const next: PartitionCheckpoint = {
        ...state.cp,
        ...reader.position(),
        seq: seq + 1,
        lastKey,
        counters: addCounters(state.cp.counters, cmp.counts),
      };
      const findings: ErrorDoc[] = cmp.findings.map((f) => findingDoc(b, p, seq, f));
      const staged: PendingDoc[] = cmp.repairs.map((r) => ({
        _id: pendingDocId(b, p, r.keyId),
        batchId: b,
        partition: p,
        seq,
        key: r.key,
        keyId: r.keyId,
        op: r.op,
        observedHash: r.observedHash,
        sourceHash: r.sourceHash,
        doc: r.doc,
      }));
      const resumed = seq === resumedAt && (resumedAt > 0 || attempt > 1);
      for (let n = 1; ; n++) {
        try {
          await withTimeout(`chunk ${seq}`, o.timeoutPerChunk, async () => {
            await settings.beforeChunk?.({ batchId: b, partition: p, seq, attempt: n });
            await store.insertErrors(findings);
            await store.stagePending(staged);
            await store.recordChunk({
              _id: chunkDocId(b, p, seq),
              kind: 'chunk',
              batchId: b,
              partition: p,
              seq,
              state: 'done',
              records: items.length,
              delta: cmp.counts,
              checkpoint: next,
              firstKey,
              lastKey,
              worker: workerId,
              attempt,
              resumed,
              durationMs: Date.now() - started,
              at: new Date(),
            });
          });
          state.cp = next;
          pending.push(...cmp.repairs);
          metrics.chunks.add(1, { outcome: 'done' });
          for (const outcome of ['matched', 'missing', 'extra', 'mismatched'] as const)
            if (cmp.counts[outcome]) metrics.records.add(cmp.counts[outcome], { outcome });
          return;
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          if (n > o.retryAttempts) {
            log.error({ seq, err: message, records: items.length }, 'chunk failed after retries; recorded, run goes on');
            const failed: PartitionCheckpoint = {
              ...state.cp,
              ...reader.position(),
              seq: seq + 1,
              lastKey,
              counters: addCounters(state.cp.counters, { processed: items.length, failed: items.length, chunksFailed: 1 }),
            };
            await store.dropPendingSeq(b, p, seq);
            await store.insertErrors([
              {
                _id: chunkErrorId(b, p, seq),
                batchId: b,
                partition: p,
                chunk: seq,
                action: 'chunk_failed',
                errorType: classifyError(err),
                message: message.slice(0, 500),
                firstKey,
                lastKey,
                records: items.length,
                at: new Date(),
              },
            ]);
            await store.recordChunk({
              _id: chunkDocId(b, p, seq),
              kind: 'chunk',
              batchId: b,
              partition: p,
              seq,
              state: 'failed',
              records: items.length,
              delta: { processed: items.length, failed: items.length, chunksFailed: 1 },
              checkpoint: failed,
              firstKey,
              lastKey,
              worker: workerId,
              attempt,
              resumed,
              error: message.slice(0, 500),
              durationMs: Date.now() - started,
              at: new Date(),
            });
            state.cp = failed;
            metrics.chunks.add(1, { outcome: 'failed' });
            metrics.records.add(items.length, { outcome: 'failed' });
            return;
          }
          log.warn({ seq, err: message, try: n }, 'chunk failed; retrying');
          await sleep(backoff(n));
        }
      }
    }

    let stopped = false;
    try {
      if (pending.length && !rewrite) await flush();
      try {
        await reader.prepare();
      } catch (err) {
        if (!(err instanceof SpillStopped)) throw err;
        stopped = true;
      }
      for (;;) {
        if (stopped) break;
        if (stop.aborted) {
          stopped = true;
          break;
        }
        let items;
        try {
          items = await reader.next();
        } catch (err) {
          if (err instanceof StopRequested) {
            stopped = true;
            break;
          }
          throw err;
        }
        if (items.length === 0) break;
        await processChunk(items);
        ctx?.heartbeat(state.cp);
        void report(false);
        if (!rewrite && pending.length >= repairBatch) await flush();
      }
      if (!stopped) {
        // A rewrite takes minutes at scale: the compare's full counts are shown before it starts.
        if (rewrite && pending.length) await report(true);
        if (pending.length) await flush();
        state.cp = { ...state.cp, finished: true };
        ctx?.heartbeat(state.cp);
        await reader.finished?.();
      }
      await report(true);
      log.info(
        { seq: state.cp.seq, stopped, ...state.cp.counters },
        stopped ? 'partition stopped at a chunk boundary' : 'partition finished',
      );
      return { partition: p, checkpoint: state.cp, stopped };
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      const failure = toApplicationFailure(err);
      const seq = state.cp.seq;
      if (!(err instanceof KeyOrderError)) log.warn({ errorType: failure.type, err: failure.message, seq }, 'partition attempt failed');
      throw failure;
    } finally {
      if (heartbeat) clearInterval(heartbeat);
      await reader.close();
      await ep.close();
    }
  }

  /** Records the final result; repairs still staged (a cancelled run) are dropped. Idempotent. */
  async function finishReconcile(args: { batchId: string; result: ReconcileProgress }): Promise<void> {
    const { batchId, result } = args;
    await store.dropPending(batchId, undefined);
    // A cancelled or failed hashed scan's spill, if it is on this host (each host's own otherwise).
    await removeSpill(spillRootOf(settings.spillDir ?? DEFAULT_SPILL_DIR, batchId)).catch(() => undefined);
    // Copies of records a failed repair deleted and could not put back are the records themselves: kept.
    const kept = await store.countUndo(batchId);
    if (kept > 0)
      deps.log.error(
        { batchId, kept, collection: Collections.reconcileUndo },
        'reconcile finished with deleted records kept only as undo copies',
      );
    await store.updateBatch(batchId, {
      state: result.state,
      finishedAt: result.finishedAt ? new Date(result.finishedAt) : new Date(),
      result,
    });
    deps.log.info(
      {
        batchId,
        correlationId: result.correlationId,
        state: result.state,
        processed: result.processed,
        repaired: result.repaired,
        failed: result.failed,
        elapsedMs: result.elapsedMs,
      },
      'reconcile finished',
    );
  }

  return { planReconcile, reconcilePartition, finishReconcile };
}

export type ReconcileActivities = ReturnType<typeof createReconcileActivities>;
