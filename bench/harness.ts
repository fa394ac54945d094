import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../infra/dev/ensure-tools';
import { freePort } from '../infra/dev/servers';
import { startStack, type StackHandle } from '../infra/dev/stack';
import { stopOnSignals, type StopRegistry } from '../infra/dev/stop-on-signal';
import { PROCESS_ENV_DEFAULTS, tsEntry } from '../infra/dev/ts-entry';

// Shared by the benchmarks: an isolated embedded stack on free ports, a worker child process
// (its peak RSS read from /proc), memory sampling, and percentile helpers. What they start is
// registered with the process's stop registry: SIGINT/SIGTERM stops it all and exits non-zero.

/** The benchmark's stop registry (infra/dev/stop-on-signal.ts): register what must not outlive it. */
export function benchStops(say?: (m: string) => void): StopRegistry {
  return stopOnSignals({ say: say ?? ((m) => process.stderr.write(`[bench] ${m}\n`)) });
}

export interface BenchStack {
  stack: StackHandle;
  env: Record<string, string>;
  close(): Promise<void>;
}

export interface BenchStackOptions {
  /** Runs on the fresh data folder before the servers start (FerretDB's files are under <dir>/ferretdb/sqlite). */
  prepare?: (dataDir: string) => void | Promise<void>;
}

export async function startBenchStack(say: (m: string) => void, o: BenchStackOptions = {}): Promise<BenchStack> {
  const stops = benchStops(say);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sync-orch-bench-'));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  let starting: Promise<StackHandle> | undefined;
  const drop = stops.add('the embedded stack', async () => {
    const s = await starting?.catch(() => undefined);
    await s?.stop();
    removeDir();
  });
  try {
    await o.prepare?.(dataDir);
  } catch (err) {
    drop();
    removeDir();
    throw err;
  }
  const [temporalPort, ferretPort, redisPort] = await Promise.all([freePort(), freePort(), freePort()]);
  starting = startStack({
    toolsDir: path.join(REPO_ROOT, process.env.TOOLS_DIR ?? '.tools'),
    dataDir,
    temporalPort,
    uiPort: 0,
    ferretPort,
    redisPort,
    reuseRedis: false,
    persistent: false,
    headless: true,
    say,
  });
  const stack = await starting.catch((err: unknown) => {
    drop();
    removeDir();
    throw err;
  });
  const env = {
    TEMPORAL_ADDRESS: stack.temporalAddress,
    MONGODB_URI: stack.mongoUri,
    REDIS_URL: stack.redisUrl,
    MONGODB_DB: 'bench',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
  };
  return {
    stack,
    env,
    async close() {
      drop();
      await stack.stop();
      removeDir();
    },
  };
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Peak resident set size so far (VmHWM), in MB. */
  peakRssMb(): number;
  stop(): Promise<void>;
}

/** Starts `workers/worker.ts` as a separate process and resolves once it polls (no metrics port or schedules unless asked: a bench may run several). */
export function startWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  // node with tsx's loader, not the tsx CLI: a SIGTERM reaches the worker itself, which drains.
  const [cmd, args] = tsEntry(path.join(REPO_ROOT, 'workers/worker.ts'));
  const child = spawn(cmd, args, {
    env: {
      ...PROCESS_ENV_DEFAULTS,
      ...process.env,
      WORKER_METRICS_PORT: '0',
      SCHEDULES_ON_START: 'false',
      ...env,
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const drop = benchStops().add(`the worker process ${child.pid}`, () => handle.stop());
  const handle: WorkerProcess = {
    child,
    peakRssMb() {
      // The largest VmHWM in the worker's process tree (the worker itself; esbuild's service beside it).
      const pids = [child.pid!, ...childPids(child.pid!)];
      return Math.max(...pids.map((pid) => vmHwmMb(pid)));
    },
    async stop() {
      drop();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      tail = (tail + b.toString()).slice(-4000);
      if (tail.includes('worker running')) resolve(handle);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker exited (${String(code)}):\n${tail}`)));
  });
}

function childPids(pid: number): number[] {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return kids.flatMap((k) => [k, ...childPids(k)]);
  } catch {
    return [];
  }
}

/** A field of /proc/<pid>/status in MB (VmRSS, VmHWM); 0 once the process is gone. */
export function statusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}
const vmHwmMb = (pid: number) => statusMb(pid, 'VmHWM');

export interface RssSampler {
  /** Starts a phase: its maxima start from the current readings. */
  phase(name: string): void;
  /** Max VmRSS (MB) per process in each phase so far, sampled every `everyMs`. */
  maxima(): Record<string, Record<string, number>>;
  stop(): void;
}

/**
 * Samples VmRSS of named processes every `everyMs` and keeps each phase's maximum: VmHWM is the
 * peak since a process started, so a server that was busy in an earlier phase (FerretDB during
 * generation) would carry that peak into every later phase.
 */
export function sampleRss(pids: Record<string, number>, everyMs = 1_000): RssSampler {
  const byPhase: Record<string, Record<string, number>> = {};
  let current: Record<string, number> | undefined;
  const sample = () => {
    if (!current) return;
    for (const [name, pid] of Object.entries(pids)) current[name] = Math.max(current[name] ?? 0, Math.round(statusMb(pid, 'VmRSS')));
  };
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    phase(name) {
      sample();
      current = byPhase[name] = {};
      sample();
    },
    maxima: () => (sample(), byPhase),
    stop() {
      sample();
      clearInterval(timer);
    },
  };
}

/** The 1, 5 and 15 minute load averages (/proc/loadavg). */
export function loadAverage(): [number, number, number] {
  const [a, b, c] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return [a!, b!, c!];
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

export function table(rows: Array<Record<string, string | number>>): string {
  const cols = Object.keys(rows[0] ?? {});
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals: string[]) => `| ${vals.map((v, i) => v.padEnd(width[i]!)).join(' | ')} |`;
  return [line(cols), line(width.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => String(r[c]))))].join('\n');
}
