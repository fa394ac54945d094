import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createReconcileService } from '../api/services/reconcile/service';
import { driftOf, rawCompare, sameDigest, storeDigest } from '../fixtures/reconcile-data';
import { REPO_ROOT } from '../infra/dev/ensure-tools';
import { tsEntry } from '../infra/dev/ts-entry';
import { loadConfig } from '../infra/config';
import { keyringFromConfig } from '../infra/secrets';
import { createLogger } from '../infra/logger';
import { connectMongo } from '../infra/mongo';
import { createTemporalClient } from '../infra/temporal';
import {
  FINAL_STATES,
  REPAIR_MODES,
  SCAN_MODES,
  type ReconcileOptions,
  type ReconcileProgress,
  type RepairMode,
  type ScanMode,
} from '../shared/reconcile';
import { bundleWorkflows } from '../workers/create-worker';
import { benchStops, fmt, loadAverage, sampleRss, startBenchStack, table } from './harness';
import { cachedPair, DATA_COLLECTION, DATA_DBS, restorePair } from './reconcile-data-cache';

// npm run bench:reconcile -- --records 100000 --drift 1% [--repair-mode guarded|rewrite] [--scan auto|ordered|hashed]
//   [--chunk-size 1000] [--partitions 0] [--max-concurrency 5] [--repair-batch 1000] [--no-repair]
//   [--progress-interval 2000] [--history-limit 2000] [--regenerate] [--ordered-raw]
//   [--gen-batch 5000] [--gen-in-flight 2] [--data-dir .data/bench-reconcile]
// Its own embedded stack (FerretDB, Temporal, Redis on free ports) and a real worker process
// (bench/reconcile-worker.ts). The source and a target with the given drift are generated once
// per (records, drift) into .data/bench-reconcile/ (reconcile-data-cache.ts) and copied into the
// stack's fresh data folder for each run. Measures: the raw limit (this process reading both
// stores at once in natural order, each record hashed as the reconcile does, no merge, no
// Temporal), the reconcile through Temporal (dry run), and a repairing run, after which the
// target's digest must equal the source's. VmRSS of the worker and the servers is sampled every
// second and reported as each phase's maximum. Ctrl-C stops everything it started.

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    drift: { type: 'string', default: '1%' },
    scan: { type: 'string', default: 'auto' },
    'repair-mode': { type: 'string', default: 'guarded' },
    'chunk-size': { type: 'string', default: '1000' },
    partitions: { type: 'string', default: '0' },
    'max-concurrency': { type: 'string', default: '5' },
    'progress-interval': { type: 'string', default: '2000' },
    'history-limit': { type: 'string', default: '2000' },
    'repair-batch': { type: 'string', default: '1000' },
    'no-repair': { type: 'boolean', default: false },
    regenerate: { type: 'boolean', default: false },
    'ordered-raw': { type: 'boolean', default: false },
    'gen-batch': { type: 'string', default: '5000' },
    'gen-in-flight': { type: 'string', default: '2' },
    'data-dir': { type: 'string', default: path.join(REPO_ROOT, '.data', 'bench-reconcile') },
  },
});
const RECORDS = Number(args.records);
const DRIFT = args.drift.endsWith('%') ? Number(args.drift.slice(0, -1)) / 100 : Number(args.drift);
if (!Number.isInteger(RECORDS) || RECORDS < 1 || !(DRIFT >= 0 && DRIFT <= 1))
  throw new TypeError('--records must be a positive whole number and --drift a fraction or percentage');
if (!SCAN_MODES.includes(args.scan as ScanMode)) throw new TypeError(`--scan must be one of ${SCAN_MODES.join(', ')}`);
const SCAN = args.scan as ScanMode;
if (!REPAIR_MODES.includes(args['repair-mode'] as RepairMode))
  throw new TypeError(`--repair-mode must be one of ${REPAIR_MODES.join(', ')}`);
