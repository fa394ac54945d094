// Reconcile types, names and pure progress math shared by the workflow, its activities, the API
// and the CLI. Only keys (EJSON), cursors and counters travel here — never records or secrets.

import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { redactConnectionDetails } from './redact';

export const ReconcileNames = {
  workflow: 'reconcileWorkflow',
  progressQuery: 'reconcileProgress',
  /**
   * Partition activities report their cumulative checkpoint (throttled) as an Update: the answer
   * says whether to go on, and a report refused by the validator (draining, cancelled) leaves no
   * event in the history.
   */
  partitionUpdate: 'reconcilePartitionProgress',
} as const;

/** The workflow logs the run's progress this often (with its correlation ID). */
export const PROGRESS_LOG_INTERVAL_MS = 30_000;
/** Accepted progress updates per run before it drains (the server allows 2,000 per run). */
export const MAX_UPDATES_PER_RUN = 1_500;

export type PartitionDirective = 'continue' | 'stop';

export const ReconcileOutcome = {
  matched: 'matched',
  missingInTarget: 'missing_in_target',
  extraInTarget: 'extra_in_target',
  mismatched: 'mismatched',
} as const;
export type ReconcileOutcome = (typeof ReconcileOutcome)[keyof typeof ReconcileOutcome];

export type ExtraPolicy = 'flag' | 'delete';
/**
 * How a partition reads the two stores. `ordered`: one key-ordered cursor per store, merged
 * (MongoDB streams `_id`-sorted scans). `hashed`: each store read once in natural order, keys and
 * content hashes spilled to hash buckets on the worker's disk and compared bucket by bucket
 * (FerretDB materialises a sorted result before its first batch). `auto`: hashed on FerretDB.
 */
export type ScanMode = 'auto' | 'ordered' | 'hashed';
export const SCAN_MODES: readonly ScanMode[] = ['auto', 'ordered', 'hashed'];
/**
 * How a hashed scan applies its repairs. `guarded`: staged batches of guarded writes (as an
 * ordered scan). `rewrite`: once, at the end, by streaming the target into a sibling collection
 * with the repairs applied (still guarded) and swapping it in — linear on FerretDB, where each
 * keyed write scans the table; only for a target nothing else writes meanwhile.
 */
export type RepairMode = 'guarded' | 'rewrite';
export const REPAIR_MODES: readonly RepairMode[] = ['guarded', 'rewrite'];
export type ReconcileState = 'pending' | 'running' | 'completed' | 'partial' | 'failed' | 'cancelled';
export const FINAL_STATES: readonly ReconcileState[] = ['completed', 'partial', 'failed', 'cancelled'];

/** A MongoDB namespace. `external`: its URI is stored (as a secret) in the batch document, not here. */
export interface NamespaceRef {
  db: string;
  collection: string;
  external?: boolean;
}

export type ReconcileSourceRef = ({ kind: 'namespace' } & NamespaceRef) | { kind: 'tenant'; tenantId: string; collection: string };

/** Per-run settings; the first five keep the seed's ReconcileStreamConfig names. */
export interface ReconcileOptions {
  /** Merged keys per chunk. @default 1000 */
  chunkSize: number;
  /** Partition activities in flight (sliding window). @default 5 */
  maxConcurrency: number;
  /** Retries of a failing chunk (and of a repair flush) before it is recorded as failed. @default 3 */
  retryAttempts: number;
  /** First retry delay in ms, doubled per attempt. @default 5000 */
  retryDelay: number;
  /** Bound on one chunk attempt in ms. @default 600000 */
  timeoutPerChunk: number;
  /** Key-space partitions; 0 = auto (1 on FerretDB, where every range query is a full scan). @default 0 */
  partitions: number;
  /** Compare and report only: nothing is written to the target. @default false */
  dryRun: boolean;
  /** Records only in the target: flag them (default) or delete them. @default 'flag' */
  extras: ExtraPolicy;
  /** Staged repairs applied together (one scan of the target per batch on FerretDB). @default 1000 */
  repairBatch: number;
  /** Heartbeat timeout of a partition activity: how fast a killed worker is noticed. @default 10000 */
  heartbeatTimeoutMs: number;
  /** Minimum gap between progress reports of one partition to the workflow (0: after every chunk). @default 2000 */
  progressIntervalMs: number;
  /** History length at which a run drains at chunk boundaries and continues as new. @default 2000 */
  historyLimit: number;
  /** How the stores are read: see ScanMode. @default 'auto' */
  scan: ScanMode;
  /** How a hashed scan applies repairs: see RepairMode. @default 'guarded' */
  repairMode: RepairMode;
}

