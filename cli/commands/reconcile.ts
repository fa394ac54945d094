import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { randomUUID } from 'node:crypto';
import { loadConfigOrExit } from '../../infra/config';
import {
  FINAL_STATES,
  REPAIR_MODES,
  SCAN_MODES,
  type ReconcileOptions,
  type ReconcileProgress,
  type RepairMode,
  type ScanMode,
} from '../../shared/reconcile';
import { ApiProblemError, apiClientFor, type ApiClient } from '../api-client';
import { fail, failWith } from '../fail';
import { addListCommand } from '../list';
import type { BatchListItem } from '../../api/services/reconcile/service';

// `reconcile start … [--follow]`, `reconcile status <batchId>`, `reconcile cancel <batchId>`:
// through the API (POST /api/reconcile, GET …/progress, POST …/cancel) with an admin token on
// every tenant, so the operator sees every batch and meets the API's own refusals (the platform
// database, URIs outside RECONCILE_ALLOWED_URIS).

interface StartFlags {
  sourceUri?: string;
  sourceDb?: string;
  sourceCollection?: string;
  tenant?: string;
  collection?: string;
  targetUri?: string;
  targetDb?: string;
  targetCollection?: string;
  batchId?: string;
  chunkSize?: string;
  maxConcurrency?: string;
  retryAttempts?: string;
  retryDelay?: string;
  timeoutPerChunk?: string;
  partitions?: string;
  repairBatch?: string;
  dryRun?: boolean;
  extras?: string;
  scan?: string;
  repairMode?: string;
  idempotencyKey?: string;
  follow?: boolean;
  json?: boolean;
}

/** The body of POST /api/reconcile (api/routes/reconcile.ts). */
interface StartBody {
  batchId?: string;
  source: { kind: 'namespace'; uri?: string; db: string; collection: string } | { kind: 'tenant'; tenantId: string; collection: string };
  target?: { uri?: string; db: string; collection: string };
  options: Partial<ReconcileOptions>;
}

interface Started {
  batchId: string;
  workflowId: string;
  correlationId: string;
  created: boolean;
}

function wholeNumber(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) fail(`--${name} must be a whole number`);
  return Number(v);
}

function requestOf(f: StartFlags): StartBody {
  const options: Partial<ReconcileOptions> = {
    chunkSize: wholeNumber('chunk-size', f.chunkSize),
    maxConcurrency: wholeNumber('max-concurrency', f.maxConcurrency),
    retryAttempts: wholeNumber('retry-attempts', f.retryAttempts),
    retryDelay: wholeNumber('retry-delay', f.retryDelay),
    timeoutPerChunk: wholeNumber('timeout-per-chunk', f.timeoutPerChunk),
    partitions: wholeNumber('partitions', f.partitions),
    repairBatch: wholeNumber('repair-batch', f.repairBatch),
    dryRun: f.dryRun ?? false,
  };
  if (f.extras !== undefined) {
    if (f.extras !== 'flag' && f.extras !== 'delete') fail("--extras must be 'flag' or 'delete'");
    options.extras = f.extras as 'flag' | 'delete';
  }
  if (f.scan !== undefined) {
    if (!SCAN_MODES.includes(f.scan as ScanMode)) fail(`--scan must be one of ${SCAN_MODES.join(', ')}`);
    options.scan = f.scan as ScanMode;
  }
  if (f.repairMode !== undefined) {
    if (!REPAIR_MODES.includes(f.repairMode as RepairMode)) fail(`--repair-mode must be one of ${REPAIR_MODES.join(', ')}`);
    options.repairMode = f.repairMode as RepairMode;
  }
  const target = f.targetDb && f.targetCollection ? { uri: f.targetUri, db: f.targetDb, collection: f.targetCollection } : undefined;
  if ((f.targetDb === undefined) !== (f.targetCollection === undefined)) fail('give both --target-db and --target-collection');
  let source: StartBody['source'];
  if (f.tenant) {
    if (!f.collection) fail('--tenant needs --collection');
    source = { kind: 'tenant', tenantId: f.tenant, collection: f.collection! };
  } else {
    if (!f.sourceDb || !f.sourceCollection) fail('give --source-db and --source-collection (or --tenant and --collection)');
    if (!target) fail('a namespace source needs --target-db and --target-collection');
    source = { kind: 'namespace', uri: f.sourceUri, db: f.sourceDb!, collection: f.sourceCollection! };
  }
  return { batchId: f.batchId, source: source!, target, options };
}

const duration = (s: number | null) =>
  s === null
    ? '?'
    : s >= 3600
      ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
      : s >= 60
        ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
        : `${s}s`;

