import type { CountWorkflowExecution, WorkflowExecutionInfo } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { Db } from 'mongodb';
import { createPauseStore } from '../../../activities/maintenance/pause-store';
import type { TemporalHandle } from '../../../infra/temporal';
import { CallDeadlines, DeadlineExceededError, withTimeout } from '../../../infra/timeout';
import { SearchAttributeKeys, SearchAttributes } from '../../../shared/constants';
import { AppError } from '../../../shared/errors';
import { laneQueues, type Lane } from '../../../shared/lanes';
import { PriorityClasses, WorkflowPriorityClass, type PriorityClass } from '../../../shared/priorities';
import { redactConnectionDetails } from '../../../shared/redact';
import type { WorkPause } from '../../../shared/work';
import { DependencyUnavailableError } from '../../errors';
import { TENANT_ID_PATTERN } from '../../schemas';
import type { QuotaSettings } from '../quotas/quotas';

// The operator's work view (GET /api/ops/work, `work show`): what the platform's one task queue
// is doing, read from Temporal — visibility counts per workflow type and status, a bounded
// listing of the running executions (per tenant, oldest per type), DescribeTaskQueue stats and
// pollers of the workflow and activity queues — plus the stored pauses and the start quotas.
// Rows about tenants (counts, running executions) are limited to the tenants the token covers;
// the queue's backlog, pollers, pauses and quotas belong to no tenant and are shown as they are.

/** Visibility names of the execution statuses, in the order a table shows them. */
export const EXECUTION_STATUSES = ['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'ContinuedAsNew', 'TimedOut'] as const;
export type ExecutionStatusName = (typeof EXECUTION_STATUSES)[number];
export type StatusCounts = Record<ExecutionStatusName, number>;

/** At most this many running executions are listed per request (`runningByTenant.truncated` beyond). */
export const RUNNING_LIST_LIMIT = 1000;
/** The running listing pages through visibility: it gets longer than one call. */
const LIST_DEADLINE_MS = 15_000;

/** The tenants a token covers, as the auth plugin hands them over. */
export type Coverage = readonly string[] | '*';

export interface TypeRow {
  workflowType: string;
  priorityClass: PriorityClass;
  priorityKey: number;
  counts: StatusCounts;
  total: number;
}

export interface TenantRow {
  /** null: work that belongs to no tenant (migrations, client upsert, sweeps). */
  tenantId: string | null;
  running: number;
}

export interface OldestRow {
  workflowType: string;
  workflowId: string;
  tenantId?: string;
  startTime: string;
  ageSeconds: number;
  /** false: the listing was truncated before every running execution of this type was seen; older ones may exist. */
  exact: boolean;
}

export interface QueueStats {
  /** false: the server sent no stats (older than 1.28, or stats off); the numbers are zeros. */
  reported: boolean;
  approximateBacklogCount: number;
  approximateBacklogAgeSeconds: number;
  tasksAddRate: number;
  tasksDispatchRate: number;
}

export interface QueueBacklog extends QueueStats {
  /** Per priority key the queue has used lately (fairness and priority on). */
  byPriorityKey: Array<QueueStats & { priorityKey: number }>;
}

export interface Poller {
  identity: string;
  lastAccessTime: string | null;
  ratePerSecond: number;
}

export interface LaneView {
  lane: Exclude<Lane, 'main'>;
  taskQueue: string;
  backlog: { workflow: QueueBacklog; activity: QueueBacklog };
  pollers: { workflow: Poller[]; activity: Poller[] };
}

export interface WorkViewAnswer {
  taskQueue: string;
  namespace: string;
  /** The tenants this answer covers (the token's). */
  tenants: '*' | string[];
  generatedAt: string;
  /** How the counts were made: one GROUP BY ExecutionStatus per type, or one count per status. */
  countMethod: 'group-by' | 'per-status';
  byType: TypeRow[];
  runningByTenant: { listed: number; limit: number; truncated: boolean; tenants: TenantRow[] };
  oldestRunning: OldestRow[];
  /** The main lane (the deployment's queue). */
  backlog: { workflow: QueueBacklog; activity: QueueBacklog };
  pollers: { workflow: Poller[]; activity: Poller[] };
  /** The other lanes (TEMPORAL_LANES; shared/lanes.ts), each its own task queue; [] when off. */
  lanes: LaneView[];
  pauses: WorkPause[];
  quotas: { global: QuotaSettings['global']; tenantDefaults: QuotaSettings['tenant'] };
}

// ---- pure helpers (test/unit/maintenance/work-view.test.ts) ----

/** A visibility string literal (values here are config and tenant IDs, checked before they get here). */
export const visibilityLiteral = (v: string): string => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

const TENANT_ID = new RegExp(TENANT_ID_PATTERN);

/**
 * The coverage part of a visibility query: '' for every tenant, null when the token covers no
 * tenant (nothing to ask). Claims that cannot be tenant IDs are dropped: no tenant has them.
 */
export function tenantClause(c: Coverage): string | null {
  if (c === '*') return '';
  const ids = [...new Set(c)].filter((t) => TENANT_ID.test(t));
  if (ids.length === 0) return null;
  return ` AND ${SearchAttributes.TenantId} IN (${ids.map(visibilityLiteral).join(', ')})`;
}

export const zeroCounts = (): StatusCounts => Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, 0])) as StatusCounts;