const REPAIR_MODE = args['repair-mode'] as RepairMode;
const options: Partial<ReconcileOptions> = {
  chunkSize: Number(args['chunk-size']),
  partitions: Number(args.partitions),
  maxConcurrency: Number(args['max-concurrency']),
  progressIntervalMs: Number(args['progress-interval']),
  historyLimit: Number(args['history-limit']),
  repairBatch: Number(args['repair-batch']),
  retryDelay: 500,
  scan: SCAN,
  repairMode: REPAIR_MODE,
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
  const [cmd, args] = tsEntry(path.join(REPO_ROOT, 'bench/reconcile-worker.ts'), v8Flags);
  const child = spawn(cmd, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.pipe(out);
  const stopWorker = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  };
  const drop = benchStops(say).add(`the worker process ${child.pid}`, stopWorker);
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
      drop();
      await stopWorker();
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

const stops = benchStops(say);
const load0 = loadAverage();
const tAll = performance.now();
const drift = driftOf(RECORDS, DRIFT);
let t0 = performance.now();
const data = await cachedPair({
  root: path.resolve(args['data-dir']),
  records: RECORDS,
  fraction: DRIFT,
  drift,
  regenerate: args.regenerate,
  batch: Number(args['gen-batch']),
  inFlight: Number(args['gen-in-flight']),
  say,
});
const genS = (performance.now() - t0) / 1000;
say(
  data.reused
    ? `reusing ${data.dir} (generated in ${fmt(data.generatedSeconds)} s at ${data.generatedAt}; --regenerate makes it again)`
    : `generated ${RECORDS} source records and a target with ${data.drift.missing} missing, ${data.drift.mismatched} mismatched, ${data.drift.extra} extra in ${fmt(genS)} s (${fmt(RECORDS / genS, 0)} records/s) into ${data.dir}`,
);
let restore = { bytes: 0, s: 0 };
const bench = await startBenchStack(say, {
  prepare(dir) {
    const t = performance.now();
    const { bytes } = restorePair(data.dir, dir);
    restore = { bytes, s: (performance.now() - t) / 1000 };
    say(`restored ${fmt(bytes / 1e6, 0)} MB of cached databases in ${fmt(restore.s)} s`);
  },
});
const tmp = mkdtempSync(path.join(tmpdir(), 'bench-reconcile-'));
stops.add('the scratch folder', () => rmSync(tmp, { recursive: true, force: true }));
const env = {
  ...bench.env,
  MONGODB_DB: 'bench_platform',
  TEMPORAL_TASK_QUEUE: 'bench-reconcile',
  CLIENT_UPSERT_ON_START: 'false',
  RECONCILE_SPILL_DIR: path.join(tmp, 'spill'),
};
const config = loadConfig(env);
const log = createLogger({ name: 'bench', level: 'silent' });
const mongo = await connectMongo(config, log);
const temporal = createTemporalClient(config);
const source = mongo.client.db(DATA_DBS.source).collection(DATA_COLLECTION);
const target = mongo.client.db(DATA_DBS.target).collection(DATA_COLLECTION);
const svc = createReconcileService({
  mongo,
  temporal,
  taskQueue: config.TEMPORAL_TASK_QUEUE,
  log,
  secrets: keyringFromConfig(config),
  allowedUris: config.RECONCILE_ALLOWED_URIS,
});

type Run = { p: ReconcileProgress; s: number; cpu: Record<string, number> };
let ok = false;
try {
  const bundlePath = path.join(tmp, 'workflow-bundle.js');
  writeFileSync(bundlePath, (await bundleWorkflows()).code);
  const worker = await startReconcileWorker({ ...env, BUNDLE_PATH: bundlePath });
  // CPU seconds per process and phase: the machine is shared, CPU time is what contention leaves alone.
  const pids: Record<string, number> = { worker: worker.pid, bench: process.pid };
  for (const srv of bench.stack.servers) if (srv.process.pid) pids[srv.name] = srv.process.pid;
  const rss = sampleRss(pids);
  say(
    `stack and worker up (pids: ${Object.entries(pids)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
  );
  const cpuNow = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const cpuSince = (from: Record<string, number>) =>
    Object.fromEntries(Object.entries(cpuNow()).map(([k, v]) => [k, Math.round((v - (from[k] ?? 0)) * 10) / 10]));
  const cpuText = (c: Record<string, number>) =>
    Object.entries(c)
      .filter(([, v]) => v >= 0.05)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(', ');
  const rssText = (phase: string) =>
    Object.entries(rss.maxima()[phase] ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  /** Union of the keys of both stores: what a reconcile processes. */
  const keys = RECORDS + data.drift.extra;

  say('raw limit: this process reads both stores at once in natural order, hashing each record as the reconcile does');
  rss.phase('raw');
  let cpu = cpuNow();
  t0 = performance.now();
  let lastSay = 0;
  const read = { source: 0, target: 0 };
  const onRead = (side: 'source' | 'target') => (n: number) => {
    read[side] = n;
    if (performance.now() - lastSay > 10_000) {
      lastSay = performance.now();
      say(`raw: read ${read.source} + ${read.target} of ${RECORDS + data.targetRecords}`);
    }
  };
  const [srcDigest, tgtDigest] = await Promise.all([
    storeDigest(source, { onBatch: onRead('source') }),
    storeDigest(target, { onBatch: onRead('target') }),
  ]);
  const rawS = (performance.now() - t0) / 1000;
  const rawCpu = cpuSince(cpu);
  const rawOk = srcDigest.count === RECORDS && tgtDigest.count === data.targetRecords;
  say(
    `raw: ${srcDigest.count} + ${tgtDigest.count} records in ${fmt(rawS)} s (${fmt(keys / rawS, 0)} keys/s; cpu s: ${cpuText(rawCpu)}; max RSS MB: ${rssText('raw')})`,
  );
  let ordered: { processed: number; s: number; missing: number; mismatched: number; extra: number } | undefined;
  if (args['ordered-raw']) {
    say('ordered raw compare: two _id-sorted cursors merged (FerretDB holds each sorted result in memory)');
    rss.phase('ordered-raw');
    t0 = performance.now();
    const c = await rawCompare(source, target);
    ordered = { ...c, s: (performance.now() - t0) / 1000 };
    say(`ordered raw: ${c.processed} keys in ${fmt(ordered.s)} s; max RSS MB: ${rssText('ordered-raw')}`);
  }

  const run = async (label: string, extra: Partial<ReconcileOptions>): Promise<Run> => {
    if (stops.stopping) throw new Error('stopped');
    rss.phase(label);
    const cpu0 = cpuNow();
    const started = performance.now();
    const { batchId } = await svc.start(
      {
        source: { kind: 'namespace', db: DATA_DBS.source, collection: DATA_COLLECTION },
        target: { db: DATA_DBS.target, collection: DATA_COLLECTION },
        options: { ...options, ...extra },
      },
      `bench-${label}`,
    );
    let last = 0;
    for (;;) {
      if (stops.stopping) throw new Error('stopped');
      const p = await svc.progress(batchId);
      if (FINAL_STATES.includes(p.state)) return { p, s: (performance.now() - started) / 1000, cpu: cpuSince(cpu0) };
      if (performance.now() - last > 10_000) {
        last = performance.now();
        const reading = p.scan?.phase === 'scanning' ? `reading ${p.scan.read}/${p.scan.of}, ` : '';
        say(
          `${label}: ${reading}${p.processed}/${p.total} at ${p.ratePerSec}/s, eta ${p.etaSeconds ?? '?'} s, chunks ${p.chunks.done}, runs ${p.runs}; max RSS MB: ${rssText(label)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const rowOf = (label: string, phase: string, r: Run, result: string) => ({
    run: label,
    keys: r.p.processed,
    seconds: fmt(r.s),
    'records/s': fmt(r.p.processed / r.s, 0),
    'vs raw': fmt(r.p.processed / r.s / (keys / rawS), 2),
    'max RSS MB worker/ferretdb/redis': maxRss(phase),
    result,
  });
  const maxRss = (phase: string) => {
    const m = rss.maxima()[phase] ?? {};
    return `${m.worker ?? '-'}/${m.ferretdb ?? '-'}/${m.redis ?? '-'}`;
  };

  say(`reconcile through Temporal, dry run, scan ${SCAN}`);
  const dry = await run('dry', { dryRun: true });
  say(
    `dry: ${dry.p.state}, ${dry.p.processed} keys in ${fmt(dry.s)} s (cpu s: ${cpuText(dry.cpu)}; max RSS MB: ${rssText('dry')})${dry.p.errors ? `; errors: ${dry.p.errors.join('; ')}` : ''}`,
  );
  const rows: Array<Record<string, string | number>> = [
    {
      run: 'raw limit (natural-order read of both stores, hashed)',
      keys,
      seconds: fmt(rawS),
      'records/s': fmt(keys / rawS, 0),
      'vs raw': '1.00',
      'max RSS MB worker/ferretdb/redis': maxRss('raw'),
      result: `read ${srcDigest.count} + ${tgtDigest.count}${rawOk ? '' : ' (counts WRONG)'}`,
    },
  ];
  if (ordered)
    rows.push({
      run: 'key-ordered raw compare (--ordered-raw)',
      keys: ordered.processed,
      seconds: fmt(ordered.s),
      'records/s': fmt(ordered.processed / ordered.s, 0),
      'vs raw': fmt(ordered.processed / ordered.s / (keys / rawS), 2),
      'max RSS MB worker/ferretdb/redis': maxRss('ordered-raw'),
      result: `${ordered.missing}/${ordered.mismatched}/${ordered.extra}`,
    });
  const exact =
    dry.p.state === 'completed' &&
    dry.p.processed === keys &&
    dry.p.outcomes.missing_in_target === data.drift.missing &&
    dry.p.outcomes.mismatched === data.drift.mismatched &&
    dry.p.outcomes.extra_in_target === data.drift.extra;
  rows.push(
    rowOf(
      'reconcile via Temporal, dry run',
      'dry',
      dry,
      `${dry.p.outcomes.missing_in_target}/${dry.p.outcomes.mismatched}/${dry.p.outcomes.extra_in_target}${exact ? ' (exact)' : ' (NOT exact)'}`,
    ),
  );
  let repair: Run | undefined;
  let equal: boolean | undefined;
  let verifyS: number | undefined;
  if (!args['no-repair']) {
    say('reconcile through Temporal, repairing (missing and mismatched upserted, extras deleted)');
    repair = await run('repair', { extras: 'delete' });
    say(
      `repair: ${repair.p.state}, ${repair.p.processed} keys in ${fmt(repair.s)} s (cpu s: ${cpuText(repair.cpu)}; max RSS MB: ${rssText('repair')})`,
    );
    say('verifying: the target read in natural order, its digest against the source digest of the raw read');
    rss.phase('verify');
    t0 = performance.now();
    const after = await storeDigest(target);
    verifyS = (performance.now() - t0) / 1000;
    equal = sameDigest(after, srcDigest);
    rows.push(
      rowOf('reconcile via Temporal, repairing', 'repair', repair, `repaired ${repair.p.repaired}, target equals source: ${equal}`),
    );
  }
  const peak = worker.peakRssMb();
  await worker.stop();
  rss.stop();
  const load1 = loadAverage();
  const totalS = (performance.now() - tAll) / 1000;

  const summary = {
    records: RECORDS,
    drift: data.drift,
    scan: SCAN,
    repairMode: REPAIR_MODE,
    options,
    data: {
      dir: path.relative(REPO_ROOT, data.dir),
      reused: data.reused,
      generatedSeconds: data.generatedSeconds,
      generateFerretMaxRssMb: data.generateFerretMaxRssMb,
      restoreSeconds: Number(restore.s.toFixed(1)),
      restoredMb: Math.round(restore.bytes / 1e6),
    },
    rawSeconds: Number(rawS.toFixed(1)),
    rawRecordsPerSec: Math.round(keys / rawS),
    rawCountsExact: rawOk,
    orderedRaw: ordered ? { seconds: Number(ordered.s.toFixed(1)), recordsPerSec: Math.round(ordered.processed / ordered.s) } : null,
    drySeconds: Number(dry.s.toFixed(1)),
    temporalRecordsPerSec: Math.round(dry.p.processed / dry.s),
    ratio: Number((dry.p.processed / dry.s / (keys / rawS)).toFixed(3)),
    dryRunExact: exact,
    repairSeconds: repair ? Number(repair.s.toFixed(1)) : null,
    repairRecordsPerSec: repair ? Math.round(repair.p.processed / repair.s) : null,
    repairRatio: repair ? Number((repair.p.processed / repair.s / (keys / rawS)).toFixed(3)) : null,
    repaired: repair?.p.repaired ?? null,
    verifySeconds: verifyS !== undefined ? Number(verifyS.toFixed(1)) : null,
    targetEqualsSource: equal ?? null,
    /** Max VmRSS (MB) per process and phase, sampled every second. */
    maxRssMb: rss.maxima(),
    workerPeakRssMb: Math.round(peak),
    workerNodeFlags: WORKER_V8_FLAGS,
    cpuSeconds: { raw: rawCpu, dry: dry.cpu, repair: repair?.cpu ?? null },
    loadAverage: { start: load0, end: load1 },
    totalSeconds: Number(totalS.toFixed(1)),
    at: new Date().toISOString(),
  };
  process.stdout.write(
    `\nreconcile benchmark: ${RECORDS} records, drift ${args.drift} (missing/mismatched/extra ${data.drift.missing}/${data.drift.mismatched}/${data.drift.extra}), scan ${SCAN}, chunkSize ${options.chunkSize}, partitions ${options.partitions || 'auto'}, worker node flags: ${WORKER_V8_FLAGS || '(none)'}\n`,
  );
  process.stdout.write(
    `data: ${data.reused ? `reused (generated once in ${fmt(data.generatedSeconds)} s)` : `generated in ${fmt(data.generatedSeconds)} s`}, restored ${fmt(restore.bytes / 1e6, 0)} MB in ${fmt(restore.s)} s\n\n`,
  );
  process.stdout.write(`${table(rows)}\n\n`);
  process.stdout.write(
    `raw ${summary.rawRecordsPerSec} records/s · Temporal ${summary.temporalRecordsPerSec} records/s · ratio ${summary.ratio} · worker peak RSS ${summary.workerPeakRssMb} MB · dry-run counts exact: ${exact}${equal === undefined ? '' : ` · target equals source after repair: ${equal}`}\n`,
  );
  process.stdout.write(`total ${fmt(totalS)} s · load average ${load0.join(' ')} at start, ${load1.join(' ')} at end\n`);
  const dir = path.join(REPO_ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `reconcile-${RECORDS}-${SCAN}.json`);
  writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  say(`summary written to ${path.relative(REPO_ROOT, file)}`);
  ok = rawOk && exact && equal !== false;
} catch (err) {
  if (!stops.stopping) say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  await Promise.allSettled([mongo.close(), temporal.close()]);
}
await stops.stop(ok ? 0 : 1);