export function describeProgress(p: ReconcileProgress): string {
  const o = p.outcomes;
  return [
    `batch       ${p.batchId} (${p.workflowId})`,
    `state       ${p.state}${p.dryRun ? ' (dry run)' : ''}`,
    ...(p.scan
      ? [`scan        hashed, ${p.scan.phase === 'scanning' ? 'reading' : 'read'} ${p.scan.read} of ~${p.scan.of} records of both stores`]
      : []),
    `processed   ${p.processed} of ~${p.total}  · ${p.ratePerSec}/s · ETA ${duration(p.etaSeconds)} · elapsed ${duration(Math.round(p.elapsedMs / 1000))}`,
    `outcomes    matched ${o.matched} · missing ${o.missing_in_target} · extra ${o.extra_in_target} · mismatched ${o.mismatched}`,
    `repairs     repaired ${p.repaired} · flagged ${p.flagged} · conflicts ${p.conflicts}`,
    `records     successful ${p.successful} · failed ${p.failed}`,
    `chunks      done ${p.chunks.done} · failed ${p.chunks.failed} · in flight ${p.chunks.inFlight}  (partitions ${p.partitions.done}/${p.partitions.total}, runs ${p.runs})`,
    ...(p.errors?.length ? [`errors      ${p.errors.join('; ')}`] : []),
    `correlation ${p.correlationId}`,
  ].join('\n');
}

const POLL_MS = 1_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const progressOf = (api: ApiClient, batchId: string) =>
  api.request<ReconcileProgress>(`/api/reconcile/${encodeURIComponent(batchId)}/progress`, { timeoutMs: 30_000 });

/** One poll while following: a rate-limit answer waits as long as it asks instead of ending the watch. */
async function pollProgress(api: ApiClient, batchId: string): Promise<ReconcileProgress> {
  for (;;) {
    try {
      return await progressOf(api, batchId);
    } catch (err) {
      if (!(err instanceof ApiProblemError) || err.status !== 429) throw err;
      await sleep(Math.max(1, Number(err.problem.retryAfter) || 1) * 1_000);
    }
  }
}

/** Polls the progress and draws it until the run ends; Ctrl-C stops following, not the run. */
async function follow(api: ApiClient, batchId: string): Promise<ReconcileProgress> {
  const bar = new SingleBar({
    format:
      'reconcile {phase} |{bar}| {percentage}% · {value}/{total} · {rate}/s · ETA {etaText} · repaired {repaired} · failed {failed} · chunks {chunks}',
    barCompleteChar: '█',
    barIncompleteChar: '░',
    hideCursor: true,
    noTTYOutput: true,
    notTTYSchedule: 5_000,
  });
  let stopped = false;
  const onSigint = () => {
    stopped = true;
  };
  process.once('SIGINT', onSigint);
  let p = await progressOf(api, batchId);
  // A hashed scan reads both stores before it compares: the bar shows the read, then the compare.
  const reading = (q: ReconcileProgress) => q.scan?.phase === 'scanning';
  const shown = (q: ReconcileProgress) =>
    reading(q)
      ? { value: q.scan!.read, total: q.scan!.of, phase: 'reading  ' }
      : { value: q.processed, total: q.total, phase: 'comparing' };
  bar.start(Math.max(1, shown(p).total), shown(p).value, {
    phase: shown(p).phase,
    rate: p.ratePerSec,
    etaText: duration(p.etaSeconds),
    repaired: p.repaired,
    failed: p.failed,
    chunks: p.chunks.done,
  });
  try {
    while (!FINAL_STATES.includes(p.state) && !stopped) {
      await sleep(POLL_MS);
      p = await pollProgress(api, batchId);
      bar.setTotal(Math.max(1, shown(p).total));
      bar.update(shown(p).value, {
        phase: shown(p).phase,
        rate: p.ratePerSec,
        etaText: duration(p.etaSeconds),
        repaired: p.repaired,
        failed: p.failed,
        chunks: `${p.chunks.done}+${p.chunks.inFlight}${p.chunks.failed ? ` (${p.chunks.failed} failed)` : ''}`,
      });
    }
  } finally {
    bar.stop();
    process.removeListener('SIGINT', onSigint);
  }
  if (stopped)
    process.stderr.write(`stopped following; the run goes on — \`reconcile status ${batchId}\` or \`reconcile cancel ${batchId}\`\n`);
  return p;
}

const exitCodeOf = (p: ReconcileProgress) =>
  p.state === 'completed' ? 0 : p.state === 'partial' ? 2 : FINAL_STATES.includes(p.state) ? 1 : 0;

/** An action with the command's API client; any error stops the process through failWith. */
function handled<A extends unknown[]>(fn: (api: ApiClient, ...args: A) => Promise<void>) {
  return async (...args: [...A, Command]) => {
    try {
      const cmd = args.at(-1) as Command;
      await fn(apiClientFor(cmd, loadConfigOrExit()), ...(args.slice(0, -1) as A));
    } catch (err) {
      failWith(err);
    }
  };
}