/** Counts of a `GROUP BY ExecutionStatus` answer; statuses it does not name are 0. */
export function countsFromGroups(groups: CountWorkflowExecution['groups']): StatusCounts {
  const out = zeroCounts();
  for (const g of groups) {
    // Each group value is decoded as a legacy search attribute: a one-element array.
    const raw: unknown = g.groupValues[0];
    const v = Array.isArray(raw) ? (raw[0] as unknown) : raw;
    if (typeof v === 'string' && (EXECUTION_STATUSES as readonly string[]).includes(v)) out[v as ExecutionStatusName] += g.count;
  }
  return out;
}

export function typeRow(workflowType: string, counts: StatusCounts): TypeRow {
  const priorityClass = WorkflowPriorityClass[workflowType]!;
  const total = EXECUTION_STATUSES.reduce((n, s) => n + counts[s], 0);
  return { workflowType, priorityClass, priorityKey: PriorityClasses[priorityClass], counts, total };
}

/** One running execution, as the listing keeps it. */
export interface RunningExecution {
  workflowId: string;
  workflowType: string;
  tenantId?: string;
  startTime: Date;
}

export function runningOf(w: Pick<WorkflowExecutionInfo, 'workflowId' | 'type' | 'startTime' | 'typedSearchAttributes'>): RunningExecution {
  const tenantId = w.typedSearchAttributes.get(SearchAttributeKeys.TenantId);
  return { workflowId: w.workflowId, workflowType: w.type, ...(tenantId ? { tenantId } : {}), startTime: w.startTime };
}

/**
 * Running executions per tenant (most first) and the oldest per type. `runningPerType` (the
 * visibility counts) tells whether a truncated listing still saw every execution of a type.
 */
export function summarizeRunning(
  rows: readonly RunningExecution[],
  o: { truncated: boolean; now: Date; runningPerType: ReadonlyMap<string, number> },
): { tenants: TenantRow[]; oldest: OldestRow[] } {
  const perTenant = new Map<string | null, number>();
  const oldest = new Map<string, RunningExecution>();
  const seen = new Map<string, number>();
  for (const r of rows) {
    const key = r.tenantId ?? null;
    perTenant.set(key, (perTenant.get(key) ?? 0) + 1);
    seen.set(r.workflowType, (seen.get(r.workflowType) ?? 0) + 1);
    const o2 = oldest.get(r.workflowType);
    if (!o2 || r.startTime < o2.startTime) oldest.set(r.workflowType, r);
  }
  const tenants = [...perTenant]
    .map(([tenantId, running]) => ({ tenantId, running }))
    .sort((a, b) => b.running - a.running || (a.tenantId ?? '').localeCompare(b.tenantId ?? ''));
  const oldestRows = [...oldest.values()]
    .sort((a, b) => a.startTime.getTime() - b.startTime.getTime())
    .map((r) => ({
      workflowType: r.workflowType,
      workflowId: r.workflowId,
      ...(r.tenantId ? { tenantId: r.tenantId } : {}),
      startTime: r.startTime.toISOString(),
      ageSeconds: Math.max(0, Math.floor((o.now.getTime() - r.startTime.getTime()) / 1000)),
      exact: !o.truncated || (seen.get(r.workflowType) ?? 0) >= (o.runningPerType.get(r.workflowType) ?? Infinity),
    }));
  return { tenants, oldest: oldestRows };
}

type Int64 = number | { toNumber(): number } | string | null | undefined;
const numberOf = (v: Int64): number => (v == null ? 0 : typeof v === 'object' ? v.toNumber() : Number(v));
const secondsOf = (d: { seconds?: Int64; nanos?: number | null } | null | undefined): number =>
  d ? numberOf(d.seconds) + (d.nanos ?? 0) / 1e9 : 0;

