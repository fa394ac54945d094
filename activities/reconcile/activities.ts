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
import { compareItem, tallyChunk, type Finding, type ItemResult, type RepairEntry } from './compare';
import { countOf, openEndpoints } from './endpoints';
import { decodeKey, encodeKey, KeyOrderError, rangeFilter, type Key } from './keys';
import { createProgressReporter } from './report';
import { applyRepairs } from './repair';
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
}

export interface PartitionInput {
  input: ReconcileInput;
  partition: PartitionSpec;
  /** The workflow's latest checkpoint for this partition (it may lag: durable records win). */
  resume: PartitionCheckpoint | null;
}

export interface PartitionResult {
  partition: number;
  checkpoint: PartitionCheckpoint;
  /** Stopped at a chunk boundary on request (not finished). */
  stopped: boolean;
}

const HEARTBEAT_EVERY_MS = 1_000;
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
      let parts = o.partitions;
      if (ep.source.kind === 'tenant') parts = 1;
      else if (parts === 0)
        parts = backend === 'ferretdb' ? 1 : Math.min(o.maxConcurrency * 2, Math.max(1, Math.ceil(totalEstimate / (o.chunkSize * 50))));
      const splits = ep.source.kind === 'namespace' && parts > 1 ? await sampleSplits(ep.source.col, parts, sourceCount ?? 0) : [];
      const bounds = [null, ...splits.map(encodeKey), null];
      const partitions: PartitionSpec[] = bounds.slice(1).map((hi, index) => ({ index, lo: bounds[index], hi }));
      const plan: ReconcilePlan = { partitions, totalEstimate, sourceCount, targetCount, backend };
      await store.updateBatch(input.batchId, { state: 'running', startedAt: new Date(), plan: { ...plan, partitions: partitions.length } });
      deps.log.info(
        { batchId: input.batchId, correlationId: input.correlationId, partitions: partitions.length, totalEstimate, backend },
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
    const lo = state.cp.lastKey !== null ? decodeKey(state.cp.lastKey) : partition.lo !== null ? decodeKey(partition.lo) : null;
    const hi = partition.hi !== null ? decodeKey(partition.hi) : null;
    const ep = await openEndpoints(deps, store, tenants, input);
    const heartbeat = ctx ? setInterval(() => ctx.heartbeat(state.cp), HEARTBEAT_EVERY_MS) : undefined;
    const batchSize = 2_000;
    const target = new CursorStream(
      ep.target.find(rangeFilter(lo, hi)).sort({ _id: 1 }).batchSize(batchSize),
      `target ${input.target.collection}`,
    );
    let connectorStream: ConnectorStream | undefined;
    let source: OrderedStream<SourceItem>;
    if (ep.source.kind === 'namespace') {
      source = new DocSourceStream(
        new CursorStream(
          ep.source.col.find(rangeFilter(lo, hi)).sort({ _id: 1 }).batchSize(batchSize),
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

    const backoff = (n: number) => reconcileRetryDelayMs(o.retryDelay, n);
    const compareSettings = { dryRun: o.dryRun, extras: o.extras, batchId: b, tenantMode: input.source.kind === 'tenant', now: new Date() };

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
            Math.max(o.timeoutPerChunk, InProcessProfiles.reconcileFlush.minTimeoutMs),
            () => applyRepairs(repairTarget, batch, undo),
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
      const next: PartitionCheckpoint = { ...state.cp, seq: seq + 1, lastKey, counters: addCounters(state.cp.counters, cmp.counts) };
      if (connectorStream) next.sourceCursor = connectorStream.resumeCursor();
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
              seq: seq + 1,
              lastKey,
              counters: addCounters(state.cp.counters, { processed: items.length, failed: items.length, chunksFailed: 1 }),
            };
            if (connectorStream) failed.sourceCursor = connectorStream.resumeCursor();
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
      if (pending.length) await flush();
      for (;;) {
        if (stop.aborted) {
          stopped = true;
          break;
        }
        let items;
        try {
          items = await readChunk(source, target, o.chunkSize, stop, (item) => compareItem(item, compareSettings));
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
        if (pending.length >= o.repairBatch) await flush();
      }
      if (!stopped) {
        if (pending.length) await flush();
        state.cp = { ...state.cp, finished: true };
        ctx?.heartbeat(state.cp);
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
      await Promise.allSettled([source.close(), target.close()]);
      await ep.close();
    }
  }

  /** Records the final result; repairs still staged (a cancelled run) are dropped. Idempotent. */
  async function finishReconcile(args: { batchId: string; result: ReconcileProgress }): Promise<void> {
    const { batchId, result } = args;
    await store.dropPending(batchId, undefined);
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