export function registerReconcileCommand(program: Command): void {
  const rc = program
    .command('reconcile')
    .description('compare a source with a target namespace record by record, and repair it (a Temporal workflow)');

  const where = (r: BatchListItem['source'] | BatchListItem['target']) =>
    'tenantId' in r ? `tenant ${r.tenantId}/${r.collection}` : `${r.external ? 'ext:' : ''}${r.db}.${r.collection}`;
  addListCommand<BatchListItem>(rc, 'list', 'reconcile batches (paged, batch-ID order)', {
    path: '/api/reconcile',
    headers: ['BATCH', 'STATE', 'SOURCE', 'TARGET', 'DRY RUN', 'CREATED', 'CREATED BY'],
    row: (b) => [b.batchId, b.state, where(b.source), where(b.target), b.dryRun ? 'yes' : 'no', b.createdAt, b.createdBy],
    filters: [
      { flag: '--state <state>', query: 'state', description: 'pending, running, completed, partial, failed or cancelled' },
      { flag: '--tenant-id <tenantId>', query: 'tenantId', description: "only this tenant's batches" },
    ],
  });

  rc.command('start')
    .description(
      'start a reconcile run: a MongoDB namespace (--source-*) or a tenant collection (--tenant, --collection) against a target namespace',
    )
    .option('--source-uri <uri>', 'source MongoDB URI, one of RECONCILE_ALLOWED_URIS (default: MONGODB_URI)')
    .option('--source-db <db>', 'source database')
    .option('--source-collection <name>', 'source collection')
    .option('--tenant <tenantId>', "a registered tenant: its upstream through the tenant's connector")
    .option('--collection <name>', "the tenant's collection (target default: the tenant's own)")
    .option('--target-uri <uri>', 'target MongoDB URI, one of RECONCILE_ALLOWED_URIS (default: MONGODB_URI)')
    .option('--target-db <db>', 'target database')
    .option('--target-collection <name>', 'target collection')
    .option('--batch-id <id>', 'batch ID (dedup key; default generated)')
    .option('--chunk-size <n>', 'merged keys per chunk (1000)')
    .option('--max-concurrency <n>', 'partitions in flight (5)')
    .option('--retry-attempts <n>', 'retries of a failing chunk (3)')
    .option('--retry-delay <ms>', 'first retry delay, doubled per attempt (5000)')
    .option('--timeout-per-chunk <ms>', 'bound on one chunk attempt (600000)')
    .option('--partitions <n>', 'key-space partitions, 0 = auto (0)')
    .option('--repair-batch <n>', 'staged repairs applied together (1000)')
    .option('--dry-run', 'compare and report only')
    .option('--extras <policy>', "records only in the target: 'flag' or 'delete' (flag)")
    .option('--repair-mode <mode>', "hashed scans: 'guarded' or 'rewrite' (one rewrite of a target nothing else writes) (guarded)")
    .option('--scan <mode>', "how the stores are read: 'ordered', 'hashed' or 'auto' (hashed on FerretDB) (auto)")
    .option('--idempotency-key <key>', 'Idempotency-Key of the start: the same key repeats the same start (default: random)')
    .option('--follow', 'show a live progress bar with rate and ETA until the run ends')
    .option('--json', 'print JSON')
    .action(
      handled(async (api, f: StartFlags) => {
        const body = requestOf(f);
        const started = await api.request<Started>('/api/reconcile', {
          method: 'POST',
          body,
          idempotencyKey: f.idempotencyKey ?? `cli-${randomUUID()}`,
        });
        if (!f.follow) {
          process.stdout.write(
            f.json
              ? `${JSON.stringify(started)}\n`
              : `started ${started.batchId} (${started.workflowId})${started.created ? '' : ' — already registered with this spec'}\nfollow: reconcile status ${started.batchId}\n`,
          );
          return;
        }
        process.stderr.write(`started ${started.batchId} (${started.workflowId})\n`);
        const p = await follow(api, started.batchId);
        process.stdout.write(f.json ? `${JSON.stringify(p)}\n` : `${describeProgress(p)}\n`);
        process.exitCode = exitCodeOf(p);
      }),
    );

  rc.command('status <batchId>')
    .description('progress of a run: live while it runs, the recorded result once it ended')
    .option('--json', 'print JSON')
    .option('--follow', 'show a live progress bar until the run ends')
    .action(
      handled(async (api, batchId: string, f: { json?: boolean; follow?: boolean }) => {
        const p = f.follow ? await follow(api, batchId) : await progressOf(api, batchId);
        process.stdout.write(f.json ? `${JSON.stringify(p)}\n` : `${describeProgress(p)}\n`);
        process.exitCode = exitCodeOf(p);
      }),
    );

  rc.command('cancel <batchId>')
    .description('stop a run at its next chunk boundaries; the counts so far are kept')
    .action(
      handled(async (api, batchId: string) => {
        const r = await api.request<{ batchId: string; workflowId: string }>(`/api/reconcile/${encodeURIComponent(batchId)}/cancel`, {
          method: 'POST',
        });
        process.stdout.write(`cancelling ${r.batchId} (${r.workflowId})\n`);
      }),
    );
}