function statsOf(s: temporal.api.taskqueue.v1.ITaskQueueStats | null | undefined): QueueStats {
  return {
    reported: !!s,
    approximateBacklogCount: numberOf(s?.approximateBacklogCount as Int64),
    approximateBacklogAgeSeconds: secondsOf(s?.approximateBacklogAge as Parameters<typeof secondsOf>[0]),
    tasksAddRate: s?.tasksAddRate ?? 0,
    tasksDispatchRate: s?.tasksDispatchRate ?? 0,
  };
}

type DescribeAnswer = Pick<temporal.api.workflowservice.v1.IDescribeTaskQueueResponse, 'stats' | 'statsByPriorityKey' | 'pollers'>;

/** Backlog of one DescribeTaskQueue answer, per priority key in key order. */
export function backlogOf(r: DescribeAnswer): QueueBacklog {
  const byPriorityKey = Object.entries(r.statsByPriorityKey ?? {})
    .map(([k, s]) => ({ priorityKey: Number(k), ...statsOf(s) }))
    .sort((a, b) => a.priorityKey - b.priorityKey);
  return { ...statsOf(r.stats), byPriorityKey };
}

export function pollersOf(r: DescribeAnswer): Poller[] {
  return (r.pollers ?? [])
    .map((p) => {
      const t = p.lastAccessTime;
      const ms = t ? numberOf(t.seconds as Int64) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : undefined;
      return { identity: p.identity ?? '', lastAccessTime: ms ? new Date(ms).toISOString() : null, ratePerSecond: p.ratePerSecond ?? 0 };
    })
    .sort((a, b) => a.identity.localeCompare(b.identity));
}

// ---- the service ----

export interface WorkViewOptions {
  /** Absent when TEMPORAL_ENABLED=false: the view answers 503. */
  temporal?: TemporalHandle;
  taskQueue: string;
  /** The lanes' queues are shown too (TEMPORAL_LANES). @default false */
  lanes?: boolean;
  /** The platform database: the stored pauses are read from it. */
  db: Db;
  quotas: QuotaSettings;
  /** @default RUNNING_LIST_LIMIT */
  runningLimit?: number;
  now?: () => Date;
}

/** The task queue types DescribeTaskQueue reports on (temporal.api.enums.v1.TaskQueueType). */
const QueueTypes = { workflow: 1, activity: 2 } as const satisfies Record<string, temporal.api.enums.v1.TaskQueueType>;

const messageOf = (err: unknown) => redactConnectionDetails(err instanceof Error ? err.message : String(err)).slice(0, 300);

