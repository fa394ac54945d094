import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createReconcileService } from '../api/services/reconcile/service';
import { driftOf, generatePair, rawCompare } from '../fixtures/reconcile-data';
import { REPO_ROOT } from '../infra/dev/ensure-tools';
import { loadConfig } from '../infra/config';
import { keyringFromConfig } from '../infra/secrets';
import { createLogger } from '../infra/logger';
import { connectMongo } from '../infra/mongo';
import { createTemporalClient } from '../infra/temporal';
import { FINAL_STATES, type ReconcileOptions, type ReconcileProgress } from '../shared/reconcile';
import { bundleWorkflows } from '../workers/create-worker';
import { fmt, startBenchStack, table } from './harness';

// npm run bench:reconcile -- --records 100000 --drift 1% [--chunk-size 1000] [--partitions 0]
//   [--max-concurrency 5] [--repair-batch 1000] [--no-repair] [--progress-interval 2000]
//   [--history-limit 2000]
// Its own embedded stack (FerretDB, Temporal, Redis on free ports) and a real worker process
// (workers/worker.ts, its peak RSS read from /proc). Generates a source and a target with the
// given drift, then measures: the raw limit (this process comparing both stores in key order
// with the driver, no Temporal), the same compare as a reconcile through Temporal (dry run), and
// a repairing run, verified by a second raw compare.

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    drift: { type: 'string', default: '1%' },
    'chunk-size': { type: 'string', default: '1000' },
    partitions: { type: 'string', default: '0' },
    'max-concurrency': { type: 'string', default: '5' },
    'progress-interval': { type: 'string', default: '2000' },
    'history-limit': { type: 'string', default: '2000' },
    'repair-batch': { type: 'string', default: '1000' },
    'no-repair': { type: 'boolean', default: false },
  },
});
const RECORDS = Number(args.records);
const DRIFT = args.drift.endsWith('%') ? Number(args.drift.slice(0, -1)) / 100 : Number(args.drift);
if (!Number.isInteger(RECORDS) || RECORDS < 1 || !(DRIFT >= 0 && DRIFT <= 1))
  throw new TypeError('--records must be a positive whole number and --drift a fraction or percentage');
const options: Partial<ReconcileOptions> = {
  chunkSize: Number(args['chunk-size']),
  partitions: Number(args.partitions),
  maxConcurrency: Number(args['max-concurrency']),
  progressIntervalMs: Number(args['progress-interval']),
  historyLimit: Number(args['history-limit']),
  repairBatch: Number(args['repair-batch']),
  retryDelay: 500,
};
/**
 * Node flags of the worker process. V8 lets garbage pile up to a few hundred MB when it may; a
 * sized heap shows the live set is constant (a leak would end in an out-of-memory crash).
 * BENCH_WORKER_V8_FLAGS='' runs with Node's defaults.
 */
