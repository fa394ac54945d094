import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../api/app';
import { createTenantRepository } from '../activities/tenant-sync/registry';
import { generateClient, writeClient } from '../fixtures/clients';
import { clientUpsertWorkflowId } from '../activities/client-upsert/start';
import { driftOf, generatePair } from '../fixtures/reconcile-data';
import { startFixtureUpstream } from '../fixtures/upstream/server';
import { mintToken } from '../infra/auth-token';
import { loadConfig } from '../infra/config';
import { freePort } from '../infra/dev/servers';
import { createLogger } from '../infra/logger';
import { connectMongo } from '../infra/mongo';
import { createRedis } from '../infra/redis';
import { keyringFromConfig } from '../infra/secrets';
import type { WorkflowHandle } from '@temporalio/client';
import { createTemporalClient, type TemporalHandle } from '../infra/temporal';
import { startTelemetry } from '../infra/telemetry';
import { CleanupNames } from '../shared/cleanup';
import { laneQueues } from '../shared/lanes';
import { FINAL_STATES, type ReconcileProgress } from '../shared/reconcile';
import { TenantSyncNames } from '../shared/tenant-sync';
import { scheduleOptions } from '../workers/schedules';
import { benchStops, fmt, percentile, startBenchStack, startWorkerProcess, table, type WorkerProcess } from './harness';

// npm run bench:load -- [--logins 300] [--records 200000] [--partitions 3 (0: hashed scan)] [--clients 50]
//   [--flood-batches 100] [--flood-records 2000] [--quiet-records 2000] [--activity-slots 4]
//   [--workflow-slots 4] [--interactive-slots 4] [--bulk-slots 3] [--max-minutes 60]
// What task-queue priority and fairness buy under load, in one run: one embedded stack, ONE
// worker process with few task slots (so a backlog forms in the server, where priority and
// fairness order it), three API apps in this process whose Temporal clients start work with
// priority off (plain FIFO), on (shared/priorities.ts), or on with the lanes. The worker has no say: a run's
// priority is set by the client that starts it and inherited by its activities and children.
//   1. logins through Temporal on the idle worker (half before the load phases, half after);
//   2. the same logins while a 200k-record dry-run reconcile (several partitions), 50 client
//      upserts and the cleanup workflows run on the worker, everything started priority off;
//      the reconcile and the client upsert are started again whenever they end (the upsert
//      forced), so the load is the same from the first login to the last;
//   3. the same, everything started priority on;
//   3b. the same, priority on and with the lanes (shared/lanes.ts): logins start on the
//      interactive task queue (slots of their own in the same worker process), reconcile scans
//      run on the bulk one (at most --bulk-slots) and wait before each chunk while a login's
//      activities run (WORKER_YIELD_TO_LOGINS_MS). The worker polls the lanes in every mode; only
//      this mode's app starts work on them;
//   4. fairness: tenant A floods the queue with many small reconcile batches, then tenant B
//      starts one: how long B waits in each mode, and alone (baseline).
//      Many batches, not one with many partitions: a tenant-source reconcile always runs one
//      partition, and a namespace reconcile has no tenant (its fairness key is 'platform').
// The reconciles are dry runs, so the generated data serves every mode unchanged. Besides
// latency, each login's time in the task queue is read from its run's history afterwards:
// that is the part priority can shorten (CPU and FerretDB contention it cannot).

