import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { loadConfigOrExit, type AppConfig } from '../../infra/config';
import { MIGRATIONS_DIR, migrationTemplate } from '../../activities/migrations/registry';
import type { BackupRef, MigrationProgress, RestoreResult, RunMigrationsResult } from '../../shared/migrations';
import { apiBase, apiClientFor, callApi, type ApiClient } from '../api-client';
import { apiAction } from '../format';
import { failWith } from '../fail';
import { addListCommand } from '../list';
import type { MigrationRunRow } from '../../api/services/migrations/runs';

// `migrate status|up|create|backup|restore|backups|prune`. All but `create` (which writes a
// file) go through the API: runs are workflows on the worker; backups and restores are copies
// the API makes and answers when done.

const POLL_MS = 500;
const barFormat = '{name} {step} {collection} [{bar}] {value}/{total}';

function print(status: number, body: unknown): void {
  process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  if (status >= 400) process.exitCode = 1;
}

interface StatusBody {
  completed: Array<{ name: string; completedAt?: string; durationMs?: number }>;
  pending: Array<{ name: string; description: string }>;
  failed: Array<{ name: string; failedAt?: string; error?: { step: string; message: string }; restoreFailed?: string | null }>;
  running: Array<{ name: string; step: string; progress?: MigrationProgress | null }>;
}

function printStatus(s: StatusBody): void {
  const out: string[] = [];
  for (const m of s.completed) out.push(`  completed  ${m.name}  ${m.completedAt ?? ''}  ${m.durationMs ?? ''} ms`);
  for (const m of s.running)
    out.push(`  running    ${m.name}  (${m.step}${m.progress ? ` ${m.progress.done}/${m.progress.total ?? '?'}` : ''})`);
  for (const m of s.failed)
    out.push(
      `  FAILED     ${m.name}  at ${m.error?.step ?? '?'}: ${m.error?.message ?? ''}${m.restoreFailed ? `  ROLLBACK FAILED: ${m.restoreFailed}` : ''}`,
    );
  for (const m of s.pending) out.push(`  pending    ${m.name}  ${m.description}`);
  process.stdout.write(`${out.join('\n') || '  no migrations'}\n`);
}