export function createWorkView(o: WorkViewOptions) {
  const now = o.now ?? (() => new Date());
  const pauseStore = createPauseStore(o.db);
  const limit = o.runningLimit ?? RUNNING_LIST_LIMIT;
  const queues = laneQueues(o.taskQueue);
  const otherLanes = o.lanes ? (['interactive', 'bulk'] as const) : [];
  // Workflows run on the main queue and, for interactive types, on the interactive lane's.
  const queue = o.lanes
    ? `(TaskQueue = ${visibilityLiteral(queues.main)} OR TaskQueue = ${visibilityLiteral(queues.interactive)})`
    : `TaskQueue = ${visibilityLiteral(queues.main)}`;
  // Learnt once: SQL visibility answers GROUP BY ExecutionStatus; a store that does not gets one count per status.
  let groupBy = true;

  function bounded<T>(t: TemporalHandle, what: string, fn: () => Promise<T>, ms: number = CallDeadlines.temporalMs): Promise<T> {
    return withTimeout(what, ms, (signal) => t.connection.withAbortSignal(signal, fn));
  }

  async function perStatus(t: TemporalHandle, base: string): Promise<StatusCounts> {
    const out = zeroCounts();
    await Promise.all(
      EXECUTION_STATUSES.map(async (s) => {
        out[s] = (await bounded(t, 'count workflows', () => t.client.workflow.count(`${base} AND ExecutionStatus = '${s}'`))).count;
      }),
    );
    return out;
  }

  async function countsOf(t: TemporalHandle, workflowType: string, tenants: string): Promise<StatusCounts> {
    const base = `${queue} AND WorkflowType = ${visibilityLiteral(workflowType)}${tenants}`;
    if (!groupBy) return perStatus(t, base);
    try {
      const r = await bounded(t, 'count workflows', () => t.client.workflow.count(`${base} GROUP BY ExecutionStatus`));
      return countsFromGroups(r.groups);
    } catch (err) {
      // A server that did not answer in time would not answer seven counts either.
      if (err instanceof DeadlineExceededError) throw err;
      const counts = await perStatus(t, base);
      groupBy = false;
      return counts;
    }
  }

  async function listRunning(t: TemporalHandle, tenants: string): Promise<{ rows: RunningExecution[]; truncated: boolean }> {
    const rows: RunningExecution[] = [];
    let truncated = false;
    const query = `${queue} AND ExecutionStatus = 'Running'${tenants}`;
    await bounded(
      t,
      'list running workflows',
      async () => {
        for await (const w of t.client.workflow.list({ query, pageSize: Math.min(limit + 1, 1000) })) {
          if (rows.length >= limit) {
            truncated = true;
            break;
          }
          rows.push(runningOf(w));
        }
      },
      LIST_DEADLINE_MS,
    );
    return { rows, truncated };
  }

  async function describe(t: TemporalHandle, type: keyof typeof QueueTypes, name: string = o.taskQueue): Promise<DescribeAnswer> {
    return bounded(t, `describe ${type} task queue`, () =>
      t.client.workflowService.describeTaskQueue({
        namespace: t.client.options.namespace,
        taskQueue: { name },
        taskQueueType: QueueTypes[type],
        reportStats: true,
      }),
    );
  }

  async function fromTemporal(t: TemporalHandle, coverage: Coverage) {
    const tenants = tenantClause(coverage);
    const types = Object.keys(WorkflowPriorityClass);
    const [counts, running, wfQueue, actQueue, lanes] = await Promise.all([
      // A token covering no tenant has no rows to count or list.
      Promise.all(types.map((ty) => (tenants === null ? zeroCounts() : countsOf(t, ty, tenants)))),
      tenants === null ? { rows: [], truncated: false } : listRunning(t, tenants),
      describe(t, 'workflow'),
      describe(t, 'activity'),
      Promise.all(
        otherLanes.map(async (lane): Promise<LaneView> => {
          const [wf, act] = await Promise.all([describe(t, 'workflow', queues[lane]), describe(t, 'activity', queues[lane])]);
          return {
            lane,
            taskQueue: queues[lane],
            backlog: { workflow: backlogOf(wf), activity: backlogOf(act) },
            pollers: { workflow: pollersOf(wf), activity: pollersOf(act) },
          };
        }),
      ),
    ]);
    return { types, counts, running, wfQueue, actQueue, lanes };
  }

  return {
    async view(coverage: Coverage): Promise<WorkViewAnswer> {
      const t = o.temporal;
      if (!t) throw new DependencyUnavailableError('temporal', 'The work view reads Temporal and TEMPORAL_ENABLED=false');
      const temporalPart = fromTemporal(t, coverage).catch((err: unknown) => {
        if (err instanceof AppError && !(err instanceof DeadlineExceededError)) throw err;
        throw new DependencyUnavailableError('temporal', `Temporal did not answer the work view: ${messageOf(err)}`);
      });
      const [pauses, r] = await Promise.all([pauseStore.list(), temporalPart]);
      const byType = r.types.map((ty, i) => typeRow(ty, r.counts[i]!));
      const runningPerType = new Map(byType.map((row) => [row.workflowType, row.counts.Running]));
      const at = now();
      const summary = summarizeRunning(r.running.rows, { truncated: r.running.truncated, now: at, runningPerType });
      return {
        taskQueue: o.taskQueue,
        namespace: t.client.options.namespace,
        tenants: coverage === '*' ? '*' : [...coverage],
        generatedAt: at.toISOString(),
        countMethod: groupBy ? 'group-by' : 'per-status',
        byType,
        runningByTenant: { listed: r.running.rows.length, limit, truncated: r.running.truncated, tenants: summary.tenants },
        oldestRunning: summary.oldest,
        backlog: { workflow: backlogOf(r.wfQueue), activity: backlogOf(r.actQueue) },
        pollers: { workflow: pollersOf(r.wfQueue), activity: pollersOf(r.actQueue) },
        lanes: r.lanes,
        pauses,
        quotas: { global: { ...o.quotas.global }, tenantDefaults: { ...o.quotas.tenant } },
      };
    },
  };
}

export type WorkView = ReturnType<typeof createWorkView>;
