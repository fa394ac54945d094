import {
  FAILED_STATUSES,
  failedRunsQuery,
  FailedRunsQueryError,
  listFailedRuns,
  retryFailedRuns,
  type FailedRun,
  type FailedRunsFilter,
  type FailedStatus,
  type RetryMode,
  type RetrySummary,
} from '../../../activities/maintenance/failed-runs';
import type { TemporalHandle } from '../../../infra/temporal';
import { withTimeout } from '../../../infra/timeout';
import { DependencyUnavailableError } from '../../errors';

// The dead-letter view over HTTP: the API's side of `runs failed` / `runs retry`. The work itself
// is activities/maintenance/failed-runs.ts; this turns request fields into its filter and bounds
// how long one request may keep Temporal busy.

/** At most this many workflows per request: each one found is described, and a retry acts on each. */
export const FAILED_RUNS_MAX_LIMIT = 1000;

/**
 * Deadlines of one request. Listing describes every workflow it finds (a few calls per run);
 * a retry also reads history and resets or restarts each run, so it gets longer.
 */
const LIST_DEADLINE_MS = 60_000;
const RETRY_DEADLINE_MS = 600_000;

/** The filter as a request carries it: strings from a query, or typed fields from a body. */
export interface FailedRunsRequestFilter {
  type?: string;
  tenantId?: string;
  taskQueue?: string;
  /** ISO date or date-time: only runs closed after it. */
  since?: string;
  /** Comma-separated (query) or a list (body) of FAILED_STATUSES. */
  status?: string | readonly string[];
  /** A whole number as a string (query) or a number (body). */
  limit?: string | number;
}

function statusesOf(v: string | readonly string[]): FailedStatus[] {
  const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : [...v];
  for (const s of list)
    if (!FAILED_STATUSES.includes(s as FailedStatus))
      throw new FailedRunsQueryError('status', `'${s}' is not one of ${FAILED_STATUSES.join(', ')}`);
  return list as FailedStatus[];
}

function limitOf(v: string | number): number {
  const n = typeof v === 'number' ? v : /^[1-9]\d*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > FAILED_RUNS_MAX_LIMIT)
    throw new FailedRunsQueryError('limit', `must be a whole number from 1 to ${FAILED_RUNS_MAX_LIMIT}`);
  return n;
}

/** The activity's filter for a request's fields; a bad value is a FailedRunsQueryError (400). */
export function filterOfRequest(r: FailedRunsRequestFilter): FailedRunsFilter {
  const out: FailedRunsFilter = {};
  if (r.type !== undefined) out.type = r.type;
  if (r.tenantId !== undefined) out.tenantId = r.tenantId;
  if (r.taskQueue !== undefined) out.taskQueue = r.taskQueue;
  if (r.since !== undefined) out.since = new Date(r.since);
  if (r.status !== undefined) out.statuses = statusesOf(r.status);
  if (r.limit !== undefined) out.limit = limitOf(r.limit);
  // Checked now, before Temporal is asked anything: every field the query will hold.
  failedRunsQuery(out);
  return out;
}

export interface FailedRunsListing {
  /** The visibility query (what an operator can paste into the Temporal UI's filter). */
  query: string;
  count: number;
  runs: FailedRun[];
}

export interface RetryRequest {
  filter: FailedRunsFilter;
  mode: RetryMode;
  dryRun: boolean;
  concurrency?: number;
  /** Recorded in the reset event or the new run's memo. */
  reason: string;
}

export interface FailedRunsService {
  list(filter: FailedRunsFilter): Promise<FailedRunsListing>;
  retry(r: RetryRequest): Promise<RetrySummary>;
}

export function createFailedRunsService(o: { temporal?: TemporalHandle }): FailedRunsService {
  const temporal = () => o.temporal ?? unavailable();
  const bounded = <T>(what: string, ms: number, fn: (t: TemporalHandle) => Promise<T>) => {
    const t = temporal();
    return withTimeout(what, ms, (signal) => t.connection.withAbortSignal(signal, () => fn(t)));
  };
  return {
    async list(filter) {
      const runs = await bounded('list failed runs', LIST_DEADLINE_MS, (t) => listFailedRuns({ client: t.client, ...filter }));
      return { query: failedRunsQuery(filter), count: runs.length, runs };
    },
    retry: (r) =>
      bounded('retry failed runs', r.dryRun ? LIST_DEADLINE_MS : RETRY_DEADLINE_MS, (t) =>
        retryFailedRuns({
          client: t.client,
          ...r.filter,
          mode: r.mode,
          dryRun: r.dryRun,
          reason: r.reason,
          ...(r.concurrency !== undefined ? { concurrency: r.concurrency } : {}),
        }),
      ),
  };
}

function unavailable(): never {
  throw new DependencyUnavailableError('temporal', 'Failed runs are Temporal workflows and TEMPORAL_ENABLED=false');
}
