import {
  allHandlersFinished,
  CancellationScope,
  CancelledFailure,
  condition,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  addCounters,
  finalStateOf,
  MAX_UPDATES_PER_RUN,
  partitionProgressUpdate,
  PROGRESS_LOG_INTERVAL_MS,
  reconcileProgressQuery,
  scanProgressOf,
  summarizeProgress,
  zeroCounters,
  type PartitionCheckpoint,
  type PartitionReport,
  type PartitionSpec,
  type ReconcileInput,
  type ReconcileProgress,
  type ReconcileState,
} from '../shared/reconcile';
import { ReconcileProfiles, reconcilePartitionProfile } from './profiles';

interface PartitionState {
  spec: PartitionSpec;
  status: 'pending' | 'running' | 'done' | 'failed';
  checkpoint: PartitionCheckpoint | null;
}

/** What a run hands to the next one through continue-as-new: cursors and counters only. */
export interface ReconcileCarry {
  totalEstimate: number;
  partitions: PartitionState[];
  runs: number;
  errors: string[];
}

const { planReconcile, finishReconcile } = proxyActivities<Activities>(ReconcileProfiles.control);

/**
 * reconcile:{batchId} — plans key-space partitions, runs one heartbeating activity per partition
 * with a sliding window of maxConcurrency, and folds their progress reports into counters. A
 * partition that still fails after its retries is recorded and the others go on. When the history
 * reaches `historyLimit` the run drains at chunk boundaries and continues as new.
 */
