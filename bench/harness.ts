import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../infra/dev/ensure-tools';
import { freePort } from '../infra/dev/servers';
import { startStack, type StackHandle } from '../infra/dev/stack';

// Shared by the benchmarks: an isolated embedded stack on free ports, a worker child process
// (its peak RSS read from /proc), and percentile helpers.

export interface BenchStack {
  stack: StackHandle;
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startBenchStack(say: (m: string) => void): Promise<BenchStack> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sync-orch-bench-'));
  const [temporalPort, ferretPort, redisPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const stack = await startStack({
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
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
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
  const child = spawn(path.join(REPO_ROOT, 'node_modules/.bin/tsx'), [path.join(REPO_ROOT, 'workers/worker.ts')], {
    env: { ...process.env, WORKER_METRICS_PORT: '0', SCHEDULES_ON_START: 'false', ...env, LOG_LEVEL: 'info', LOG_PRETTY: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const handle: WorkerProcess = {
    child,
    peakRssMb() {
      // tsx runs the worker in a child node process: report the largest VmHWM in the tree.
      const pids = [child.pid!, ...childPids(child.pid!)];
      return Math.max(...pids.map((pid) => vmHwmMb(pid)));
    },
    async stop() {
      if (child.exitCode !== null) return;
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

function vmHwmMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
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