export const RECONCILE_DEFAULTS: ReconcileOptions = {
  chunkSize: 1000,
  maxConcurrency: 5,
  retryAttempts: 3,
  retryDelay: 5_000,
  timeoutPerChunk: 600_000,
  partitions: 0,
  dryRun: false,
  extras: 'flag',
  repairBatch: 1000,
  heartbeatTimeoutMs: 10_000,
  progressIntervalMs: 2_000,
  historyLimit: 2_000,
  scan: 'auto',
  repairMode: 'guarded',
};

/** Inclusive bounds of each numeric option (the API schema and the CLI use the same). */
export const RECONCILE_LIMITS = {
  chunkSize: [1, 5000],
  maxConcurrency: [1, 16],
  retryAttempts: [0, 20],
  retryDelay: [0, 600_000],
  timeoutPerChunk: [100, 86_400_000],
  partitions: [0, 256],
  repairBatch: [1, 20_000],
  heartbeatTimeoutMs: [1_000, 600_000],
  progressIntervalMs: [0, 60_000],
  historyLimit: [100, 40_000],
} as const satisfies Partial<Record<keyof ReconcileOptions, readonly [number, number]>>;

/**
 * The scan a plan uses. `auto` is hashed where a sorted scan does not stream — FerretDB — for a
 * namespace source with partitions left to the planner (partitions > 0 asks for key ranges, which
 * only an ordered scan has); ordered otherwise (MongoDB streams `_id`-ordered scans; a tenant's
 * connector pages in key order).
 */
export function scanModeFor(
  o: Pick<ReconcileOptions, 'scan' | 'partitions'>,
  backend: 'ferretdb' | 'mongodb',
  source: 'namespace' | 'tenant',
): 'ordered' | 'hashed' {
  if (o.scan !== 'auto') return o.scan;
  return backend === 'ferretdb' && source === 'namespace' && o.partitions === 0 ? 'hashed' : 'ordered';
}

/** Defaults applied in one place; throws TypeError naming the first invalid option. */
export function resolveReconcileOptions(partial: Partial<ReconcileOptions> = {}): ReconcileOptions {
  const o: ReconcileOptions = { ...RECONCILE_DEFAULTS };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
  for (const [k, [min, max]] of Object.entries(RECONCILE_LIMITS)) {
    const v = o[k as keyof ReconcileOptions];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw new TypeError(`reconcile option ${k} must be a whole number in ${min}..${max}`);
  }
  if (o.extras !== 'flag' && o.extras !== 'delete') throw new TypeError(`reconcile option extras must be 'flag' or 'delete'`);
  if (typeof o.dryRun !== 'boolean') throw new TypeError('reconcile option dryRun must be a boolean');
  if (!SCAN_MODES.includes(o.scan)) throw new TypeError(`reconcile option scan must be one of ${SCAN_MODES.join(', ')}`);
  if (!REPAIR_MODES.includes(o.repairMode)) throw new TypeError(`reconcile option repairMode must be one of ${REPAIR_MODES.join(', ')}`);
  return o;
}

/**
 * The history bound every run of a reconcile keeps, whatever its chunk count. History grows only
 * by partition attempts (≤ 8 events each), accepted progress updates (≤ 5 each), the 30 s log
 * timer and a fixed ~30 (start, plan, result, continue-as-new). Once `historyLimit` is reached the
 * run drains: progress updates are refused (a refused update writes nothing), so each in-flight
 * partition adds at most the update already accepted and its completion (≤ 16 events) before the
 * run continues as new with cursors and counters only.
 */
export function reconcileHistoryBound(o: Pick<ReconcileOptions, 'historyLimit' | 'maxConcurrency'>): number {
  return o.historyLimit + 16 * o.maxConcurrency + 50;
}

export interface ReconcileInput {
  batchId: string;
  correlationId: string;
  source: ReconcileSourceRef;
  target: NamespaceRef;
  options: ReconcileOptions;
  /** ISO time the batch was created. */
  startedAt: string;
  /** Task queue of the partition activities (the bulk lane, shared/lanes.ts); absent: the workflow's own. */
  partitionQueue?: string;
}

/** Cumulative counters of one partition (or, summed, of the run). */
export interface ReconcileCounters {
  /** Keys compared (source ∪ target), including those of failed chunks. */
  processed: number;
  matched: number;
  missing: number;
  extra: number;
  mismatched: number;
  /** Records made equal to the source (or extras deleted). */
  repaired: number;
  /** Extras left in place and listed (extras = 'flag'). */
  flagged: number;
  /** Repairs skipped because someone else changed the record first (or the target is newer). */
  conflicts: number;
  /** Records of failed chunks plus records whose repair failed. */
  failed: number;
  chunksDone: number;
  chunksFailed: number;
}

