import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { randomUUID } from 'node:crypto';
import { createReconcileService, type ReconcileService, type StartReconcileRequest } from '../../api/services/reconcile/service';
import { loadConfigOrExit } from '../../infra/config';
import { keyringFromConfig } from '../../infra/secrets';
import { createLogger } from '../../infra/logger';
import { connectMongo, type Mongo } from '../../infra/mongo';
import { createTemporalClient, type TemporalHandle } from '../../infra/temporal';
import { FINAL_STATES, type ReconcileOptions, type ReconcileProgress } from '../../shared/reconcile';
import { fail, failWith } from '../fail';

// `reconcile start … [--follow]`, `reconcile status <batchId>`, `reconcile cancel <batchId>`:
// straight to MongoDB and Temporal with the process's config (no API needed). The CLI is the
// operator: it sees every batch; the platform database and URIs outside
// RECONCILE_ALLOWED_URIS are refused to it as to the API.

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
  follow?: boolean;
  json?: boolean;
}

async function withService<T>(fn: (svc: ReconcileService) => Promise<T>): Promise<T> {
  const config = loadConfigOrExit();
  const log = createLogger({ name: 'cli', level: 'silent' });
  let mongo: Mongo | undefined;
  let temporal: TemporalHandle | undefined;
  try {
    mongo = await connectMongo(config, log);
    temporal = createTemporalClient(config);
    return await fn(
      createReconcileService({
        mongo,
        temporal,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
        log,
        secrets: keyringFromConfig(config),
        allowedUris: config.RECONCILE_ALLOWED_URIS,
      }),
    );
  } finally {
    await Promise.allSettled([mongo?.close(), temporal?.close()]);
  }
}

function wholeNumber(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) fail(`--${name} must be a whole number`);
  return Number(v);
}

function requestOf(f: StartFlags): StartReconcileRequest {
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
  const target = f.targetDb && f.targetCollection ? { uri: f.targetUri, db: f.targetDb, collection: f.targetCollection } : undefined;
  if ((f.targetDb === undefined) !== (f.targetCollection === undefined)) fail('give both --target-db and --target-collection');
  let source: StartReconcileRequest['source'];
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
    `processed   ${p.processed} of ~${p.total}  · ${p.ratePerSec}/s · ETA ${duration(p.etaSeconds)} · elapsed ${duration(Math.round(p.elapsedMs / 1000))}`,
    `outcomes    matched ${o.matched} · missing ${o.missing_in_target} · extra ${o.extra_in_target} · mismatched ${o.mismatched}`,
    `repairs     repaired ${p.repaired} · flagged ${p.flagged} · conflicts ${p.conflicts}`,
    `records     successful ${p.successful} · failed ${p.failed}`,
    `chunks      done ${p.chunks.done} · failed ${p.chunks.failed} · in flight ${p.chunks.inFlight}  (partitions ${p.partitions.done}/${p.partitions.total}, runs ${p.runs})`,
    ...(p.errors?.length ? [`errors      ${p.errors.join('; ')}`] : []),
    `correlation ${p.correlationId}`,
  ].join('\n');
}

/** Polls the progress and draws it until the run ends; Ctrl-C stops following, not the run. */
async function follow(svc: ReconcileService, batchId: string): Promise<ReconcileProgress> {
  const bar = new SingleBar({
    format:
      'reconcile |{bar}| {percentage}% · {value}/{total} · {rate}/s · ETA {etaText} · repaired {repaired} · failed {failed} · chunks {chunks}',
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
  let p = await svc.progress(batchId);
  bar.start(Math.max(1, p.total), p.processed, {
    rate: p.ratePerSec,
    etaText: duration(p.etaSeconds),
    repaired: p.repaired,
    failed: p.failed,
    chunks: p.chunks.done,
  });
  try {
    while (!FINAL_STATES.includes(p.state) && !stopped) {
      await new Promise((r) => setTimeout(r, 1_000));
      p = await svc.progress(batchId);
      bar.setTotal(Math.max(1, p.total));
      bar.update(p.processed, {
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

function handled<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      failWith(err);
    }
  };
}

export function registerReconcileCommand(program: Command): void {
  const rc = program
    .command('reconcile')
    .description('compare a source with a target namespace record by record, and repair it (a Temporal workflow)');

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
    .option('--follow', 'show a live progress bar with rate and ETA until the run ends')
    .option('--json', 'print JSON')
    .action(
      handled(async (f: StartFlags) => {
        const req = requestOf(f);
        await withService(async (svc) => {
          const started = await svc.start(req, `cli-${randomUUID()}`);
          if (!f.follow) {
            process.stdout.write(
              f.json
                ? `${JSON.stringify(started)}\n`
                : `started ${started.batchId} (${started.workflowId})${started.created ? '' : ' — already registered with this spec'}\nfollow: reconcile status ${started.batchId}\n`,
            );
            return;
          }
          process.stderr.write(`started ${started.batchId} (${started.workflowId})\n`);
          const p = await follow(svc, started.batchId);
          process.stdout.write(f.json ? `${JSON.stringify(p)}\n` : `${describeProgress(p)}\n`);
          process.exitCode = exitCodeOf(p);
        });
      }),
    );

  rc.command('status <batchId>')
    .description('progress of a run: live while it runs, the recorded result once it ended')
    .option('--json', 'print JSON')
    .option('--follow', 'show a live progress bar until the run ends')
    .action(
      handled(async (batchId: string, f: { json?: boolean; follow?: boolean }) => {
        await withService(async (svc) => {
          const p = f.follow ? await follow(svc, batchId) : await svc.progress(batchId);
          process.stdout.write(f.json ? `${JSON.stringify(p)}\n` : `${describeProgress(p)}\n`);
          process.exitCode = exitCodeOf(p);
        });
      }),
    );

  rc.command('cancel <batchId>')
    .description('stop a run at its next chunk boundaries; the counts so far are kept')
    .action(
      handled(async (batchId: string) => {
        await withService(async (svc) => {
          const r = await svc.cancel(batchId);
          process.stdout.write(`cancelling ${r.batchId} (${r.workflowId})\n`);
        });
      }),
    );
}