const WORKER_V8_FLAGS = process.env.BENCH_WORKER_V8_FLAGS ?? '--max-old-space-size=192';
const say = (m: string) => process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${m}\n`);

/** bench/reconcile-worker.ts in its own node process (no tsx wrapper: its VmHWM is the worker's). */
async function startReconcileWorker(env: Record<string, string>) {
  const dir = path.join(REPO_ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const out = createWriteStream(path.join(dir, 'reconcile-worker.log'));
  const v8Flags = WORKER_V8_FLAGS.split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...v8Flags, '--import', 'tsx', path.join(REPO_ROOT, 'bench/reconcile-worker.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.pipe(out);
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out.write(b);
      if (b.toString().includes('worker running')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`bench worker exited (${String(code)}); see bench-results/reconcile-worker.log`)));
  });
  const status = (field: string) => {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  };
  return {
    pid: child.pid!,
    /** Peak resident set size since the worker started (VmHWM), MB. */
    peakRssMb: () => status('VmHWM'),
    rssMb: () => status('VmRSS'),
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** User + system CPU seconds of a process (from /proc). */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

const bench = await startBenchStack(say);
const tmp = mkdtempSync(path.join(tmpdir(), 'bench-reconcile-'));
const env = { ...bench.env, MONGODB_DB: 'bench_platform', TEMPORAL_TASK_QUEUE: 'bench-reconcile', CLIENT_UPSERT_ON_START: 'false' };
const config = loadConfig(env);
const log = createLogger({ name: 'bench', level: 'silent' });
const mongo = await connectMongo(config, log);
const temporal = createTemporalClient(config);
const data = mongo.client.db('bench_data');
const svc = createReconcileService({
  mongo,
  temporal,
  taskQueue: config.TEMPORAL_TASK_QUEUE,
  log,
  secrets: keyringFromConfig(config),
  allowedUris: config.RECONCILE_ALLOWED_URIS,
});

try {
  const drift = driftOf(RECORDS, DRIFT);
  say(
    `generating ${RECORDS} source records and a target with ${drift.missing} missing, ${drift.mismatched} mismatched, ${drift.extra} extra`,
  );
  let t0 = performance.now();
  const gen = await generatePair(data, { source: 'source', target: 'target' }, RECORDS, drift, 10_000);
  say(`generated in ${fmt((performance.now() - t0) / 1000)} s; starting the worker process`);
  const bundlePath = path.join(tmp, 'workflow-bundle.js');
  writeFileSync(bundlePath, (await bundleWorkflows()).code);
  const worker = await startReconcileWorker({ ...env, BUNDLE_PATH: bundlePath });
  // CPU seconds per process and phase: the machine is shared, CPU time is what contention leaves alone.
  const pids: Record<string, number> = { worker: worker.pid, bench: process.pid };
  for (const srv of bench.stack.servers) if (srv.process.pid) pids[srv.name] = srv.process.pid;
  const cpuNow = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const cpuSince = (from: Record<string, number>) => Object.fromEntries(Object.entries(cpuNow()).map(([k, v]) => [k, v - (from[k] ?? 0)]));
  const cpuText = (c: Record<string, number>) =>
    Object.entries(c)
      .filter(([, v]) => v >= 0.05)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(', ');
  const keys = RECORDS + gen.drift.extra;

  say('raw limit: one process, two key-ordered cursors, the same hash compare');
  const cpu = cpuNow();
  t0 = performance.now();
  const raw = await rawCompare(data.collection('source'), data.collection('target'));
  const rawS = (performance.now() - t0) / 1000;
  const rawCpu = cpuSince(cpu);
  say(`raw: ${raw.processed} keys in ${fmt(rawS)} s (cpu s: ${cpuText(rawCpu)})`);

  const run = async (
    label: string,
    extra: Partial<ReconcileOptions>,
  ): Promise<{ p: ReconcileProgress; s: number; cpu: Record<string, number> }> => {
    const cpu0 = cpuNow();
    const started = performance.now();
    const { batchId } = await svc.start(
      {
        source: { kind: 'namespace', db: 'bench_data', collection: 'source' },
        target: { db: 'bench_data', collection: 'target' },
        options: { ...options, ...extra },
      },
      `bench-${label}`,
    );
    let last = 0;
    for (;;) {
      const p = await svc.progress(batchId);
      if (FINAL_STATES.includes(p.state)) return { p, s: (performance.now() - started) / 1000, cpu: cpuSince(cpu0) };
      if (performance.now() - last > 10_000) {
        last = performance.now();
        say(
          `${label}: ${p.processed}/${p.total} at ${p.ratePerSec}/s, eta ${p.etaSeconds ?? '?'} s, chunks ${p.chunks.done}, runs ${p.runs}, worker peak ${fmt(worker.peakRssMb(), 0)} MB`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  say('reconcile through Temporal, dry run (the same work as the raw limit)');
  const dry = await run('dry', { dryRun: true });
  say(
    `dry: ${dry.p.state}, ${dry.p.processed} keys in ${fmt(dry.s)} s (cpu s: ${cpuText(dry.cpu)})${dry.p.errors ? `; errors: ${dry.p.errors.join('; ')}` : ''}`,
  );
  const rows: Array<Record<string, string | number>> = [
    {
      run: 'raw limit (driver, one process)',
      keys: raw.processed,
      seconds: fmt(rawS),
      'records/s': fmt(raw.processed / rawS, 0),
      'vs raw': '1.00',
      'worker peak RSS MB': '-',
      result: `${raw.missing}/${raw.mismatched}/${raw.extra}`,
    },
    {
      run: 'reconcile via Temporal, dry run',
      keys: dry.p.processed,
      seconds: fmt(dry.s),
      'records/s': fmt(dry.p.processed / dry.s, 0),
      'vs raw': fmt(dry.p.processed / dry.s / (raw.processed / rawS), 2),
      'worker peak RSS MB': fmt(worker.peakRssMb(), 0),
      result: `${dry.p.outcomes.missing_in_target}/${dry.p.outcomes.mismatched}/${dry.p.outcomes.extra_in_target}`,
    },
  ];
  const exact =
    dry.p.processed === keys &&
    dry.p.outcomes.missing_in_target === gen.drift.missing &&
    dry.p.outcomes.mismatched === gen.drift.mismatched &&
    dry.p.outcomes.extra_in_target === gen.drift.extra;
  let repair: { p: ReconcileProgress; s: number; cpu: Record<string, number> } | undefined;
  let equal: boolean | undefined;
  if (!args['no-repair']) {
    say('reconcile through Temporal, repairing (missing and mismatched upserted, extras deleted)');
    repair = await run('repair', { extras: 'delete' });
    say(`repair: ${repair.p.state}, ${repair.p.processed} keys in ${fmt(repair.s)} s (cpu s: ${cpuText(repair.cpu)})`);
    const after = await rawCompare(data.collection('source'), data.collection('target'));
    equal = after.processed === RECORDS && after.matched === RECORDS;
    rows.push({
      run: 'reconcile via Temporal, repairing',
      keys: repair.p.processed,
      seconds: fmt(repair.s),
      'records/s': fmt(repair.p.processed / repair.s, 0),
      'vs raw': fmt(repair.p.processed / repair.s / (raw.processed / rawS), 2),
      'worker peak RSS MB': fmt(worker.peakRssMb(), 0),
      result: `repaired ${repair.p.repaired}, target equals source: ${equal}`,
    });
  }
  const peak = worker.peakRssMb();
  await worker.stop();

  const summary = {
    records: RECORDS,
    drift: gen.drift,
    options,
    rawRecordsPerSec: Math.round(raw.processed / rawS),
    temporalRecordsPerSec: Math.round(dry.p.processed / dry.s),
    ratio: Number((dry.p.processed / dry.s / (raw.processed / rawS)).toFixed(3)),
    dryRunExact: exact,
    repairRecordsPerSec: repair ? Math.round(repair.p.processed / repair.s) : null,
    repaired: repair?.p.repaired ?? null,
    targetEqualsSource: equal ?? null,
    workerPeakRssMb: Math.round(peak),
    workerNodeFlags: WORKER_V8_FLAGS,
    cpuSeconds: { raw: rawCpu, dry: dry.cpu, repair: repair?.cpu ?? null },
    at: new Date().toISOString(),
  };
  process.stdout.write(
    `\nreconcile benchmark: ${RECORDS} records, drift ${args.drift} (missing/mismatched/extra ${gen.drift.missing}/${gen.drift.mismatched}/${gen.drift.extra}), chunkSize ${options.chunkSize}, partitions ${options.partitions || 'auto'}, worker node flags: ${WORKER_V8_FLAGS || '(none)'}\n\n`,
  );
  process.stdout.write(`${table(rows)}\n\n`);
  process.stdout.write(
    `raw ${summary.rawRecordsPerSec} records/s · Temporal ${summary.temporalRecordsPerSec} records/s · ratio ${summary.ratio} · worker peak RSS ${summary.workerPeakRssMb} MB · dry-run counts exact: ${exact}\n`,
  );
  const dir = path.join(REPO_ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `reconcile-${RECORDS}.json`), `${JSON.stringify(summary, null, 2)}\n`);
} finally {
  await Promise.allSettled([mongo.close(), temporal.close()]);
  await bench.close();
  rmSync(tmp, { recursive: true, force: true });
}
