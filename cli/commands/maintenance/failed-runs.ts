import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { loadConfigOrExit } from '../../../infra/config';
import {
  FAILED_STATUSES,
  listFailedRuns,
  retryFailedRuns,
  type FailedRun,
  type FailedRunsFilter,
  type FailedStatus,
  type RetryMode,
} from '../../../activities/maintenance/failed-runs';
import { createTemporalClient, type TemporalHandle } from '../../../infra/temporal';
import { fail } from '../../fail';

// `runs failed` and `runs retry`: the dead-letter view over Temporal visibility — failed runs by
// type and tenant, and their bulk reset or restart (dry-run count first; acting needs --yes).

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

function filterOf(f: FilterFlags): FailedRunsFilter {
  const out: FailedRunsFilter = {};
  if (f.type) out.type = f.type;
  if (f.tenant) out.tenantId = f.tenant;
  if (f.taskQueue) out.taskQueue = f.taskQueue;
  if (f.since) out.since = parseSince(f.since);
  if (f.status) {
    const statuses = f.status.split(',').map((s) => s.trim());
    for (const s of statuses)
      if (!FAILED_STATUSES.includes(s as FailedStatus))
        throw new Error(`--status takes ${FAILED_STATUSES.join(', ')} (comma-separated); got '${s}'`);
    out.statuses = statuses as FailedStatus[];
  }
  if (f.limit !== undefined) {
    if (!/^[1-9]\d*$/.test(f.limit)) throw new Error('--limit must be a whole number ≥ 1');
    out.limit = Number(f.limit);
  }
  return out;
}

function table(runs: readonly FailedRun[]): string {
  const rows = runs.map((r) => [r.status, r.workflowId, r.type, r.tenantId ?? '-', r.closeTime ?? '-']);
  const head = ['STATUS', 'WORKFLOW ID', 'TYPE', 'TENANT', 'CLOSED'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [head, ...rows]
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

async function withTemporal<T>(fn: (t: TemporalHandle) => Promise<T>): Promise<T> {
  const config = loadConfigOrExit();
  const temporal = createTemporalClient(config);
  try {
    return await fn(temporal);
  } finally {
    await temporal.close();
  }
}

const withFilters = (c: Command) =>
  c
    .option('--type <workflowType>', 'workflow type, e.g. tenantSyncWorkflow, migrationWorkflow')
    .option('--tenant <tenantId>', 'the TenantId search attribute')
    .option('--task-queue <name>', 'only runs of this task queue')
    .option('--since <when>', 'closed within the last 30m / 24h / 7d, or after an ISO date')
    .option('--status <list>', `comma-separated subset of ${FAILED_STATUSES.join(',')} (default: all)`)
    .option('--limit <n>', 'at most this many workflows, newest first (100)')
    .option('--json', 'print JSON');

const handled =
  <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
  async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err));
    }
  };

export function registerRunsCommand(program: Command): void {
  const runs = program.command('runs').description('failed workflow runs (Temporal visibility): list them, reset or restart them in bulk');

  withFilters(runs.command('failed').description('list workflows whose newest run failed, timed out or was terminated')).action(
    handled(async (f: FilterFlags) => {
      const filter = filterOf(f);
      const found = await withTemporal((t) => listFailedRuns({ client: t.client, ...filter }));
      process.stdout.write(
        f.json ? `${JSON.stringify(found)}\n` : found.length ? `${table(found)}\n${found.length} failed\n` : 'no failed runs\n',
      );
    }),
  );

  withFilters(runs.command('retry').description('reset (default) or restart the matching failed runs; without --yes only counts them'))
    .option('--mode <mode>', "'reset' (replay to the first workflow task) or 'restart' (same ID, original input)", 'reset')
    .option('--dry-run', 'count and list only')
    .option('--yes', 'act (without it: a dry run)')
    .option('--concurrency <n>', 'runs acted on at once (4)')
    .action(
      handled(async (f: FilterFlags & { mode: string; dryRun?: boolean; yes?: boolean; concurrency?: string }) => {
        if (f.mode !== 'reset' && f.mode !== 'restart') fail(`--mode must be reset or restart (got '${f.mode}')`);
        if (f.concurrency !== undefined && !/^[1-9]\d*$/.test(f.concurrency)) fail('--concurrency must be a whole number ≥ 1');
        const mode = f.mode as RetryMode;
        const filter = filterOf(f);
        const dryRun = !!f.dryRun || !f.yes;
        await withTemporal(async (t) => {
          if (dryRun) {
            const s = await retryFailedRuns({ client: t.client, ...filter, mode, dryRun: true });
            if (f.json) process.stdout.write(`${JSON.stringify(s)}\n`);
            else {
              if (s.count > 0) process.stdout.write(`${table(s.runs)}\n`);
              process.stdout.write(
                `${s.count} failed run(s) would be ${mode === 'reset' ? 'reset' : 'restarted'}${s.count > 0 && !f.dryRun ? ' — run again with --yes to do it' : ''}\n`,
              );
            }
            return;
          }
          const bar = new SingleBar({
            format: `${mode} |{bar}| {value}/{total} · ok {ok} · failed {failed}`,
            barCompleteChar: '█',
            barIncompleteChar: '░',
            hideCursor: true,
            noTTYOutput: true,
            notTTYSchedule: 5_000,
          });
          let ok = 0;
          let failed = 0;
          const s = await retryFailedRuns({
            client: t.client,
            ...filter,
            mode,
            dryRun: false,
            ...(f.concurrency ? { concurrency: Number(f.concurrency) } : {}),
            reason: `cli runs retry --mode ${mode}`,
            onListed: (list) => bar.start(Math.max(1, list.length), 0, { ok, failed }),
            onResult: (r) => {
              if (r.ok) ok += 1;
              else failed += 1;
              bar.update(ok + failed, { ok, failed });
            },
          }).finally(() => bar.stop());
          if (f.json) process.stdout.write(`${JSON.stringify(s)}\n`);
          else {
            for (const r of s.results)
              process.stdout.write(
                r.ok ? `ok      ${r.run.workflowId} → run ${r.newRunId}\n` : `FAILED  ${r.run.workflowId}: ${r.error}\n`,
              );
            process.stdout.write(`${s.count} matched · ${s.succeeded} ${mode === 'reset' ? 'reset' : 'restarted'} · ${s.failed} failed\n`);
          }
          process.exitCode = s.failed > 0 ? 1 : 0;
        });
      }),
    );
}
