import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { freePort } from '../../../infra/dev/servers';
import { descendantsOf } from '../../../infra/dev/stop-on-signal';
import { tsEntry } from '../../../infra/dev/ts-entry';

// Interrupting what starts servers stops them (issue 19 item 4): `npm run bench:reconcile` and
// `make up` run as a user runs them, get one SIGINT (to npm, to tsx) once their servers and
// worker are up, and must exit non-zero within a bound with every process they started gone —
// found as their descendants in /proc before the signal.

interface Proc {
  pid: number;
  comm: string;
  cmdline: string;
}

const procOf = (pid: number): Proc | undefined => {
  try {
    return {
      pid,
      comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(),
      cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '),
    };
  } catch {
    return undefined;
  }
};

/** Running (a zombie nobody reaped counts as gone: it holds no memory and no port). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const started: ChildProcess[] = [];
const dirs: string[] = [];
/** Every descendant seen: a failed test may have orphaned them (no longer below the child). */
const seen = new Set<number>();
afterEach(() => {
  // A failed assertion must not leave the servers behind either.
  for (const c of started.splice(0)) {
    for (const pid of [...(c.pid ? descendantsOf(c.pid) : []), ...[...seen].filter(alive)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    c.kill('SIGKILL');
  }
  seen.clear();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Spawns `command …args` in the repository and resolves with its output once `readyText` appears in it. */
async function startCommand(command: string, args: string[], env: NodeJS.ProcessEnv, readyText: string, timeoutMs: number) {
  const entry = [command, ...args].join(' ');
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal, at: Date.now() })),
  );
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const deadline = Date.now() + timeoutMs;
  while (!out.includes(readyText)) {
    if (child.exitCode !== null) throw new Error(`${entry} exited (${child.exitCode}) before "${readyText}":\n${out.slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`${entry}: no "${readyText}" within ${timeoutMs} ms:\n${out.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, exited, output: () => out };
}

/** Descendants of `pid` until each of `wanted` matches one of them. */
async function waitForTree(pid: number, wanted: Record<string, (p: Proc) => boolean>, timeoutMs: number): Promise<Proc[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const tree = descendantsOf(pid)
      .map(procOf)
      .filter((p): p is Proc => p !== undefined);
    for (const p of tree) seen.add(p.pid);
    const missing = Object.keys(wanted).filter((name) => !tree.some(wanted[name]!));
    if (missing.length === 0) return tree;
    if (Date.now() > deadline)
      throw new Error(
        `not started within ${timeoutMs} ms: ${missing.join(', ')}; tree: ${tree.map((p) => `${p.pid} ${p.comm}`).join('; ')}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `npm run bench:reconcile` as a user runs it (package.json's script execs node, so npm's signal reaches the bench). */
const startBench = (dataDir: string) =>
  startCommand(
    'npm',
    ['run', '-s', 'bench:reconcile', '--', '--records', '20000', '--drift', '1%', '--scan', 'hashed', '--data-dir', dataDir],
    { ...process.env, BENCH_WORKER_V8_FLAGS: '' },
    'stack and worker up',
    180_000,
  );

const SERVERS = {
  ferretdb: (p: Proc) => p.comm === 'ferretdb',
  temporal: (p: Proc) => p.comm === 'temporal',
  'redis-server': (p: Proc) => p.comm.startsWith('redis-server'),
};

async function interrupt(run: Awaited<ReturnType<typeof startCommand>>, tree: Proc[], boundMs: number) {
  const sentAt = Date.now();
  run.child.kill('SIGINT');
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`still running ${boundMs} ms after SIGINT:\n${run.output().slice(-3000)}`)), boundMs).unref(),
  );
  const exit = await Promise.race([run.exited, timeout]);
  // Orphans are reparented and reaped asynchronously: give the last ones a moment.
  for (let i = 0; i < 20 && tree.some((p) => alive(p.pid)); i++) await new Promise((r) => setTimeout(r, 100));
  return { exit, afterMs: exit.at - sentAt, left: tree.filter((p) => alive(p.pid)) };
}

describe('interrupting what starts the servers', () => {
  it('npm run bench:reconcile: one SIGINT once the stack and worker are up stops FerretDB, Temporal, Redis and the worker, and exits non-zero', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-signals-data-'));
    dirs.push(dataDir);
    const run = await startBench(dataDir);
    const tree = await waitForTree(run.child.pid!, { ...SERVERS, worker: (p) => p.cmdline.includes('bench/reconcile-worker.ts') }, 10_000);
    // The stack's data folder (FerretDB's --state-dir is <folder>/ferretdb): removed by the cleanup, not by a kill.
    const stackDir = path.dirname(/--state-dir=(\S+)/.exec(tree.find(SERVERS.ferretdb)!.cmdline)![1]!);
    expect(existsSync(stackDir)).toBe(true);
    const { exit, afterMs, left } = await interrupt(run, tree, 60_000);
    expect(left.map((p) => `${p.pid} ${p.comm} ${p.cmdline.slice(0, 80)}`)).toEqual([]);
    expect(exit.code ?? exit.signal).toBe(130);
    expect(afterMs).toBeLessThan(60_000);
    expect(existsSync(stackDir)).toBe(false);
    expect(run.output()).not.toContain('summary written');
    expect(run.output()).toContain('SIGINT: stopping everything this started');
  }, 300_000);

  it('a SIGKILLed bench (kill -9, the OOM killer) leaves no server or worker behind', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-signals-data-'));
    dirs.push(dataDir);
    const run = await startBench(dataDir);
    const worker = (p: Proc) => p.cmdline.includes('bench/reconcile-worker.ts');
    const tree = await waitForTree(run.child.pid!, { ...SERVERS, worker }, 10_000);
    // What only a clean stop removes: the stack's folder and the bench's scratch folder (the worker's spill is in it).
    dirs.push(path.dirname(/--state-dir=(\S+)/.exec(tree.find(SERVERS.ferretdb)!.cmdline)![1]!));
    const spill = /(?:^|\0)RECONCILE_SPILL_DIR=([^\0]+)/.exec(readFileSync(`/proc/${tree.find(worker)!.pid}/environ`, 'utf8'))?.[1];
    if (spill) dirs.push(path.dirname(spill));
    const bench = tree.find((p) => p.comm === 'node' && p.cmdline.includes('bench/reconcile.ts') && !worker(p))!;
    process.kill(bench.pid, 'SIGKILL');
    await run.exited;
    const others = tree.filter((p) => p.pid !== bench.pid);
    expect(others.length).toBeGreaterThanOrEqual(4);
    // The reaper polls once a second (slower on a loaded machine).
    for (let i = 0; i < 150 && others.some((p) => alive(p.pid)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(others.filter((p) => alive(p.pid)).map((p) => `${p.pid} ${p.comm} ${p.cmdline.slice(0, 80)}`)).toEqual([]);
  }, 300_000);

  it('make up (workers/dev/up.ts): one SIGINT once the worker and API are started stops them and the servers, and exits non-zero', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-signals-up-'));
    dirs.push(dataDir);
    const [temporal, ui, ferret, redis, api, upstream] = await Promise.all(Array.from({ length: 6 }, () => freePort()));
    // As `make up` runs it: the Makefile's recipe, word for word.
    const recipe = /^up:.*\n((?:\t.*\n)+)/m
      .exec(readFileSync(path.join(REPO_ROOT, 'Makefile'), 'utf8'))![1]!
      .trim()
      .split(/\s+/);
    expect(recipe).toEqual(['node', '--import', 'tsx', 'workers/dev/up.ts']);
    const [cmd, args] = tsEntry(path.join(REPO_ROOT, recipe.at(-1)!));
    const run = await startCommand(
      cmd,
      args,
      {
        ...process.env,
        NODE_ENV: 'development',
        LOG_PRETTY: 'false',
        DATA_DIR: dataDir,
        TEMPORAL_ADDRESS: `127.0.0.1:${temporal}`,
        TEMPORAL_UI_PORT: String(ui),
        MONGODB_URI: `mongodb://127.0.0.1:${ferret}/`,
        MONGODB_DB: 'up_signals',
        REDIS_URL: `redis://127.0.0.1:${redis}`,
        HOST: '127.0.0.1',
        PORT: String(api),
        FIXTURE_UPSTREAM_PORT: String(upstream),
        WORKER_METRICS_PORT: '0',
      },
      'Ctrl-C stops everything',
      180_000,
    );
    const tree = await waitForTree(
      run.child.pid!,
      {
        ...SERVERS,
        worker: (p) => p.comm === 'node' && p.cmdline.includes('workers/worker.ts'),
        api: (p) => p.comm === 'node' && p.cmdline.includes('api/server.ts'),
      },
      20_000,
    );
    // The API and worker are up's own children, plain node (no tsx CLI between them that would
    // SIGKILL them on a loaded machine instead of letting them drain): up's SIGTERM reaches them.
    const parentOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    for (const name of ['worker', 'api'] as const) {
      const p = tree.find((x) => x.cmdline.includes(name === 'api' ? 'api/server.ts' : 'workers/worker.ts'))!;
      expect(parentOf(p.pid), name).toBe(run.child.pid);
      expect(p.cmdline, name).toContain('--import tsx');
    }
    const { exit, afterMs, left } = await interrupt(run, tree, 90_000);
    expect(left.map((p) => `${p.pid} ${p.comm} ${p.cmdline.slice(0, 80)}`)).toEqual([]);
    expect(exit.code ?? exit.signal).toBe(130);
    expect(afterMs).toBeLessThan(90_000);
    expect(run.output()).toContain('stopped');
  }, 300_000);
});