export async function reconcileWorkflow(input: ReconcileInput, carry?: ReconcileCarry): Promise<ReconcileProgress> {
  const o = input.options;
  const root = CancellationScope.current();
  const s: ReconcileCarry = carry ? { ...carry, runs: carry.runs + 1 } : { totalEstimate: 0, partitions: [], runs: 1, errors: [] };
  let state: ReconcileState = 'running';
  let finishedAt: string | undefined;
  let draining = false;
  let updates = 0;
  let fatal: unknown;

  const counters = () => s.partitions.reduce((acc, p) => (p.checkpoint ? addCounters(acc, p.checkpoint.counters) : acc), zeroCounters());
  const partitionCounts = () => ({
    total: s.partitions.length,
    done: s.partitions.filter((p) => p.status === 'done').length,
    running: s.partitions.filter((p) => p.status === 'running').length,
    failed: s.partitions.filter((p) => p.status === 'failed').length,
  });
  const summary = () =>
    summarizeProgress(
      {
        batchId: input.batchId,
        workflowId: workflowInfo().workflowId,
        correlationId: input.correlationId,
        state,
        options: o,
        startedAt: input.startedAt,
        finishedAt,
        runs: s.runs,
        totalEstimate: s.totalEstimate,
        errors: s.errors,
      },
      counters(),
      partitionCounts(),
      Date.now(),
      scanProgressOf(s.partitions.map((p) => p.checkpoint)),
    );
  const stopping = () => draining || root.consideredCancelled;
  const drainIfLong = () => {
    const info = workflowInfo();
    if (!draining && (info.historyLength >= o.historyLimit || info.continueAsNewSuggested || updates >= MAX_UPDATES_PER_RUN)) {
      draining = true;
      log.info('reconcile draining before continue-as-new', {
        batchId: input.batchId,
        correlationId: input.correlationId,
        historyLength: info.historyLength,
        run: s.runs,
      });
    }
  };
  const adopt = (ps: PartitionState, cp: PartitionCheckpoint) => {
    if (
      !ps.checkpoint ||
      cp.seq > ps.checkpoint.seq ||
      (cp.seq === ps.checkpoint.seq && (cp.finished || cp.flushedAt >= ps.checkpoint.flushedAt))
    )
      ps.checkpoint = cp;
  };

  setHandler(reconcileProgressQuery, summary);
  setHandler(
    partitionProgressUpdate,
    (r) => {
      updates += 1;
      const ps = s.partitions[r.partition];
      if (ps && ps.status !== 'done') adopt(ps, r.checkpoint);
      drainIfLong();
      return stopping() ? 'stop' : 'continue';
    },
    {
      // A refused update leaves no event: once draining, reports stop growing the history.
      validator: (_report: PartitionReport) => {
        if (stopping()) throw new Error('reconcile is draining or cancelled: stop at the next chunk boundary');
      },
    },
  );

  const logScope = new CancellationScope();
  logScope
    .run(async () => {
      for (;;) {
        await sleep(PROGRESS_LOG_INTERVAL_MS);
        const p = summary();
        log.info('reconcile progress', {
          batchId: input.batchId,
          correlationId: input.correlationId,
          processed: p.processed,
          total: p.total,
          ratePerSec: p.ratePerSec,
          etaSeconds: p.etaSeconds,
          repaired: p.repaired,
          failed: p.failed,
          chunksDone: p.chunks.done,
          chunksFailed: p.chunks.failed,
          inFlight: p.chunks.inFlight,
        });
        drainIfLong();
      }
    })
    .catch(() => undefined);

  try {
    if (!carry) {
      log.info('reconcile started', {
        batchId: input.batchId,
        correlationId: input.correlationId,
        dryRun: o.dryRun,
        chunkSize: o.chunkSize,
        maxConcurrency: o.maxConcurrency,
      });
      const plan = await planReconcile(input);
      s.totalEstimate = plan.totalEstimate;
      s.partitions = plan.partitions.map((spec) => ({ spec, status: 'pending', checkpoint: null }));
    } else {
      for (const p of s.partitions) if (p.status === 'running') p.status = 'pending';
    }

    // On the bulk lane when the starter named it (TEMPORAL_LANES): its own slots, never the main queue's.
    const { reconcilePartition } = proxyActivities<Activities>(reconcilePartitionProfile(o, input.partitionQueue));
    const lane = async () => {
      for (;;) {
        if (stopping()) return;
        const ps = s.partitions.find((p) => p.status === 'pending');
        if (!ps) return;
        ps.status = 'running';
        try {
          const res = await reconcilePartition({ input, partition: ps.spec, resume: ps.checkpoint });
          adopt(ps, res.checkpoint);
          ps.status = res.checkpoint.finished ? 'done' : 'pending';
        } catch (err) {
          if (isCancellation(err)) {
            ps.status = 'pending';
            return;
          }
          ps.status = 'failed';
          const message = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
          s.errors.push(`partition ${ps.spec.index}: ${message}`.slice(0, 500));
          log.warn('reconcile partition failed; the others go on', {
            batchId: input.batchId,
            correlationId: input.correlationId,
            partition: ps.spec.index,
            err: message,
          });
        }
        drainIfLong();
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.max(1, Math.min(o.maxConcurrency, s.partitions.length)) }, lane));
    } catch (err) {
      if (!isCancellation(err)) throw err;
    }

    const cancelled = root.consideredCancelled;
    if (draining && !cancelled && s.partitions.some((p) => p.status === 'pending')) {
      logScope.cancel();
      await condition(allHandlersFinished);
      return await continueAsNew<typeof reconcileWorkflow>(input, {
        ...s,
        partitions: s.partitions.map((p) => ({ ...p, status: p.status === 'running' ? 'pending' : p.status })),
      });
    }
    const failed = s.partitions.filter((p) => p.status === 'failed').length;
    state = finalStateOf(counters(), failed, s.partitions.length, cancelled);
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    if (isCancellation(err)) state = 'cancelled';
    else {
      state = 'failed';
      fatal = err;
      s.errors.push((err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)).slice(0, 500));
    }
  }

  finishedAt = new Date().toISOString();
  const result = summary();
  logScope.cancel();
  await CancellationScope.nonCancellable(async () => {
    await finishReconcile({ batchId: input.batchId, result });
    await condition(allHandlersFinished);
  });
  log.info('reconcile finished', {
    batchId: input.batchId,
    correlationId: input.correlationId,
    state,
    processed: result.processed,
    repaired: result.repaired,
    failed: result.failed,
    runs: s.runs,
  });
  if (state === 'cancelled') throw new CancelledFailure('reconcile cancelled; partial counts are recorded');
  if (fatal) throw fatal;
  return result;
}