const { values: args } = parseArgs({
  options: {
    logins: { type: 'string', default: '300' },
    'login-tenants': { type: 'string', default: '4' },
    'login-records': { type: 'string', default: '2000' },
    records: { type: 'string', default: '200000' },
    drift: { type: 'string', default: '1%' },
    partitions: { type: 'string', default: '3' },
    clients: { type: 'string', default: '50' },
    routes: { type: 'string', default: '150' },
    'flood-batches': { type: 'string', default: '100' },
    'flood-records': { type: 'string', default: '2000' },
    'quiet-records': { type: 'string', default: '2000' },
    'activity-slots': { type: 'string', default: '4' },
    'workflow-slots': { type: 'string', default: '4' },
    'interactive-slots': { type: 'string', default: '4' },
    'bulk-slots': { type: 'string', default: '3' },
    'max-minutes': { type: 'string', default: '60' },
  },
});
const whole = (name: keyof typeof args, min: number): number => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min) throw new TypeError(`--${name} must be a whole number ≥ ${min}`);
  return v;
};
const LOGINS = whole('logins', 2);
const LOGIN_TENANTS = whole('login-tenants', 1);
const LOGIN_RECORDS = whole('login-records', 1);
const RECORDS = whole('records', 1000);
const DRIFT = String(args.drift).endsWith('%') ? Number(String(args.drift).slice(0, -1)) / 100 : Number(args.drift);
// 0: the planner's choice, on FerretDB the hashed scan (each store read once in natural order).
const PARTITIONS = whole('partitions', 0);
const SCAN_TEXT = PARTITIONS === 0 ? 'one hashed scan' : `${PARTITIONS} partitions in flight`;
const CLIENTS = whole('clients', 1);
const ROUTES = whole('routes', 1);
const FLOOD_BATCHES = whole('flood-batches', 1);
const FLOOD_RECORDS = whole('flood-records', 1);
const QUIET_RECORDS = whole('quiet-records', 1);
const ACTIVITY_SLOTS = whole('activity-slots', 1);
const WORKFLOW_SLOTS = whole('workflow-slots', 2);
const INTERACTIVE_SLOTS = whole('interactive-slots', 2);
const BULK_SLOTS = whole('bulk-slots', 1);
const MAX_MINUTES = whole('max-minutes', 1);
if (!(DRIFT >= 0 && DRIFT <= 1)) throw new TypeError('--drift must be a fraction or a percentage');

const t0 = performance.now();
const load0 = loadavg();
const say = (m: string) => process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TASK_QUEUE = 'bench-load';
const QUEUES = laneQueues(TASK_QUEUE);
/** Every queue of the deployment: tenant syncs run on the interactive lane in the lanes mode. */
const ON_QUEUES = `(TaskQueue = '${QUEUES.main}' OR TaskQueue = '${QUEUES.interactive}')`;
/**
 * How the work is started: off = priority and fairness off, one queue (FIFO); on = priority and
 * fairness on, one queue; lanes = on, with the lanes (shared/lanes.ts): logins on the interactive
 * queue and its own slots, reconcile scans on the bulk queue, scans yielding to logins.
 */
type Mode = 'off' | 'on' | 'lanes';
const MODES: readonly Mode[] = ['off', 'on', 'lanes'];
const MODE_NAMES: Record<Mode, string> = { off: 'priority off', on: 'priority on', lanes: 'priority on + lanes' };
const BULK_MAX = 50; // POST /api/reconcile/bulk takes at most this many collections

// ---- teardown: everything started is stopped on exit, on SIGINT/SIGTERM and at the time limit ----
// (bench/harness.ts's stop registry: newest first, each bounded; signals exit 130/143)
const stops = benchStops(say);
const onExit = (what: string, close: () => Promise<unknown>) => stops.add(what, close);
const shutdown = (code: number): Promise<never> => stops.stop(code);
const watchdog = setTimeout(() => {
  say(`time limit of ${MAX_MINUTES} min reached: stopping`);
  void shutdown(2);
}, MAX_MINUTES * 60_000);

try {
  await main();
  clearTimeout(watchdog);
  await shutdown(0);
} catch (err) {
  // After SIGINT or the time limit, calls fail because everything is closing: not news.
  if (!stops.stopping) say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  clearTimeout(watchdog);
  await shutdown(1);
}

// ---- CPU of the worker and the servers (/proc), to start each phase on a quiet machine ----
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}
function treeOf(pid: number): number[] {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return [pid, ...kids.flatMap(treeOf)];
  } catch {
    return [pid];
  }
}

interface Served {
  app: FastifyInstance;
  url: string;
  temporal: TemporalHandle;
  mode: Mode;
}
interface LoginSample {
  ms: number;
  fallback: boolean;
  /** Answered by a sync already running for the tenant (update-with-start joins it), not a new one. */
  joined: boolean;
}
interface BWait {
  firstTaskMs: number;
  firstActivityMs: number;
  completedMs: number;
  aRunning: number;
  priority: string;
}

