import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureUpstream, type FixtureUpstream } from '../../../fixtures/upstream/server';
import { loadConfig } from '../../../infra/config';
import { REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { freePort } from '../../../infra/dev/servers';
import { describeDemoLogins, loginDemoTenants, registerDemoTenants } from '../../../workers/dev/demo';
import { waitForReady } from '../../../workers/dev/ready';
import { matchesExpected, readmeBlocks, type ExampleBlock, type ExampleCommand } from '../../helpers/readme-examples';
import { startEntryProcess, type EntryProcess } from '../../helpers/entry-process';
import { useStack } from '../../helpers/use-stack';
import { serverEnv } from '../../helpers/stack';

// The README's examples run as written (a doc-test): every ```bash block marked `<!-- example -->`
// runs, in order, against a stack started as `make up` starts one — a fixture upstream with the
// demo tenants, a worker and an API process with the default settings, demo-flaky logged in once.
// Each command must exit 0 (curl with --fail-with-body) and match its `# → …` line. The
// conventions are written down in README.md, at the top of "Try it".

const README = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const BLOCKS = readmeBlocks(README);
const RUNNABLE = BLOCKS.filter((b) => b.marker === 'run');
/** The README's ports: the defaults `make up` listens on. */
const DEFAULTS = loadConfig({});
/** Ports no example may name: the test cannot point them at its own stack. */
const OTHER_PORTS = [7233, 8233, 27017, 6379];
const MAKE_UP = /^((?:[A-Z][A-Z0-9_]*=\S*\s+)*)make up\s*$/;
/** Read by the API alone (login routing): a `make up` line setting only these leaves the worker running. */
const API_ONLY = new Set(['USE_TEMPORAL_FOR_AUTH', 'TEMPORAL_TENANTS']);
const COMMAND_TIMEOUT_MS = 90_000;
/** package.json's `cli` script (node --import tsx cli/index.ts): `npm run [-s] cli -- …` runs it as npm would, without npm's own start-up. */
const CLI_SCRIPT = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
  .cli;
const NPM_SHIM = [
  'npm() {',
  `  if [ "$1" = run ] && { [ "$2" = cli ] || { [ "$2" = -s ] && [ "$3" = cli ]; }; }; then`,
  '    [ "$2" = -s ] && shift; shift 2; [ "$1" = -- ] && shift',
  `    PATH="$PWD/node_modules/.bin:$PATH" ${CLI_SCRIPT} "$@"`,
  '  else command npm "$@"; fi',
  '}',
].join('\n');

type Proc = EntryProcess;

/** An entry point as its own process (node --import tsx); resolves once its output contains `readyText`. */
const startProcess = (entry: string, env: Record<string, string>, readyText: string): Promise<Proc> =>
  startEntryProcess({ entry, env: { ...process.env, ...env }, readyText });

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBash(script: string, env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('README examples', () => {
  const stack = useStack();
  const stateDir = mkdtempSync(path.join(tmpdir(), 'readme-examples-'));
  const stateFile = path.join(stateDir, 'state.sh');
  let upstream: FixtureUpstream | undefined;
  let worker: Proc | undefined;
  let api: Proc | undefined;
  let apiPort = 0;
  let metricsPort = 0;

  const baseEnv = () => {
    const c = stack.deps.config;
    return {
      // What `make up` runs with: the defaults, on this file's servers, database and task queue.
      NODE_ENV: 'development',
      LOG_PRETTY: 'false',
      ...serverEnv(c),
    };
  };
  const apiUrl = () => `http://127.0.0.1:${apiPort}`;

  /** As `make up`: the fixture upstream with the demo tenants, worker and API, ready, demo logins. */
  async function up(extra: Record<string, string> = {}, withWorker = true): Promise<void> {
    upstream = await startFixtureUpstream({ port: upstream?.port ?? 0 });
    await registerDemoTenants(stack.deps.mongo.db, upstream, stack.deps.secrets);
    apiPort = apiPort || (await freePort());
    metricsPort = metricsPort || (await freePort());
    const env = { ...baseEnv(), ...extra };
    const [w, a] = await Promise.all([
      withWorker ? startProcess('workers/worker.ts', { ...env, WORKER_METRICS_PORT: String(metricsPort) }, '"worker running"') : worker,
      startProcess('api/server.ts', { ...env, HOST: '127.0.0.1', PORT: String(apiPort) }, 'api listening'),
    ]);
    worker = w;
    api = a;
    const ready = await waitForReady({ apiUrl: apiUrl(), timeoutMs: 90_000 });
    if (!ready.ready) throw new Error(`not ready: ${ready.lastSeen}`);
    const logins = await loginDemoTenants({ apiUrl: apiUrl(), jwtSecret: stack.deps.config.AUTH_JWT_SECRET });
    process.stdout.write(`[readme-examples] demo logins: ${describeDemoLogins(logins)}\n`);
  }

  async function down(withWorker = true): Promise<void> {
    await Promise.allSettled([api?.stop(), withWorker ? worker?.stop() : undefined]);
    await upstream?.close();
  }

  /** The command with the README's ports replaced by this stack's; throws on a port it cannot map. */
  function localise(text: string): string {
    const ports: Array<[number, number]> = [
      [DEFAULTS.PORT, apiPort],
      [DEFAULTS.FIXTURE_UPSTREAM_PORT, upstream?.port ?? 0],
      [DEFAULTS.WORKER_METRICS_PORT, metricsPort],
    ];
    let out = text;
    for (const [from, to] of ports) out = out.replace(new RegExp(`\\b(127\\.0\\.0\\.1|localhost):${from}\\b`, 'g'), `127.0.0.1:${to}`);
    const stray = [...ports.map(([from]) => from), ...OTHER_PORTS].find((p) => new RegExp(`:${p}\\b`).test(out));
    if (stray !== undefined) throw new Error(`the example names port ${stray}, which this test does not map to its stack: ${text}`);
    return out;
  }

  async function run(block: ExampleBlock, cmd: ExampleCommand): Promise<void> {
    const where = `README.md:${cmd.line} (${block.heading})`;
    const restart = MAKE_UP.exec(cmd.text.trim());
    if (restart) {
      const vars = Object.fromEntries(
        (restart[1] ?? '')
          .trim()
          .split(/\s+/)
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      const withWorker = Object.keys(vars).some((k) => !API_ONLY.has(k));
      await down(withWorker);
      await up(vars, withWorker);
      return;
    }
    const assigned = [...cmd.text.matchAll(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=/gm)].map((m) => m[1]);
    const script = [
      'set -o pipefail',
      `source ${JSON.stringify(stateFile)}`,
      'curl() { command curl --fail-with-body "$@"; }',
      NPM_SHIM,
      localise(cmd.text),
      '__rc=$?',
      ...assigned.map((name) => `declare -p ${name} >> ${JSON.stringify(stateFile)} 2>/dev/null`),
      'exit $__rc',
    ].join('\n');
    const t0 = Date.now();
    const r = await runBash(script, { ...process.env, ...baseEnv(), SYNC_API_URL: apiUrl() });
    const report = `${where}\n$ ${cmd.text}\nexit ${String(r.code)} after ${Date.now() - t0} ms\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
    expect(r.code, report).toBe(0);
    if (cmd.expected.length)
      expect(
        cmd.expected.some((e) => matchesExpected(r.stdout, localise(e))),
        `${report}\n--- expected one of\n${cmd.expected.join('\n')}`,
      ).toBe(true);
  }

  beforeAll(async () => {
    writeFileSync(stateFile, '');
    await up();
  }, 180_000);
  afterAll(async () => {
    await down();
    // The worker created its schedules on this file's task queue: remove them with it.
    const client = stack.deps.temporal.client;
    for await (const s of client.schedule.list())
      if (s.scheduleId.endsWith(`:${stack.deps.config.TEMPORAL_TASK_QUEUE}`))
        await client.schedule
          .getHandle(s.scheduleId)
          .delete()
          .catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  }, 60_000);

  it('marks every shell block of README.md as run or skip, and runs some', () => {
    const unmarked = BLOCKS.filter((b) => b.marker === undefined).map((b) => `README.md:${b.line} (${b.heading})`);
    expect(unmarked, 'put <!-- example --> or <!-- example: skip (why) --> on the line before each').toEqual([]);
    for (const b of BLOCKS.filter((x) => x.marker === 'skip')) expect(b.skipReason, `README.md:${b.line}: say why`).toBeTruthy();
    expect(RUNNABLE.length).toBeGreaterThanOrEqual(5);
    expect(RUNNABLE.flatMap((b) => b.commands).filter((c) => c.expected.length).length).toBeGreaterThanOrEqual(5);
  });

  for (const block of RUNNABLE)
    it(`README.md:${block.line} (${block.heading}) runs as written`, { timeout: 240_000 }, async () => {
      for (const cmd of block.commands) await run(block, cmd);
    });
});