export const zeroCounters = (): ReconcileCounters => ({
  processed: 0,
  matched: 0,
  missing: 0,
  extra: 0,
  mismatched: 0,
  repaired: 0,
  flagged: 0,
  conflicts: 0,
  failed: 0,
  chunksDone: 0,
  chunksFailed: 0,
});

export function addCounters(a: ReconcileCounters, b: Partial<ReconcileCounters>): ReconcileCounters {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) if (typeof v === 'number') out[k as keyof ReconcileCounters] += v;
  return out;
}

/** Where a partition stands: the next chunk's sequence number, the last key done and the totals. */
export interface PartitionCheckpoint {
  /** Sequence number of the next chunk (= chunks done + failed). */
  seq: number;
  /** EJSON of the last key processed; null before the first chunk. */
  lastKey: unknown;
  /** Tenant sources: the connector cursor of the page holding the next record. */
  sourceCursor?: string | null;
  counters: ReconcileCounters;
  /** `seq` at which the last repair flush was counted (-1: none), so a flush is never counted twice. */
  flushedAt: number;
  finished: boolean;
  /** Hashed scans: the bucket being compared and the last key ID done in it (buckets before it are done). */
  spill?: { bucket: number; after: string | null };
  /** Hashed scans: records the spill has read from both stores, of how many (plan counts). */
  scan?: { read: number; of: number; done: boolean };
}

export const initialCheckpoint = (): PartitionCheckpoint => ({
  seq: 0,
  lastKey: null,
  counters: zeroCounters(),
  flushedAt: -1,
  finished: false,
});

export interface PartitionSpec {
  index: number;
  /** EJSON bounds: keys in (lo, hi]; null = unbounded. */
  lo: unknown;
  hi: unknown;
  /** How it is read (plans made before this field existed: ordered). */
  scan?: 'ordered' | 'hashed';
  /** Hashed scans: hash buckets of the spill (fixed at plan time, so a retry spills alike). */
  buckets?: number;
}

export interface PartitionReport {
  partition: number;
  checkpoint: PartitionCheckpoint;
  /** Worker identity that sent the report. */
  worker?: string;
}

export interface ReconcilePlan {
  partitions: PartitionSpec[];
  totalEstimate: number;
  sourceCount: number | null;
  targetCount: number;
  backend: 'ferretdb' | 'mongodb';
  scan: 'ordered' | 'hashed';
}

export interface ReconcileProgress {
  batchId: string;
  workflowId: string;
  correlationId: string;
  state: ReconcileState;
  dryRun: boolean;
  extras: ExtraPolicy;
  processed: number;
  /** Estimated keys to compare (max of source and target counts at plan time, at least `processed`). */
  total: number;
  successful: number;
  failed: number;
  outcomes: Record<ReconcileOutcome, number>;
  repaired: number;
  flagged: number;
  conflicts: number;
  ratePerSec: number;
  etaSeconds: number | null;
  chunks: { done: number; failed: number; inFlight: number };
  partitions: { total: number; done: number; running: number; failed: number };
  /** Continue-as-new generation (1 = first run). */
  runs: number;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  elapsedMs: number;
  errors?: string[];
  /** Hashed scans: the natural-order read of both stores that comes before any key is compared. */
  scan?: { phase: 'scanning' | 'comparing'; read: number; of: number };
}

/** The hashed scans' reading progress over partitions (undefined when none is hashed). */
export function scanProgressOf(checkpoints: ReadonlyArray<PartitionCheckpoint | null>): ReconcileProgress['scan'] {
  const scans = checkpoints.flatMap((c) => (c?.scan ? [c.scan] : []));
  if (scans.length === 0) return undefined;
  const read = scans.reduce((a, s) => a + s.read, 0);
  const of = Math.max(
    read,
    scans.reduce((a, s) => a + s.of, 0),
  );
  return { phase: scans.every((s) => s.done) ? 'comparing' : 'scanning', read, of };
}