async function main(): Promise<void> {
  const bench = await startBenchStack(say);
  onExit('the stack', () => bench.close());
  const clientsDir = mkdtempSync(path.join(tmpdir(), 'bench-load-clients-'));
  onExit('the clients dir', async () => rmSync(clientsDir, { recursive: true, force: true }));
  const env = {
    ...bench.env,
    MONGODB_DB: 'bench_load',
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
    CLIENTS_DIR: clientsDir,
    CLIENT_UPSERT_ON_START: 'false',
    // Few slots: tasks beyond them wait in the server's task queue, the only place where
    // priority and fairness act (they order a backlog; they never preempt a running task).
    WORKER_MAX_CONCURRENT_ACTIVITIES: String(ACTIVITY_SLOTS),
    WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: String(WORKFLOW_SLOTS),
    // The worker always polls the lanes; only the lanes mode's app starts work on them.
    TEMPORAL_LANES: 'true',
    WORKER_INTERACTIVE_SLOTS: String(INTERACTIVE_SLOTS),
    WORKER_BULK_ACTIVITIES: String(BULK_SLOTS),
  };
  const base = loadConfig({
    ...env,
    LOG_LEVEL: 'silent',
    USE_TEMPORAL_FOR_AUTH: 'true',
    SYNC_FRESHNESS_MS: '0',
    // Long enough that a slow login is measured on the Temporal path, not as a fallback.
    TEMPORAL_AUTH_TIMEOUT_MS: '15000',
    RATE_LIMIT_PER_SUBJECT: '10000000',
    RATE_LIMIT_PER_TENANT: '10000000',
    // Quotas out of the way: this measures the task queue, not admission.
    QUOTA_ENSURE_PER_MINUTE: '1000000',
    QUOTA_RECONCILE_CONCURRENT_BATCHES: '10000',
    QUOTA_RECONCILE_STARTS_PER_HOUR: '1000000',
    QUOTA_RECONCILE_CONCURRENT: '10000',
  });
  const log = createLogger({ name: 'bench', level: 'silent' });
  // As in api/server.ts (and bench/login.ts): request spans and metrics in the API process.
  const telemetry = await startTelemetry({ serviceName: 'bench-api' });
  onExit('telemetry', () => telemetry.shutdown());
  const mongo = await connectMongo(base, log);
  onExit('mongo', () => mongo.close());
  const redis = createRedis(base, log);
  onExit('redis', () => redis.quit());
  const upstream = await startFixtureUpstream();
  onExit('the fixture upstream', () => upstream.close());
  const repo = createTenantRepository(mongo.db, keyringFromConfig(base));
  const token = await mintToken(base.AUTH_JWT_SECRET, { sub: 'bench', scopes: ['admin'], tenants: '*', ttlSeconds: 4 * 3600 });

  // ---- data, generated once and reused by every mode (the reconciles are dry runs) ----
  const drift = driftOf(RECORDS, DRIFT);
  say(
    `generating ${RECORDS} source records and a target with ${drift.missing}/${drift.mismatched}/${drift.extra} missing/mismatched/extra`,
  );
  const tGen = performance.now();
  await generatePair(mongo.client.db('bench_data'), { source: 'source', target: 'target' }, RECORDS, drift, 10_000);
  say(`generated in ${fmt((performance.now() - tGen) / 1000)} s`);
  const tenant = async (id: string, collections: Record<string, number>) => {
    upstream.seedTenant(id, { collections });
    await repo.upsert({
      tenantId: id,
      name: id,
      source: { kind: 'http', settings: { baseUrl: upstream.baseUrl(id) } },
      collections: Object.keys(collections).map((name) => ({ name, essential: true })),
    });
    return id;
  };
  const loginTenants: string[] = [];
  for (let i = 0; i < LOGIN_TENANTS; i++)
    loginTenants.push(await tenant(`login-${i}`, { users: LOGIN_RECORDS, roles: LOGIN_RECORDS, settings: LOGIN_RECORDS }));
  const floodCollections = Array.from({ length: FLOOD_BATCHES }, (_, i) => `c${String(i).padStart(3, '0')}`);
  const A = await tenant('fair-a', Object.fromEntries(floodCollections.map((c) => [c, FLOOD_RECORDS])));
  const B = await tenant('fair-b', { quiet: QUIET_RECORDS });
  const clientSets: Record<Mode, string[]> = { off: [], on: [], lanes: [] };
  for (const mode of MODES)
    for (let i = 0; i < CLIENTS; i++) {
      const c = generateClient(`load-${mode}-${String(i).padStart(3, '0')}`, { routes: ROUTES });
      writeClient(clientsDir, c);
      clientSets[mode].push(c.key);
    }

  say(
    `starting the worker (${ACTIVITY_SLOTS} activity slots, ${WORKFLOW_SLOTS} workflow-task slots; lanes: ${INTERACTIVE_SLOTS} interactive, ${BULK_SLOTS} bulk; it bundles the workflows)`,
  );
  const worker: WorkerProcess = await startWorkerProcess(env);
  onExit('the worker', () => worker.stop());
  const pids = () => [...treeOf(worker.child.pid!), ...bench.stack.servers.flatMap((s) => (s.process.pid ? [s.process.pid] : []))];
  /** CPU seconds so far per process: where the time of a slow login goes. */
  const cpuNow = (): Record<string, number> => ({
    worker: treeOf(worker.child.pid!).reduce((a, p) => a + cpuSeconds(p), 0),
    ...Object.fromEntries(bench.stack.servers.map((srv) => [srv.name, srv.process.pid ? cpuSeconds(srv.process.pid) : 0])),
    'bench + API': cpuSeconds(process.pid),
  });

  async function serve(mode: Mode): Promise<Served> {
    const config = { ...base, TEMPORAL_PRIORITY: mode !== 'off', TEMPORAL_LANES: mode === 'lanes' };
    const temporal = createTemporalClient(config);
    onExit(`the temporal client (${mode})`, () => temporal.close());
    const app = await buildApp({ config, log, mongo, redis, temporal, telemetry });
    onExit(`the API (${mode})`, () => app.close());
    const port = await freePort();
    await app.listen({ host: '127.0.0.1', port });
    return { app, url: `http://127.0.0.1:${port}`, temporal, mode };
  }
  const off = await serve('off');
  const on = await serve('on');
  const lanes = await serve('lanes');
  const apps = [off, on, lanes];

  /** An API call; a start with a body gets a fresh Idempotency-Key (reconcile starts require one). */
  async function call<T>(s: Served, method: 'GET' | 'POST', url: string, body?: unknown): Promise<T> {
    const res = await fetch(`${s.url}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json', 'idempotency-key': randomUUID() }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 400)}`);
    return JSON.parse(text) as T;
  }

  // ---- logins ----
  /** Correlation IDs answered so far: each sync run has its own, so a repeat is a joined run. */
  const seen = new Set<string>();
  async function login(s: Served, tenantId: string): Promise<LoginSample> {
    const started = performance.now();
    const body = await call<{ syncMethod: string; fallbackUsed: boolean; essentialReady: boolean; correlationId: string }>(
      s,
      'POST',
      `/api/sync/tenants/${tenantId}/ensure`,
    );
    const ms = performance.now() - started;
    if (!body.essentialReady) throw new Error(`login of ${tenantId} not ready: ${JSON.stringify(body).slice(0, 300)}`);
    const joined = seen.has(body.correlationId);
    seen.add(body.correlationId);
    return { ms, fallback: body.fallbackUsed || body.syncMethod !== 'temporal', joined };
  }
  type Series = 'idle' | Mode;
  /** When each measured series ran (wall clock), to find its runs in visibility afterwards. */
  const windows: Array<{ series: Series; from: number; to: number; cpu: Record<string, number> }> = [];
  /** Closed loop, one login at a time, round robin over the tenants; `apps` alternate. */
  async function logins(apps: Served[], n: number, series?: Series): Promise<LoginSample[]> {
    const from = Date.now();
    const cpu0 = cpuNow();
    const out: LoginSample[] = [];
    for (let i = 0; i < n; i++) out.push(await login(apps[i % apps.length]!, loginTenants[i % loginTenants.length]!));
    const cpu = Object.fromEntries(Object.entries(cpuNow()).map(([k, v]) => [k, v - (cpu0[k] ?? 0)]));
    if (series) windows.push({ series, from, to: Date.now(), cpu });
    return out;
  }

  // ---- waiting for a quiet queue and machine between phases ----
  const running = async (query = '') =>
    (await on.temporal.client.workflow.count(`${ON_QUEUES} AND ExecutionStatus = 'Running'${query}`)).count;
  async function settle(label: string): Promise<void> {
    const t1 = performance.now();
    while ((await running()) > 0) {
      if (performance.now() - t1 > 180_000) throw new Error(`${label}: workflows still running after 180 s`);
      await sleep(500);
    }
    // Terminated runs leave activities finishing in the worker (and queries in FerretDB).
    for (let quiet = 0; quiet < 2 && performance.now() - t1 < 240_000;) {
      const ps = pids();
      const c0 = ps.reduce((a, p) => a + cpuSeconds(p), 0);
      await sleep(1000);
      const busy = ps.reduce((a, p) => a + cpuSeconds(p), 0) - c0;
      quiet = busy < 0.25 ? quiet + 1 : 0;
    }
    say(`${label}: queue empty and machine quiet after ${fmt((performance.now() - t1) / 1000)} s`);
  }
  async function terminateRunning(query: string, why: string): Promise<number> {
    let n = 0;
    for await (const w of on.temporal.client.workflow.list({
      query: `${ON_QUEUES} AND ExecutionStatus = 'Running'${query}`,
    })) {
      await on.temporal.client.workflow
        .getHandle(w.workflowId)
        .terminate(why)
        .catch(() => undefined);
      n += 1;
    }
    return n;
  }

  // ---- background load: a big reconcile, client upserts and the cleanups ----
  interface Background {
    /** Reconcile batches started so far; a new one starts whenever the last one finishes. */
    batches: string[];
    /** Client-upsert runs started so far (the first upsert, then forced re-runs of the same clients). */
    clientRuns: string[];
    startedAt: number;
    stopping: boolean;
    keeper?: Promise<void>;
  }
  const startReconcile = async (s: Served) =>
    (
      await call<{ batchId: string }>(s, 'POST', '/api/reconcile', {
        source: { kind: 'namespace', db: 'bench_data', collection: 'source' },
        target: { db: 'bench_data', collection: 'target' },
        options: { dryRun: true, chunkSize: 1000, partitions: PARTITIONS, maxConcurrency: Math.max(1, PARTITIONS) },
      })
    ).batchId;
  const startClients = async (s: Served, force: boolean) =>
    (await call<{ workflowId: string; runId: string }>(s, 'POST', '/api/clients/sync', { keys: clientSets[s.mode], force })).runId;
  const progressOf = (s: Served, batchId: string) => call<ReconcileProgress>(s, 'GET', `/api/reconcile/${batchId}/progress`);
  const clientsWorkflowId = (s: Served) => clientUpsertWorkflowId(TASK_QUEUE, clientSets[s.mode]);
  const isRunning = async (s: Served, workflowId: string, runId: string) =>
    (await s.temporal.client.workflow.getHandle(workflowId, runId).describe()).status.name === 'RUNNING';
  async function startBackground(s: Served): Promise<Background> {
    const startedAt = performance.now();
    const first = await startReconcile(s);
    // The rest starts once the reconcile's partitions read (its plan is a scan of its own), so
    // that all of it overlaps the logins.
    for (const t1 = performance.now(); performance.now() - t1 < 90_000; await sleep(500)) {
      const p = await progressOf(s, first);
      if (p.partitions.running > 0 || FINAL_STATES.includes(p.state)) break;
    }
    const bg: Background = { batches: [first], clientRuns: [await startClients(s, false)], startedAt, stopping: false };
    // The schedules' own cleanup inputs (retention, batch size), started by this mode's client.
    for (const opts of scheduleOptions(base)) {
      const a = opts.action as { workflowType: string; args?: unknown[]; workflowId?: string };
      if (a.workflowType !== CleanupNames.cleanupWorkflow) continue;
      await s.temporal.client.workflow.start(a.workflowType, {
        taskQueue: TASK_QUEUE,
        workflowId: `${a.workflowId ?? 'cleanup'}:bench-${s.mode}`,
        args: a.args ?? [],
        workflowExecutionTimeout: '10 minutes',
      });
    }
    // The same load for the whole login window: a reconcile and a client upsert always in flight.
    bg.keeper = (async () => {
      while (!bg.stopping) {
        const p = await progressOf(s, bg.batches.at(-1)!);
        if (FINAL_STATES.includes(p.state) && !bg.stopping) bg.batches.push(await startReconcile(s));
        const upserting = await isRunning(s, clientsWorkflowId(s), bg.clientRuns.at(-1)!);
        if (!upserting && !bg.stopping) bg.clientRuns.push(await startClients(s, true));
        await sleep(1000);
      }
    })();
    return bg;
  }
  async function stopBackground(s: Served, bg: Background): Promise<{ keys: number; batches: number; clientRuns: number }> {
    bg.stopping = true;
    await bg.keeper;
    const ps = await Promise.all(bg.batches.map((b) => progressOf(s, b)));
    const last = ps.at(-1)!;
    if (!FINAL_STATES.includes(last.state)) await call(s, 'POST', `/api/reconcile/${last.batchId}/cancel`).catch(() => undefined);
    // The client upsert is bounded work: let it finish; the reconcile gets a while to drain.
    const clients = s.temporal.client.workflow.getHandle(clientsWorkflowId(s), bg.clientRuns.at(-1)).result();
    await Promise.race([clients, sleep(120_000)]).catch(() => undefined);
    const rc = s.temporal.client.workflow.getHandle(last.workflowId).result();
    await Promise.race([rc, sleep(30_000)]).catch(() => undefined);
    const left = await terminateRunning('', 'bench: next phase');
    if (left) say(`terminated ${left} workflow(s) still running`);
    return { keys: ps.reduce((n, p) => n + p.processed, 0), batches: bg.batches.length, clientRuns: bg.clientRuns.length };
  }

  // ---- what priority acts on: time in the task queue, from each run's history ----
  type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];
  const ms = (e: HistoryEvent) => Number(e.eventTime?.seconds ?? 0) * 1000 + Math.round((e.eventTime?.nanos ?? 0) / 1e6);
  /** Sum of (workflow task started − scheduled) until the login's update was answered. */
  function queueWaitOf(events: HistoryEvent[]): number {
    const at = new Map<string, number>();
    let sum = 0;
    for (const e of events) {
      at.set(String(e.eventId), ms(e));
      const started = e.workflowTaskStartedEventAttributes;
      if (started) sum += ms(e) - (at.get(String(started.scheduledEventId)) ?? ms(e));
      if (e.workflowExecutionUpdateCompletedEventAttributes) break;
    }
    return sum;
  }
  /** The queue waits of every login run a series started (joined logins started none). */
  async function queueWaits(series: Series): Promise<number[]> {
    const out: number[] = [];
    for (const w of windows.filter((x) => x.series === series)) {
      const iso = (t: number) => new Date(t).toISOString();
      const query = `WorkflowType = '${TenantSyncNames.workflow}' AND StartTime >= '${iso(w.from)}' AND StartTime <= '${iso(w.to)}'`;
      for await (const r of on.temporal.client.workflow.list({ query })) {
        const h = on.temporal.client.workflow.getHandle(r.workflowId, r.runId);
        out.push(queueWaitOf((await h.fetchHistory()).events ?? []));
      }
    }
    return out;
  }

  // ---- fairness: tenant B's small reconcile, alone or behind tenant A's flood ----
  async function quietBatch(s: Served): Promise<BWait> {
    const started = await call<{ workflowId: string }>(s, 'POST', '/api/reconcile', {
      source: { kind: 'tenant', tenantId: B, collection: 'quiet' },
      options: { dryRun: true, chunkSize: 1000 },
    });
    const h = s.temporal.client.workflow.getHandle(started.workflowId);
    await Promise.race([h.result(), sleep(300_000).then(() => Promise.reject(new Error('B did not finish in 300 s')))]);
    const aRunning = await running(` AND TenantId = '${A}'`);
    const events = (await h.fetchHistory()).events ?? [];
    const first = ms(events[0]!);
    const at = (pick: (e: (typeof events)[number]) => unknown) => {
      const e = events.find((x) => pick(x));
      return e ? ms(e) - first : Number.NaN;
    };
    const prio = (await h.describe()).raw.workflowExecutionInfo?.priority;
    return {
      firstTaskMs: at((e) => e.workflowTaskStartedEventAttributes),
      firstActivityMs: at((e) => e.activityTaskStartedEventAttributes),
      completedMs: at((e) => e.workflowExecutionCompletedEventAttributes),
      aRunning,
      priority: prio?.priorityKey ? `key ${prio.priorityKey}, fairness ${prio.fairnessKey}` : 'none (FIFO)',
    };
  }
  async function flood(s: Served): Promise<BWait & { floodStartS: number }> {
    const t1 = performance.now();
    const parts: string[][] = [];
    for (let i = 0; i < floodCollections.length; i += BULK_MAX) parts.push(floodCollections.slice(i, i + BULK_MAX));
    await Promise.all(
      parts.map((collections) =>
        call(s, 'POST', '/api/reconcile/bulk', {
          source: { kind: 'tenant', tenantId: A, collections },
          options: { dryRun: true, chunkSize: 1000 },
        }),
      ),
    );
    const floodStartS = (performance.now() - t1) / 1000;
    // A's backlog forms (its plans, then its partitions) before B arrives.
    await sleep(3_000);
    const b = await quietBatch(s);
    const left = await terminateRunning(` AND TenantId = '${A}'`, 'bench: flood over');
    say(
      `flood ${MODE_NAMES[s.mode]}: B done in ${fmt(b.completedMs / 1000)} s; terminated ${left} of A's ${FLOOD_BATCHES} batches still running`,
    );
    return { ...b, floodStartS };
  }

  // ---- warm-up: cold first syncs, a few warm logins per app, one quiet batch ----
  say(`warm-up: first syncs of ${LOGIN_TENANTS} tenants (3 × ${LOGIN_RECORDS} records), warm logins, one small reconcile`);
  for (const id of loginTenants) await login(on, id);
  await logins(apps, 8 * LOGIN_TENANTS);
  await quietBatch(on);
  await settle('warm-up');

  const half = Math.ceil(LOGINS / 2);
  say(`idle logins (1/2): ${half}, the three apps in turn`);
  const idle = await logins(apps, half, 'idle');

  type Loaded = { samples: LoginSample[]; windowS: number; keys: number; batches: number; clientRuns: number };
  const none = (): Loaded => ({ samples: [], windowS: 0, keys: 0, batches: 0, clientRuns: 0 });
  const loaded: Record<Mode, Loaded> = { off: none(), on: none(), lanes: none() };
  for (const s of apps) {
    await settle(`before load ${s.mode}`);
    say(`load, ${MODE_NAMES[s.mode]}: ${RECORDS}-record dry-run reconcile (${SCAN_TEXT}), ${CLIENTS} client upserts, cleanups`);
    const bg = await startBackground(s);
    say(`load ${s.mode}: reconcile reading after ${fmt((performance.now() - bg.startedAt) / 1000)} s; ${LOGINS} logins`);
    const w0 = performance.now();
    loaded[s.mode].samples = await logins([s], LOGINS, s.mode);
    loaded[s.mode].windowS = (performance.now() - w0) / 1000;
    const stopped = await stopBackground(s, bg);
    Object.assign(loaded[s.mode], stopped);
    say(
      `load ${s.mode}: logins took ${fmt(loaded[s.mode].windowS)} s; reconcile compared ${stopped.keys} keys (${stopped.batches} batch(es)), ${stopped.clientRuns} client-upsert run(s)`,
    );
  }
  await settle('after the load phases');
  say(`idle logins (2/2): ${LOGINS - half}`);
  idle.push(...(await logins(apps, LOGINS - half, 'idle')));

  const quiet: BWait[] = [];
  say('quiet tenant alone (baseline), three times');
  for (const s of [lanes, on, off]) quiet.push(await quietBatch(s));
  const floods: Partial<Record<Mode, BWait & { floodStartS: number }>> = {};
  // The reverse order of the load phases: no mode always goes first.
  for (const s of [lanes, on, off]) {
    await settle(`before flood ${s.mode}`);
    say(
      `flood, ${MODE_NAMES[s.mode]}: tenant A starts ${FLOOD_BATCHES} batches × ${FLOOD_RECORDS} records, then B one of ${QUIET_RECORDS}`,
    );
    floods[s.mode] = await flood(s);
  }
  await settle('after the floods');
  say('quiet tenant alone (baseline), twice more');
  for (const s of [off, lanes]) quiet.push(await quietBatch(s));

  // ---- report ----
  const rows: Array<Record<string, string | number>> = [];
  say("reading the login runs' histories (time in the task queue)");
  const waits = {
    idle: await queueWaits('idle'),
    off: await queueWaits('off'),
    on: await queueWaits('on'),
    lanes: await queueWaits('lanes'),
  };
  const loginRow = (name: string, xs: LoginSample[], series: Series, note: string) => {
    const joined = xs.filter((x) => x.joined).length;
    const fallbacks = xs.filter((x) => x.fallback).length;
    const v = xs.map((x) => x.ms);
    rows.push({
      case: name,
      n: xs.length,
      'p50 ms': fmt(percentile(v, 50)),
      'p95 ms': fmt(percentile(v, 95)),
      'p99 ms': fmt(percentile(v, 99)),
      'queue wait p50 / p99 ms': `${fmt(percentile(waits[series], 50))} / ${fmt(percentile(waits[series], 99))} (${waits[series].length} runs)`,
      note: `${note}${joined ? `; ${joined} joined a running sync` : ''}${fallbacks ? `; ${fallbacks} fell back to direct` : ''}`,
    });
    return percentile(v, 99);
  };
  const idleP99 = loginRow('1. logins, idle worker', idle, 'idle', 'half before, half after the load phases; both apps alternating');
  const loadedP99 = Object.fromEntries(
    MODES.map((m, i) => [
      m,
      loginRow(
        `${i + 2}. logins under load, ${MODE_NAMES[m]}`,
        loaded[m].samples,
        m,
        `${fmt(loaded[m].windowS)} s; meanwhile reconcile ${loaded[m].keys} keys in ${loaded[m].batches} batch(es), ${loaded[m].clientRuns} client-upsert run(s) of ${CLIENTS}`,
      ),
    ]),
  ) as Record<Mode, number>;
  const med = (f: (b: BWait) => number) => percentile(quiet.map(f), 50);
  const idleWait = med((b) => b.firstActivityMs);
  const idleDone = med((b) => b.completedMs);
  const fairRow = (name: string, b: { firstTaskMs: number; firstActivityMs: number; completedMs: number }, note: string) => ({
    case: name,
    'to first workflow task ms': fmt(b.firstTaskMs, 0),
    'to first activity ms': fmt(b.firstActivityMs, 0),
    'to completion ms': fmt(b.completedMs, 0),
    note,
  });
  const fair = [
    fairRow(
      `5a. B alone (median of ${quiet.length})`,
      { firstTaskMs: med((b) => b.firstTaskMs), firstActivityMs: idleWait, completedMs: idleDone },
      `runs: ${quiet.map((b) => fmt(b.completedMs, 0)).join(' / ')} ms to completion`,
    ),
    ...MODES.map((m, i) =>
      fairRow(
        `5${'bcd'[i]}. B behind A's flood, ${MODE_NAMES[m]}`,
        floods[m]!,
        `B's run: ${floods[m]!.priority}; A's batches still running when B finished: ${floods[m]!.aRunning}/${FLOOD_BATCHES}`,
      ),
    ),
  ];
  // CPU cores each process used while the logins of a series ran (both idle halves together).
  const cpuRows = (['idle', ...MODES] as const).map((series) => {
    const ws = windows.filter((w) => w.series === series);
    const secs = ws.reduce((a, w) => a + (w.to - w.from) / 1000, 0);
    const sum = (k: string) => ws.reduce((a, w) => a + (w.cpu[k] ?? 0), 0);
    const keys = Object.keys(ws[0]?.cpu ?? {});
    return {
      'login window': series === 'idle' ? 'idle worker' : `under load, ${MODE_NAMES[series]}`,
      seconds: fmt(secs),
      ...Object.fromEntries(keys.map((k) => [`${k} cores`, fmt(sum(k) / secs, 2)])),
      'all cores': fmt(keys.reduce((a, k) => a + sum(k), 0) / secs, 2),
    };
  });
  const load1 = loadavg();
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
  const verdict = (ratio: number, target: number) => `${fmt(ratio, 2)} (target ≤ ${target}): ${ratio <= target ? 'met' : 'MISSED'}`;
  const out = [
    '',
    `priorities and fairness under load: one worker process (main lane: ${ACTIVITY_SLOTS} activity slots, ${WORKFLOW_SLOTS} workflow-task slots; interactive lane: ${INTERACTIVE_SLOTS} of each; bulk lane: ${BULK_SLOTS} activity slots, polled always, used by the lanes mode only), embedded stack (Temporal dev server with priority/fairness dynamic config, FerretDB, Redis)`,
    `logins: ${LOGIN_TENANTS} tenants × 3 essential collections × ${LOGIN_RECORDS} records, warm incremental, one at a time, through Temporal (TEMPORAL_AUTH_TIMEOUT_MS 15000)`,
    `load: ${RECORDS}-record dry-run reconcile with ${fmt(DRIFT * 100, 1)}% drift (chunkSize 1000, ${SCAN_TEXT}), ${CLIENTS} client upserts × ${ROUTES} routes (first upsert, concurrency ${base.CLIENT_UPSERT_CONCURRENCY}), the ${scheduleOptions(base).filter((o) => (o.action as { workflowType: string }).workflowType === CleanupNames.cleanupWorkflow).length} cleanup workflows`,
    `flood: tenant A, ${FLOOD_BATCHES} dry-run reconcile batches × ${FLOOD_RECORDS} records (${Math.ceil(FLOOD_RECORDS / 1000) * FLOOD_BATCHES} chunks) through /api/reconcile/bulk; tenant B: one batch of ${QUIET_RECORDS} records 3 s later`,
    '',
    table(rows),
    '',
    table(fair),
    '',
    table(cpuRows),
    '',
    ...MODES.map(
      (m) =>
        `login p99 under load / idle p99, ${MODE_NAMES[m]}: ${m === 'off' ? fmt(loadedP99[m] / idleP99, 2) : verdict(loadedP99[m] / idleP99, 1.5)}`,
    ),
    ...MODES.map(
      (m) =>
        `quiet tenant's wait to its first activity / alone, ${MODE_NAMES[m]}: ${m === 'off' ? fmt(floods[m]!.firstActivityMs / idleWait, 2) : verdict(floods[m]!.firstActivityMs / idleWait, 2)}; to completion / alone ${fmt(floods[m]!.completedMs / idleDone, 2)}`,
    ),
    `load average (1/5/15 min): start ${la(load0)}, end ${la(load1)}; total run time ${fmt((performance.now() - t0) / 60_000, 1)} min; worker peak RSS ${fmt(worker.peakRssMb(), 0)} MB`,
    '',
  ];
  process.stdout.write(out.join('\n'));
}