function printRun(r: RunMigrationsResult): void {
  const out: string[] = [`${r.dryRun ? 'dry run' : 'run'} ${r.state}`];
  for (const m of r.results) {
    out.push(
      `  ${m.outcome.padEnd(9)} ${m.name}${m.durationMs ? `  ${m.durationMs} ms` : ''}${m.reason && m.outcome !== 'completed' ? `  (${m.reason})` : ''}`,
    );
    if (m.error) out.push(`      error at ${m.error.step}: ${m.error.message}`);
    for (const c of m.changes ?? []) out.push(`      change: ${c}`);
    for (const c of m.dryRun?.collections ?? [])
      out.push(
        `      ${c.name}: ${c.before.count} → ${c.after.count} documents${c.changed ? ', content changed' : ', unchanged'}${c.indexesAdded.length ? `, +index ${c.indexesAdded.join(' ')}` : ''}${c.indexesRemoved.length ? `, -index ${c.indexesRemoved.join(' ')}` : ''}`,
      );
    if (m.dryRun?.undeclared.length) out.push(`      note: up also wrote ${m.dryRun.undeclared.join(', ')} (not declared: not backed up)`);
    for (const b of m.backups ?? []) out.push(`      backup ${b.backupId}: ${b.count} documents`);
    for (const x of m.restored ?? [])
      out.push(`      restored ${x.collection} from ${x.backupId}: ${x.count} documents, ${x.verified ? 'verified' : 'NOT VERIFIED'}`);
    if (m.restoreFailed) out.push(`      ROLLBACK FAILED: ${m.restoreFailed}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Polls the run and the state until the run ends, with one bar per running migration. */
async function follow(config: AppConfig, base: string, workflowId: string): Promise<RunMigrationsResult | undefined> {
  const multi = new cliProgress.MultiBar(
    { format: barFormat, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  try {
    for (;;) {
      const [run, status] = await Promise.all([
        callApi<{ status: string; result?: RunMigrationsResult }>(config, base, `/api/migrations/runs/${encodeURIComponent(workflowId)}`),
        callApi<StatusBody>(config, base, '/api/migrations/status'),
      ]);
      const running = new Set<string>();
      for (const m of status.body?.running ?? []) {
        running.add(m.name);
        const p = m.progress;
        const payload = { name: m.name, step: m.step, collection: p?.collection ?? '' };
        const total = p?.total ?? Math.max(p?.done ?? 0, 1);
        const bar = bars.get(m.name) ?? multi.create(total, 0, payload);
        bars.set(m.name, bar);
        bar.setTotal(Math.max(total, p?.done ?? 0));
        bar.update(p?.done ?? 0, payload);
      }
      for (const [name, bar] of bars) if (!running.has(name)) bar.stop();
      if (run.status >= 400) throw new Error(`run ${workflowId}: HTTP ${run.status} ${JSON.stringify(run.body)}`);
      if (run.body.status !== 'RUNNING') return run.body.result;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    multi.stop();
  }
}

/** How long a backup or restore may take: the API answers when it is done (≈ 1 min per 200k documents). */
const COPY_TIMEOUT_MS = 30 * 60_000;

/** The server copies in one request: a note on stderr instead of a progress bar. */
const waitNote = (what: string) => process.stderr.write(`${what} (the API answers when it is done; about a minute per 200k documents)\n`);

export function registerMigrateCommand(program: Command): void {
  const migrate = program
    .command('migrate')
    .description('migrations: state, runs (through the API), new files, manual backup and restore')
    .option('--api <url>', 'API base URL (default http://HOST:PORT)');
  const base = (config: AppConfig) => apiBase(config, migrate.opts<{ api?: string }>().api);

  addListCommand<MigrationRunRow>(migrate, 'runs', 'batch migration runs, newest first (paged, Temporal visibility)', {
    path: '/api/migrations/runs',
    headers: ['WORKFLOW', 'STATUS', 'DRY RUN', 'REQUESTED BY', 'MIGRATIONS', 'STARTED', 'CLOSED'],
    row: (r) => [
      r.workflowId,
      r.status,
      r.dryRun ? 'yes' : 'no',
      r.requestedBy,
      r.names === 'all' ? 'all' : r.names.join(','),
      r.startedAt ?? '-',
      r.closedAt ?? '-',
    ],
  });

  migrate
    .command('status')
    .option('--json', 'raw JSON')
    .description('completed, running, failed and pending migrations')
    .action(async (o: { json?: boolean }) => {
      const config = loadConfigOrExit();
      const res = await callApi<StatusBody>(config, base(config), '/api/migrations/status');
      if (o.json || res.status >= 400) return print(res.status, res.body);
      printStatus(res.body);
    });

  migrate
    .command('up [names...]')
    .description('run pending migrations (or the named ones) in order, as a workflow; shows progress')
    .option('--dry-run', 'run up + verify against a scratch copy and report; live data is not touched')
    .option('--stop-on-error', 'stop at the first failure; later migrations stay pending')
    .option('--force', 'run completed migrations again')
    .option('--no-wait', 'print the run ID and return')
    .option('--json', 'print the run result as JSON')
    .action(async (names: string[], o: { dryRun?: boolean; stopOnError?: boolean; force?: boolean; wait: boolean; json?: boolean }) => {
      const config = loadConfigOrExit();
      const body = { ...(names.length ? { names } : {}), dryRun: !!o.dryRun, stopOnError: !!o.stopOnError, force: !!o.force };
      const res = await callApi<{ workflowId: string; names: string[] }>(config, base(config), '/api/migrations/run', {
        method: 'POST',
        body,
        idempotencyKey: randomUUID(),
      });
      if (res.status !== 202 || !o.wait) return print(res.status, res.body);
      process.stderr.write(`run ${res.body.workflowId}: ${res.body.names.length} migration(s)\n`);
      const result = await follow(config, base(config), res.body.workflowId);
      if (!result) return print(500, { error: 'the run ended without a result (terminated or timed out?)' });
      if (o.json) print(200, result);
      else printRun(result);
      if (result.state === 'failed') process.exitCode = 1;
    });

  migrate
    .command('create <name>')
    .description('write a new migration file from the template (timestamp prefix keeps the order)')
    .option('--dir <dir>', 'migrations folder', MIGRATIONS_DIR)
    .action((name: string, o: { dir: string }) => {
      const t = migrationTemplate(name);
      const file = path.join(o.dir, t.fileName);
      if (existsSync(file)) program.error(`${file} already exists`);
      writeFileSync(file, t.source, { flag: 'wx' });
      process.stdout.write(`${file}\n`);
    });

  migrate
    .command('backup <collection>')
    .description('back up a platform collection now (batched copy with count and checksum)')
    .action(
      apiAction(async (api, collection: string) => {
        waitNote(`backing up ${collection}`);
        const ref = await api.request<BackupRef>('/api/migrations/backups', {
          method: 'POST',
          body: { collection },
          idempotencyKey: randomUUID(),
          timeoutMs: COPY_TIMEOUT_MS,
        });
        print(200, ref);
      }),
    );

  migrate
    .command('restore <backup>')
    .description('restore a backup (by its ID) into its collection, verified by count and checksum')
    .option('--into <collection>', 'restore into another collection')
    .option('--force', 'even while a migration is running')
    .action(
      apiAction(async (api, backupId: string, o: { into?: string; force?: boolean }) => {
        waitNote(`restoring ${backupId}`);
        const result = await api.request<RestoreResult>(`/api/migrations/backups/${encodeURIComponent(backupId)}/restore`, {
          method: 'POST',
          body: { ...(o.into ? { into: o.into } : {}), ...(o.force ? { force: true } : {}) },
          idempotencyKey: randomUUID(),
          timeoutMs: COPY_TIMEOUT_MS,
        });
        print(result.verified ? 200 : 500, result);
      }),
    );

  migrate
    .command('backups')
    .description('list backups (newest first)')
    .action(
      apiAction(async (api) => {
        print(200, (await api.request<{ backups: unknown[] }>('/api/migrations/backups')).backups);
      }),
    );

  migrate
    .command('prune')
    .description('drop backups older than MIGRATION_BACKUP_RETENTION_MS (the cleanup schedule does this too)')
    .option('--older-than-ms <ms>', 'override the retention age')
    .action(
      apiAction(async (api, o: { olderThanMs?: string }) => {
        const body = o.olderThanMs !== undefined ? { olderThanMs: Number(o.olderThanMs) } : {};
        print(200, await api.request('/api/migrations/backups/prune', { method: 'POST', body, idempotencyKey: randomUUID() }));
      }),
    );
}