/** Builds the progress view from counters; rate and ETA from the elapsed time at `nowMs`. */
export function summarizeProgress(
  base: {
    batchId: string;
    workflowId: string;
    correlationId: string;
    state: ReconcileState;
    options: Pick<ReconcileOptions, 'dryRun' | 'extras'>;
    startedAt: string;
    finishedAt?: string;
    runs: number;
    totalEstimate: number;
    errors?: string[];
  },
  counters: ReconcileCounters,
  partitions: { total: number; done: number; running: number; failed: number },
  nowMs: number,
  scan?: ReconcileProgress['scan'],
): ReconcileProgress {
  const started = Date.parse(base.startedAt);
  const end = base.finishedAt ? Date.parse(base.finishedAt) : nowMs;
  const elapsedMs = Math.max(0, end - started);
  const total = Math.max(base.totalEstimate, counters.processed);
  const ratePerSec = elapsedMs > 0 ? Math.round((counters.processed / elapsedMs) * 1000 * 10) / 10 : 0;
  const remaining = total - counters.processed;
  const final = FINAL_STATES.includes(base.state);
  let etaSeconds = final ? 0 : ratePerSec > 0 ? Math.round(remaining / ratePerSec) : null;
  // While a hashed scan reads, nothing is compared yet: the ETA is the read's (comparing is quicker).
  if (!final && scan?.phase === 'scanning')
    etaSeconds = scan.read > 0 ? Math.round(((scan.of - scan.read) * elapsedMs) / scan.read / 1000) : null;
  const progress: ReconcileProgress = {
    batchId: base.batchId,
    workflowId: base.workflowId,
    correlationId: base.correlationId,
    state: base.state,
    dryRun: base.options.dryRun,
    extras: base.options.extras,
    processed: counters.processed,
    total,
    successful: counters.processed - counters.failed,
    failed: counters.failed,
    outcomes: {
      matched: counters.matched,
      missing_in_target: counters.missing,
      extra_in_target: counters.extra,
      mismatched: counters.mismatched,
    },
    repaired: counters.repaired,
    flagged: counters.flagged,
    conflicts: counters.conflicts,
    ratePerSec,
    etaSeconds,
    chunks: { done: counters.chunksDone, failed: counters.chunksFailed, inFlight: final ? 0 : partitions.running },
    partitions,
    runs: base.runs,
    startedAt: base.startedAt,
    updatedAt: new Date(nowMs).toISOString(),
    elapsedMs,
  };
  if (base.finishedAt) progress.finishedAt = base.finishedAt;
  if (scan) progress.scan = scan;
  if (base.errors?.length) progress.errors = base.errors.map((e) => redactConnectionDetails(e));
  return progress;
}

/** Recomputes rate, ETA and elapsed time of a progress view at `nowMs` (a query answers with workflow time). */
export function refreshRates(p: ReconcileProgress, nowMs: number): ReconcileProgress {
  if (p.finishedAt) return p;
  const elapsedMs = Math.max(0, nowMs - Date.parse(p.startedAt));
  const ratePerSec = elapsedMs > 0 ? Math.round((p.processed / elapsedMs) * 1000 * 10) / 10 : 0;
  const scanning = p.scan?.phase === 'scanning' ? p.scan : undefined;
  return {
    ...p,
    elapsedMs,
    ratePerSec,
    etaSeconds: scanning
      ? scanning.read > 0
        ? Math.round(((scanning.of - scanning.read) * elapsedMs) / scanning.read / 1000)
        : null
      : ratePerSec > 0
        ? Math.round((p.total - p.processed) / ratePerSec)
        : null,
    updatedAt: new Date(nowMs).toISOString(),
  };
}

/** Final state from the counters and partition outcomes. */
export function finalStateOf(
  counters: ReconcileCounters,
  partitionsFailed: number,
  partitionsTotal: number,
  cancelled: boolean,
): ReconcileState {
  if (cancelled) return 'cancelled';
  if (partitionsTotal > 0 && partitionsFailed === partitionsTotal) return 'failed';
  if (partitionsFailed > 0 || counters.chunksFailed > 0 || counters.failed > 0) return 'partial';
  return 'completed';
}

/** `rc-{time36}-{random}`: batch IDs the API generates. */
export const BATCH_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';

/** The workflow as its clients start it (by the name ReconcileNames.workflow): typed args and result. */
export type ReconcileWorkflow = (input: ReconcileInput) => Promise<ReconcileProgress>;
/** Live progress of a running batch. */
export const reconcileProgressQuery = defineQuery<ReconcileProgress>(ReconcileNames.progressQuery);
/** A partition's checkpoint report; the answer says whether it goes on (ReconcileNames.partitionUpdate). */
export const partitionProgressUpdate = defineUpdate<PartitionDirective, [PartitionReport]>(ReconcileNames.partitionUpdate);
