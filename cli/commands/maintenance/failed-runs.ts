import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { loadConfigOrExit } from '../../../infra/config';
import {
  FAILED_STATUSES,
  type FailedRun,
  type FailedStatus,
  type RetryMode,
  type RetrySummary,
} from '../../../activities/maintenance/failed-runs';
import { apiClientFor, type ApiClient } from '../../api-client';
import { fail, failWith } from '../../fail';
import { table } from '../../format';
import { addListCommand } from '../../list';
import { syncRunsList } from '../tenant-sync';

// `runs failed` and `runs retry`: the dead-letter view over Temporal visibility — failed runs by
// type and tenant, and their bulk reset or restart (dry-run count first; acting needs --yes).
// Through the API (GET /api/runs/failed, POST /api/runs/retry); flags are checked here first.

interface FilterFlags {
  type?: string;
  tenant?: string;
  taskQueue?: string;
  since?: string;
  status?: string;
  limit?: string;
  json?: boolean;
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30m`, `24h`, `7d` before now, or an ISO date. */
export function parseSince(v: string, now = Date.now()): Date {
  const rel = /^(\d+)([mhd])$/.exec(v);
  if (rel) return new Date(now - Number(rel[1]) * UNIT_MS[rel[2]!]!);
  const at = new Date(v);
  if (/^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(at.getTime())) return at;
  throw new Error(`--since must be a duration like 30m, 24h, 7d or an ISO date (got '${v}')`);
}

/** The filter as the API takes it: query fields for a listing, typed body fields for a retry. */
interface Filter {
  type?: string;
  tenantId?: string;
  taskQueue?: string;
  since?: string;
  status?: FailedStatus[];
  limit?: number;
}

function filterOf(f: FilterFlags): Filter {
  const out: Filter = {};
  if (f.type) out.type = f.type;
  if (f.tenant) out.tenantId = f.tenant;
  if (f.taskQueue) out.taskQueue = f.taskQueue;
  if (f.since) out.since = parseSince(f.since).toISOString();
  if (f.status) {
    const statuses = f.status.split(',').map((s) => s.trim());
    for (const s of statuses)
      if (!FAILED_STATUSES.includes(s as FailedStatus))
        throw new Error(`--status takes ${FAILED_STATUSES.join(', ')} (comma-separated); got '${s}'`);
    out.status = statuses as FailedStatus[];
  }
  if (f.limit !== undefined) {
    if (!/^[1-9]\d*$/.test(f.limit)) throw new Error('--limit must be a whole number ≥ 1');
    out.limit = Number(f.limit);
  }
  return out;
}

const queryOf = (f: Filter) => ({ ...f, status: f.status?.join(','), limit: f.limit });

const runsTable = (runs: readonly FailedRun[]): string =>
  table(
    ['STATUS', 'WORKFLOW ID', 'TYPE', 'TENANT', 'CLOSED'],
    runs.map((r) => [r.status, r.workflowId, r.type, r.tenantId ?? '-', r.closeTime ?? '-']),
  );

/** The command's API client (global --api, else SYNC_API_URL, else HOST:PORT). */
const clientOf = (cmd: Command): ApiClient => apiClientFor(cmd, loadConfigOrExit());

/** A retry acts on up to `limit` runs in one request: give it the API's own deadline and some. */
const RETRY_TIMEOUT_MS = 660_000;

const withFilters = (c: Command) =>
  c
    .option('--type <workflowType>', 'workflow type, e.g. tenantSyncWorkflow, migrationWorkflow')
    .option('--tenant <tenantId>', 'the TenantId search attribute')
    .option('--task-queue <name>', 'only runs of this task queue')
    .option('--since <when>', 'closed within the last 30m / 24h / 7d, or after an ISO date')
    .option('--status <list>', `comma-separated subset of ${FAILED_STATUSES.join(',')} (default: all)`)
    .option('--limit <n>', 'at most this many workflows, newest first (100; at most 1000)')
    .option('--json', 'print JSON');

const handled =
  <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
  async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      failWith(err);
    }
  };

function printDryRun(s: RetrySummary, f: { json?: boolean; dryRun?: boolean }): void {
  if (f.json) return void process.stdout.write(`${JSON.stringify(s)}\n`);
  if (s.count > 0) process.stdout.write(`${runsTable(s.runs)}\n`);
  process.stdout.write(
    `${s.count} failed run(s) would be ${s.mode === 'reset' ? 'reset' : 'restarted'}${s.count > 0 && !f.dryRun ? ' — run again with --yes to do it' : ''}\n`,
  );
}

function printRetried(s: RetrySummary, json: boolean | undefined): void {
  if (json) return void process.stdout.write(`${JSON.stringify(s)}\n`);
  for (const r of s.results)
    process.stdout.write(r.ok ? `ok      ${r.run.workflowId} → run ${r.newRunId}\n` : `FAILED  ${r.run.workflowId}: ${r.error}\n`);
  process.stdout.write(`${s.count} matched · ${s.succeeded} ${s.mode === 'reset' ? 'reset' : 'restarted'} · ${s.failed} failed\n`);
}

export function registerRunsCommand(program: Command): void {
  const runs = program.command('runs').description('failed workflow runs (Temporal visibility): list them, reset or restart them in bulk');
  addListCommand(runs, 'list', 'sync runs of the tenants (paged, run-ID order)', syncRunsList);

  withFilters(runs.command('failed').description('list workflows whose newest run failed, timed out or was terminated')).action(
    handled(async (f: FilterFlags, cmd: Command) => {
      const query = queryOf(filterOf(f));
      const { runs: found } = await clientOf(cmd).request<{ runs: FailedRun[] }>('/api/runs/failed', { query });
      process.stdout.write(
        f.json ? `${JSON.stringify(found)}\n` : found.length ? `${runsTable(found)}\n${found.length} failed\n` : 'no failed runs\n',
      );
    }),
  );

  withFilters(runs.command('retry').description('reset (default) or restart the matching failed runs; without --yes only counts them'))
    .option('--mode <mode>', "'reset' (replay to the first workflow task) or 'restart' (same ID, original input)", 'reset')
    .option('--dry-run', 'count and list only')
    .option('--yes', 'act (without it: a dry run)')
    .option('--concurrency <n>', 'runs acted on at once (4)')
    .action(
      handled(async (f: FilterFlags & { mode: string; dryRun?: boolean; yes?: boolean; concurrency?: string }, cmd: Command) => {
        if (f.mode !== 'reset' && f.mode !== 'restart') fail(`--mode must be reset or restart (got '${f.mode}')`);
        if (f.concurrency !== undefined && !/^[1-9]\d*$/.test(f.concurrency)) fail('--concurrency must be a whole number ≥ 1');
        const mode = f.mode as RetryMode;
        const filter = filterOf(f);
        const dryRun = !!f.dryRun || !f.yes;
        const body = {
          ...filter,
          mode,
          dryRun,
          ...(dryRun ? {} : { reason: `cli runs retry --mode ${mode}` }),
          ...(f.concurrency ? { concurrency: Number(f.concurrency) } : {}),
        };
        const s = await clientOf(cmd).request<RetrySummary>('/api/runs/retry', {
          method: 'POST',
          body,
          // Acting needs a key; one per invocation (the API's reset request IDs are per run besides).
          ...(dryRun ? {} : { idempotencyKey: `cli-runs-retry-${randomUUID()}`, timeoutMs: RETRY_TIMEOUT_MS }),
        });
        if (dryRun) return printDryRun(s, f);
        printRetried(s, f.json);
        process.exitCode = s.failed > 0 ? 1 : 0;
      }),
    );
}
