import { loadavg } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { MongoClient, type Db } from 'mongodb';
import { driftOf, generatePair, rawCompare, type GeneratedPair } from '../../fixtures/reconcile-data';
import { startFixtureUpstream, type FixtureUpstream } from '../../fixtures/upstream/server';
import { mintToken } from '../../infra/auth-token';
import { loadConfig } from '../../infra/config';
import { freePort } from '../../infra/dev/servers';
import { tenantDbName } from '../../infra/tenant-db-name';
import { percentile, startBenchStack, type BenchStack } from '../harness';
import { apiSlot, workerSlot, type Slot } from './processes';
import { faultSchedule, seededRandom, type Fault } from './schedule';

// The chaos drill (issue 18): the embedded stack, N API processes behind a client-side
// round-robin and M worker processes on one task queue; a login storm over the tenants and a
// repairing namespace reconcile with drift; seeded faults (SIGKILL of a worker and of an API
// process, each restarted; SIGSTOP/SIGCONT of Temporal, FerretDB and Redis past the login
// timeout); then the checks. Loopback only; every process it starts is stopped by close().

export interface DrillOptions {
  seed: number;
  apis: number;
  workers: number;
  tenants: number;
  /** Of them, how many log in through Temporal (TEMPORAL_TENANTS); the rest go direct. */
  temporalTenants: number;
  records: number;
  /** Fraction of the records that drift (split over missing, mismatched, extra). */
  drift: number;
  stormSeconds: number;
  concurrency: number;
  /** Each fault kind this many times. */
  rounds: number;
  loginTimeoutMs: number;
  /** Wall-clock bound of the whole drill (the caller stops everything past it). */
  maxSeconds: number;
  say: (m: string) => void;
}

export interface CheckRow {
  check: string;
  ok: boolean;
  detail: string;
}

export interface DrillSummary {
  seed: number;
  options: Omit<DrillOptions, 'say'>;
  schedule: Fault[];
  faults: Array<Fault & { startedAtMs: number; endedAtMs: number; note: string }>;
  checks: CheckRow[];
  /** Logins over the bound or unanswered, and the last login of each tenant (for a diagnosis). */
  slowLogins: unknown[];
  finalLogins: unknown[];
  figures: Record<string, number | string>;
  /** The API and worker processes' error log lines (per slot, the first 20). */
  processErrors: Record<string, string[]>;
  ok: boolean;
  seconds: number;
  loadavg: string;
}

/** What the drill started, closed in reverse on the way out (also by a signal handler). */
export class Resources {
  private readonly closers: Array<{ name: string; close: () => Promise<unknown> }> = [];
  private closing?: Promise<void>;
  add(name: string, close: () => Promise<unknown>): void {
    this.closers.push({ name, close });
  }
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const c of this.closers.reverse())
        await c.close().catch((err: unknown) => process.stderr.write(`[drill] closing ${c.name}: ${String(err)}\n`));
    })();
    return this.closing;
  }
}

interface LoginRecord {
  tenant: string;
  api: number;
  atMs: number;
  ms: number;
  status: number;
  method?: string;
  reason?: string;
  essentialReady?: boolean;
  /** Connection-level failures before the answering API (a dead member of the round-robin). */
  hops: number;
  /** The answering attempt alone (ms): after a hop, what the API that answered took. */
  answerMs: number;
  error?: string;
}

interface IdemSend {
  key: string;
  api: number;
  status: number;
  batchId?: string;
  replayed: boolean;
  error?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const COLLECTIONS = [
  { name: 'users', essential: true, size: 150 },
  { name: 'roles', essential: true, size: 40 },
  { name: 'audit', essential: false, size: 200 },
] as const;
const DATA_DB = 'drill_data';
const PLATFORM_DB = 'drill';
const TASK_QUEUE = 'drill';

export async function runDrill(o: DrillOptions, res: Resources): Promise<DrillSummary> {
  const t0 = performance.now();
  const say = o.say;
  const schedule = faultSchedule({
    seed: o.seed,
    rounds: o.rounds,
    stormMs: o.stormSeconds * 1000,
    leadMs: 5_000,
    tailMs: 5_000,
    loginTimeoutMs: o.loginTimeoutMs,
    gapMs: 2_000,
    apis: o.apis,
    workers: o.workers,
  });
  say(`seed ${o.seed}; fault schedule (offsets from the storm's start):`);
  for (const f of schedule)
    say(
      `  +${(f.atMs / 1000).toFixed(1).padStart(5)} s  ${f.kind.padEnd(16)} ${f.kind.startsWith('kill') ? `#${f.target}, restarted after` : 'for'} ${(f.forMs / 1000).toFixed(1)} s`,
    );

  // ---- the stack, data, processes ----
  const bench: BenchStack = await startBenchStack(say);
  res.add('stack', async () => {
    for (const s of bench.stack.servers) thaw(s.process.pid);
    await bench.close();
  });
  const server = (name: string) => {
    const s = bench.stack.servers.find((x) => x.name === name);
    if (!s?.process.pid) throw new Error(`no ${name} server process in the stack`);
    return s.process.pid;
  };
  const pids = { temporal: server('temporal'), ferretdb: server('ferretdb'), redis: server('redis') };

  const mongo = new MongoClient(bench.stack.mongoUri, { serverSelectionTimeoutMS: 30_000, maxPoolSize: 20, appName: 'drill' });
  await mongo.connect();
  res.add('mongo client', () => mongo.close());
  const connection = await Connection.connect({ address: bench.stack.temporalAddress });
  res.add('temporal client', () => connection.close());
  const temporal = new Client({ connection });

  const upstream: FixtureUpstream = await startFixtureUpstream();
  res.add('fixture upstream', () => upstream.close());

  const data = mongo.db(DATA_DB);
  const drift = driftOf(o.records, o.drift);
  say(
    `generating ${o.records} source records, target drift ${drift.missing}/${drift.mismatched}/${drift.extra} (missing/mismatched/extra)`,
  );
  const pair: GeneratedPair = await generatePair(data, { source: 'source', target: 'target' }, o.records, drift, 5_000);
  // The idempotency probes' small dry-run reconciles read this pair.
  await generatePair(data, { source: 'probe_source', target: 'probe_target' }, 2_000, driftOf(2_000, 0.01), 2_000);

  const tenantIds = Array.from({ length: o.tenants }, (_, i) => `drill-t${String(i).padStart(2, '0')}`);
  const viaTemporal = tenantIds.slice(0, o.temporalTenants);
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...bench.env,
    MONGODB_DB: PLATFORM_DB,
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    LOG_PRETTY: 'false',
    OTEL_EXPORTER_OTLP_ENDPOINT: '',
    // API: most logins through Temporal, the rest direct; no freshness shortcut; limits out of the way.
    USE_TEMPORAL_FOR_AUTH: 'true',
    TEMPORAL_TENANTS: viaTemporal.join(','),
    TEMPORAL_AUTH_TIMEOUT_MS: String(o.loginTimeoutMs),
    // Every login answers within the bound: past it a 503 with Retry-After (README), its sync going on.
    LOGIN_DEADLINE_MS: String(o.loginTimeoutMs + 300),
    SYNC_FRESHNESS_MS: '0',
    RATE_LIMIT_PER_SUBJECT: '10000000',
    RATE_LIMIT_PER_TENANT: '10000000',
    QUOTA_ENSURE_PER_MINUTE: '1000000',
    QUOTA_RECONCILE_STARTS_PER_HOUR: '100000',
    QUOTA_RECONCILE_CONCURRENT_BATCHES: '1000',
    // Worker: no metrics port (several run side by side); schedules made by worker-0 only.
    WORKER_METRICS_PORT: '0',
    SCHEDULES_ON_START: 'false',
    // The stuck-sync sweep settles runs whose process died (a direct run's API killed mid-sync):
    // every 10 s, a run without progress for 15 s.
    STUCK_SYNC_SWEEP_INTERVAL_MS: '10000',
    SYNC_STUCK_AFTER_MS: '15000',
    SYNC_STUCK_ACTION: 'terminate',
    CLIENT_UPSERT_ON_START: 'false',
  };
  const config = loadConfig({ ...bench.env, MONGODB_DB: PLATFORM_DB });
  const token = await mintToken(config.AUTH_JWT_SECRET, { sub: 'drill', scopes: ['admin'], tenants: '*', ttlSeconds: 6 * 3600 });
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

  const apis: Slot[] = [];
  for (let i = 0; i < o.apis; i++) apis.push(apiSlot(`api-${i}`, await freePort(), childEnv));
  const workers: Slot[] = Array.from({ length: o.workers }, (_, i) =>
    workerSlot(`worker-${i}`, { ...childEnv, SCHEDULES_ON_START: i === 0 ? 'true' : 'false' }),
  );
  res.add('processes', () => Promise.allSettled([...apis, ...workers].map((s) => s.stop())));
  say(`starting ${o.apis} API and ${o.workers} worker processes`);
  // One API first: it creates the indexes; the others then start side by side.
  await apis[0]!.start();
  await Promise.all([...apis.slice(1), ...workers].map((s) => s.start()));

  // ---- tenants: seeded on the upstream, registered through the API, first syncs ----
  for (const id of tenantIds) {
    upstream.seedTenant(id, { collections: Object.fromEntries(COLLECTIONS.map((c) => [c.name, c.size])), token: `tok-${id}` });
    const r = await fetch(`${apis[0]!.url}/api/tenants`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        tenantId: id,
        name: `Drill ${id}`,
        source: { kind: 'http', settings: { baseUrl: upstream.baseUrl(id), token: `tok-${id}`, timeoutMs: 5_000 } },
        collections: COLLECTIONS.map(({ name, essential }) => ({ name, essential })),
      }),
    });
    if (r.status !== 201 && r.status !== 200) throw new Error(`registering ${id}: ${r.status} ${await r.text()}`);
  }

  /** One login through the round-robin from `api`; a refused or reset connection moves on to the next member. */
  const login = async (tenant: string, api: number, atMs: number): Promise<LoginRecord> => {
    const started = performance.now();
    let hops = 0;
    for (;;) {
      const i = (api + hops) % apis.length;
      const attempt = performance.now();
      try {
        const r = await fetch(`${apis[i]!.url}/api/sync/tenants/${tenant}/ensure`, {
          method: 'POST',
          headers: { authorization: headers.authorization },
          signal: AbortSignal.timeout(60_000),
        });
        const text = await r.text();
        const ms = performance.now() - started;
        let body: { syncMethod?: string; fallbackReason?: string; essentialReady?: boolean; type?: string } = {};
        try {
          body = JSON.parse(text) as typeof body;
        } catch {
          // not JSON: kept in the error below
        }
        return {
          tenant,
          api: i,
          atMs,
          ms,
          status: r.status,
          method: body.syncMethod,
          reason: body.fallbackReason ?? (r.status >= 400 ? body.type : undefined),
          essentialReady: body.essentialReady,
          hops,
          answerMs: performance.now() - attempt,
          ...(r.status >= 300 ? { error: text.slice(0, 300) } : {}),
        };
      } catch (err) {
        const timedOut = err instanceof Error && err.name === 'TimeoutError';
        if (timedOut || hops >= apis.length * 3)
          return {
            tenant,
            api: i,
            atMs,
            ms: performance.now() - started,
            status: 0,
            hops,
            answerMs: performance.now() - attempt,
            error: String(err),
          };
        hops++;
        if (hops % apis.length === 0) await sleep(200);
      }
    }
  };

  say(`first syncs of ${o.tenants} tenants (${viaTemporal.length} through Temporal, ${o.tenants - viaTemporal.length} direct)`);
  // A 503 (the login deadline) says "it goes on, retry shortly", and the auth service retries:
  // so do the first syncs (full ones, on cold workers) and the last logins (for 60 s).
  const loginAnswered = async (t: string, api: number, atMs: number): Promise<LoginRecord> => {
    const until = performance.now() + 60_000;
    for (;;) {
      const l = await login(t, api, atMs);
      if (l.status !== 503 || performance.now() > until) return l;
      await sleep(1_000);
    }
  };
  const firstSyncs = await Promise.all(tenantIds.map((t, i) => loginAnswered(t, i % apis.length, 0)));
  const badFirst = firstSyncs.filter((l) => l.status !== 200 || !l.essentialReady);
  if (badFirst.length) throw new Error(`first syncs failed: ${JSON.stringify(badFirst.slice(0, 3))}`);

  // ---- the storm ----
  const loadRnd = seededRandom(o.seed ^ 0x5eed);
  const logins: LoginRecord[] = [];
  const idem: IdemSend[] = [];
  const reconcileBody = {
    source: { kind: 'namespace', db: DATA_DB, collection: 'source' },
    target: { db: DATA_DB, collection: 'target' },
    options: { extras: 'delete', retryDelay: 500 },
  };
  const probeBody = {
    source: { kind: 'namespace', db: DATA_DB, collection: 'probe_source' },
    target: { db: DATA_DB, collection: 'probe_target' },
    options: { dryRun: true, retryDelay: 500 },
  };
  const startReconcile = async (key: string, api: number, body: unknown): Promise<IdemSend> => {
    try {
      const r = await fetch(`${apis[api]!.url}/api/reconcile`, {
        method: 'POST',
        headers: { ...headers, 'idempotency-key': key },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const j = (await r.json().catch(() => ({}))) as { batchId?: string };
      const s: IdemSend = { key, api, status: r.status, batchId: j.batchId, replayed: r.headers.get('idempotent-replayed') === 'true' };
      idem.push(s);
      return s;
    } catch (err) {
      const s: IdemSend = { key, api, status: 0, replayed: false, error: String(err) };
      idem.push(s);
      return s;
    }
  };
  /** Sends until an API executes or replays it (2xx), moving round the APIs; bounded. */
  const startUntilAccepted = async (key: string, from: number, body: unknown, deadline: number): Promise<void> => {
    for (let k = 0; performance.now() < deadline; k++) {
      const s = await startReconcile(key, (from + k) % apis.length, body);
      if (s.status >= 200 && s.status < 300) return;
      await sleep(500);
    }
  };

  const stormStart = performance.now();
  const stormEnd = stormStart + o.stormSeconds * 1000;
  const since = () => performance.now() - stormStart;
  const mainKey = `drill-main-${o.seed}`;
  say(`storm: ${o.stormSeconds} s, ${o.concurrency} logins at a time over ${o.apis} APIs; reconcile of ${o.records} records starts`);
  await startUntilAccepted(mainKey, 0, reconcileBody, stormEnd);
  // The same start again through another API, later (its replay must name the same batch).
  const repeats = (async () => {
    await sleep(3_000);
    await startReconcile(mainKey, 1 % apis.length, reconcileBody);
  })();

  // The storm lasts its time and at least until the last fault has ended (restarts take a while).
  let faultsOver = false;
  const storming = () => performance.now() < stormEnd || !faultsOver;
  let rr = 0;
  const storm = Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (storming()) {
        const tenant = tenantIds[Math.floor(loadRnd() * tenantIds.length)]!;
        logins.push(await login(tenant, rr++ % apis.length, since()));
      }
    }),
  );
  // The upstream changes while the storm runs: a few records of a random tenant's collection.
  const touches = (async () => {
    let n = 0;
    while (storming()) {
      const t = tenantIds[Math.floor(loadRnd() * tenantIds.length)]!;
      upstream.touch(t, COLLECTIONS[Math.floor(loadRnd() * COLLECTIONS.length)]!.name, 3);
      n++;
      await sleep(500);
    }
    return n;
  })();

  const done: DrillSummary['faults'] = [];
  const probes: Array<Promise<void>> = [];
  /** Cut-off starts are retried until accepted, up to the drain's end (checked by then, whatever their state). */
  const cutProbes: Array<Promise<void>> = [];
  const probeDeadline = t0 + o.maxSeconds * 1000 - 35_000;
  const faults = (async () => {
    for (const [i, f] of schedule.entries()) {
      await sleep(stormStart + f.atMs - performance.now());
      const startedAtMs = since();
      let note = '';
      if (f.kind === 'kill-worker') {
        const w = workers[f.target]!;
        note = `pid ${w.pid()}`;
        w.kill();
        await sleep(f.forMs);
        await w.start();
        note += ` → ${w.pid()}`;
      } else if (f.kind === 'kill-api') {
        const a = apis[f.target]!;
        // Two idempotent starts on the API that dies: one it answered before, one cut off by the
        // kill; the client sends each again through the others (the first must replay; the
        // second answers 409 while the dead process's pending claim lives, then runs once).
        const answered = `drill-probe-${o.seed}-${i}-answered`;
        await startReconcile(answered, f.target, probeBody);
        const cut = `drill-probe-${o.seed}-${i}-cut`;
        const first = startReconcile(cut, f.target, probeBody);
        await sleep(30);
        note = `pid ${a.pid()}`;
        a.kill();
        probes.push(startUntilAccepted(answered, f.target + 1, probeBody, performance.now() + 30_000));
        cutProbes.push(first.then(() => startUntilAccepted(cut, f.target + 1, probeBody, probeDeadline)));
        await sleep(f.forMs);
        await a.start();
        note += ` → ${a.pid()}`;
      } else {
        const which = f.kind === 'freeze-temporal' ? 'temporal' : f.kind === 'freeze-ferretdb' ? 'ferretdb' : 'redis';
        process.kill(pids[which], 'SIGSTOP');
        try {
          await sleep(f.forMs);
        } finally {
          thaw(pids[which]);
        }
        note = `pid ${pids[which]}`;
      }
      done.push({ ...f, startedAtMs, endedAtMs: since(), note });
      say(`fault ${i + 1}/${schedule.length} ${f.kind} done at +${(since() / 1000).toFixed(1)} s (${note})`);
    }
    // A little load after the last fault, then the storm ends.
    await sleep(3_000);
    faultsOver = true;
  })();
  const [touched] = await Promise.all([touches, storm, faults, repeats]);
  await Promise.all(probes);
  // Once more after the faults, through the last API: still the same batch.
  await startReconcile(mainKey, (apis.length - 1) % apis.length, reconcileBody);
  say(`storm over: ${logins.length} logins, ${touched} upstream changes; draining`);

  // ---- drain: the reconcile to its end, a last login per tenant, no work left running ----
  // Whatever is not done by then fails its check; the last logins and the checks need the rest.
  const hardEnd = t0 + o.maxSeconds * 1000 - 45_000;
  let lastSay = 0;
  const every10s = (m: () => string) => {
    if (performance.now() - lastSay < 10_000) return;
    lastSay = performance.now();
    say(m());
  };
  const mainBatch = idem.find((s) => s.key === mainKey && s.batchId)?.batchId;
  let progress: Record<string, unknown> | undefined;
  // At least one read, however late the storm ended.
  for (let first = true; mainBatch && (first || performance.now() < hardEnd); first = false) {
    const r = await fetch(`${apis[0]!.url}/api/reconcile/${mainBatch}/progress`, { headers, signal: AbortSignal.timeout(10_000) }).catch(
      () => undefined,
    );
    if (r?.ok) {
      progress = (await r.json()) as Record<string, unknown>;
      if (['completed', 'partial', 'failed', 'cancelled'].includes(String(progress.state))) break;
      every10s(() => `reconcile ${String(progress?.state)}: ${String(progress?.processed)}/${String(progress?.total)}`);
    }
    await sleep(1_000);
  }
  const running = async () => {
    const out: string[] = [];
    for await (const w of temporal.workflow.list({ query: 'ExecutionStatus = "Running"' })) out.push(`${w.type}:${w.workflowId}`);
    return out;
  };
  const syncRuns = mongo.db(PLATFORM_DB).collection('sync_runs');
  let stillRunning: string[] = [];
  let runsRunning = 0;
  /** Until no workflow execution and no sync run is running (bounded by hardEnd). */
  const quiet = async (ignore: (w: string) => boolean, until: number) => {
    for (;;) {
      stillRunning = (await running()).filter((w) => !ignore(w));
      runsRunning = await syncRuns.countDocuments({ state: 'running' });
      if ((stillRunning.length === 0 && runsRunning === 0) || performance.now() > until) return;
      every10s(() => `still running: ${stillRunning.slice(0, 5).join(', ')}; sync runs running: ${runsRunning}`);
      await sleep(1_000);
    }
  };
  // The storm's syncs end first: a last login that joined one still running would answer from
  // what that sync read before the upstream's last changes.
  say(`reconcile ${String(progress?.state)}; waiting for the storm's syncs to end`);
  // The schedules' own runs (cleanup, the stuck-sync sweep) are not work of the storm.
  const maintenance = (w: string) => /cleanup|sweep/i.test(w.split(':')[0]!);
  await quiet((w) => maintenance(w) || w.includes(':reconcile:'), hardEnd);
  say('one last login per tenant');
  const finalLogins = await Promise.all(tenantIds.map((t, i) => loginAnswered(t, i % apis.length, since())));
  await Promise.all(cutProbes);
  await quiet(maintenance, t0 + o.maxSeconds * 1000 - 25_000);
  const settled = await syncRuns.countDocuments({ stuck: { $exists: true } });

  say('checks');
  // ---- checks ----
  const checks: CheckRow[] = [];
  const bound = o.loginTimeoutMs + 500;
  {
    const ok2xx = logins.filter((l) => l.status >= 200 && l.status < 300);
    const d503 = logins.filter((l) => l.status === 503);
    const other = logins.filter((l) => !(l.status >= 200 && l.status < 300) && l.status !== 503);
    // The bound is on the answering API: a request cut off by a SIGKILL cannot be answered by the
    // process that died, and the client (as a load balancer does) sends it to the next one.
    const slow = logins.filter((l) => l.answerMs > bound);
    const rerouted = logins.filter((l) => l.hops > 0);
    const notReady = ok2xx.filter((l) => l.essentialReady !== true);
    const byMethod = new Map<string, number>();
    for (const l of ok2xx)
      byMethod.set(`${l.method}${l.reason ? `/${l.reason}` : ''}`, (byMethod.get(`${l.method}${l.reason ? `/${l.reason}` : ''}`) ?? 0) + 1);
    const worst = [...slow].sort((a, b) => b.answerMs - a.answerMs).slice(0, 3);
    const during = (l: LoginRecord) => done.find((f) => l.atMs < f.endedAtMs && l.atMs + l.ms > f.startedAtMs)?.kind ?? 'no fault';
    const slowBy = new Map<string, number>();
    for (const l of slow) slowBy.set(during(l), (slowBy.get(during(l)) ?? 0) + 1);
    checks.push({
      check: `every login answered (2xx or 503) within ${bound} ms`,
      ok: logins.length > 0 && other.length === 0 && slow.length === 0,
      detail:
        `${logins.length} logins: ${ok2xx.length} 2xx (${notReady.length} not essentialReady), ${d503.length} 503, ${other.length} other` +
        `${other.length ? ` [${[...new Set(other.map((l) => l.status))].join(',')}: ${other[0]!.error ?? ''}]` : ''}; ` +
        `p50 ${percentile(
          logins.map((l) => l.ms),
          50,
        ).toFixed(0)} ms, p99 ${percentile(
          logins.map((l) => l.ms),
          99,
        ).toFixed(0)} ms, max ${Math.max(...logins.map((l) => l.ms)).toFixed(0)} ms; ` +
        `${slow.length} over the bound${slow.length ? ` (${[...slowBy].map(([k, v]) => `${v} during ${k}`).join(', ')})` : ''}${worst.length ? ` (worst: ${worst.map((l) => `${l.answerMs.toFixed(0)} ms at +${(l.atMs / 1000).toFixed(1)} s ${l.status} ${l.method ?? ''}/${l.reason ?? ''}`).join('; ')})` : ''}; ` +
        `methods: ${[...byMethod].map(([k, v]) => `${k} ${v}`).join(', ')}; rerouted past a dead API: ${rerouted.length}${rerouted.length ? ` (with the cut-off attempt: max ${Math.max(...rerouted.map((l) => l.ms)).toFixed(0)} ms)` : ''}`,
    });
  }
  checks.push(await overlapCheck(mongo.db(PLATFORM_DB), tenantIds, stormStart, done));
  checks.push(await upstreamCheck(mongo, upstream, tenantIds, finalLogins));
  checks.push(await reconcileCheck(data, pair, progress));
  checks.push(await idempotencyCheck(mongo.db(PLATFORM_DB), temporal, idem, mainKey));
  const stuckRuns = await syncRuns
    .find({ state: 'running' }, { projection: { _id: 1, method: 1, fallbackReason: 1, startedAt: 1, essentialReadyAt: 1 } })
    .limit(5)
    .toArray();
  const stormAt = Date.now() - (performance.now() - stormStart);
  const rel = (d: unknown) => (d instanceof Date ? `+${((d.getTime() - stormAt) / 1000).toFixed(1)} s` : '-');
  checks.push({
    check: 'no stuck run left behind',
    ok: stillRunning.length === 0 && runsRunning === 0,
    detail: `running workflow executions (the schedules' cleanup and sweep runs aside): ${stillRunning.length}${stillRunning.length ? ` (${stillRunning.slice(0, 5).join(', ')})` : ''}; sync runs left 'running': ${runsRunning}; orphaned runs settled by the stuck-sync sweep: ${settled}${stuckRuns.map((r) => ` (${String(r._id)} ${String(r.method)}/${String(r.fallbackReason ?? '')} started ${rel(r.startedAt)}, essential ready ${rel(r.essentialReadyAt)})`).join('')}`,
  });

  const ok = checks.every((c) => c.ok);
  return {
    seed: o.seed,
    options: { ...o, say: undefined } as unknown as DrillSummary['options'],
    schedule,
    faults: done,
    checks,
    slowLogins: logins
      .filter((l) => l.answerMs > o.loginTimeoutMs + 500 || l.hops > 0 || l.status === 0)
      .map((l) => ({ ...l, ms: Math.round(l.ms), atMs: Math.round(l.atMs) })),
    finalLogins: finalLogins.map((l) => ({ ...l, ms: Math.round(l.ms), atMs: Math.round(l.atMs) })),
    processErrors: Object.fromEntries([...apis, ...workers].map((p) => [p.name, p.errors()]).filter(([, e]) => e!.length > 0)),
    figures: {
      logins: logins.length,
      upstreamChanges: touched,
      reconcileRecords: o.records,
      reconcileState: String(progress?.state ?? 'unknown'),
      reconcileElapsedMs: Number(progress?.elapsedMs ?? Number.NaN),
    },
    ok,
    seconds: Math.round((performance.now() - t0) / 1000),
    loadavg: loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
  };
}

function thaw(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // already gone
  }
}

/**
 * Two runs of one tenant by the same path at once: two workflow runs, or two direct runs (the
 * MongoDB lease single-flights a direct run, its non-essential rest included, across API processes).
 */
async function overlapCheck(db: Db, tenantIds: readonly string[], stormStart: number, faults: DrillSummary['faults']): Promise<CheckRow> {
  const runs = await db
    .collection<{
      _id: string;
      tenantId: string;
      method: string;
      fallbackReason?: string;
      startedAt: Date;
      essentialReadyAt?: Date;
      finishedAt?: Date;
      leaseLostAt?: Date;
      collections?: Array<{ essential: boolean }>;
    }>('sync_runs')
    .find({ tenantId: { $in: [...tenantIds] } })
    .toArray();
  // A run whose process died (or whose final write failed) stays 'running' until the stuck-sync
  // sweep marks it failed: its work ended at its last progress, which the sweep recorded.
  const orphans = new Map<string, Date>();
  for (const f of await db
    .collection<{ kind: string; syncRunId?: string; lastProgressAt?: string | Date }>('stuck_syncs')
    .find({ kind: 'orphaned-run' })
    .toArray())
    if (f.syncRunId && f.lastProgressAt) orphans.set(f.syncRunId, new Date(f.lastProgressAt));
  const now = new Date();
  // Wall clock of the storm's start: the runs' times are dates, the faults' offsets from it.
  const stormAt = Date.now() - (performance.now() - stormStart);
  const rel = (d: Date | undefined) => (d ? `+${((d.getTime() - stormAt) / 1000).toFixed(1)}` : 'open');
  const faultAt = (a: Date, b: Date) =>
    faults.find((f) => a.getTime() < stormAt + f.endedAtMs && b.getTime() > stormAt + f.startedAtMs)?.kind ?? 'no fault';
  const workflow: string[] = [];
  const essential: string[] = [];
  const rest: string[] = [];
  const lostLease: string[] = [];
  let crossPath = 0;
  for (const t of tenantIds) {
    const mine = runs.filter((r) => r.tenantId === t).sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
    for (let i = 0; i < mine.length; i++)
      for (let j = i + 1; j < mine.length; j++) {
        const a = mine[i]!;
        const b = mine[j]!;
        const aEnd = orphans.get(a._id) ?? a.finishedAt ?? now;
        if (b.startedAt.getTime() >= aEnd.getTime()) continue;
        if (a.method !== b.method) {
          crossPath++;
          continue;
        }
        const say = `${t} ${a._id} [${rel(a.startedAt)}, ${rel(a.essentialReadyAt)}, ${rel(a.finishedAt)}] and ${b._id} [${rel(b.startedAt)}, ${rel(b.essentialReadyAt)}, ${rel(b.finishedAt)}] s, during ${faultAt(b.startedAt, aEnd)}`;
        if (a.method !== 'direct') workflow.push(say);
        // The earlier run stalled past its lease and the later took the tenant over (still two at once).
        else if (a.leaseLostAt) lostLease.push(`${say} (the first lost its lease at ${rel(a.leaseLostAt)})`);
        // A direct run's final record stamps essentialReadyAt again when its rest ends, so the
        // essential phase's end is not known once it has a rest: such overlaps count as rest.
        else if (a.collections?.some((c) => !c.essential)) rest.push(say);
        else essential.push(say);
      }
  }
  const all = [...workflow, ...essential, ...rest, ...lostLease];
  return {
    check: 'no tenant sync ran twice at once',
    ok: all.length === 0,
    detail:
      `${runs.length} sync runs; same-path overlaps: workflow runs ${workflow.length}, direct runs ${essential.length}, ` +
      `direct runs while the earlier one synced its non-essential rest ${rest.length}, ` +
      `direct runs beside an earlier one that had stalled past its lease ${lostLease.length}${all.length ? ` (e.g. ${all.slice(0, 2).join('; ')})` : ''}; ` +
      `a direct fallback beside its workflow run (by design): ${crossPath}; orphaned runs taken as ended at their last progress: ${orphans.size}`,
  };
}

async function upstreamCheck(
  mongo: MongoClient,
  upstream: FixtureUpstream,
  tenantIds: readonly string[],
  finalLogins: readonly LoginRecord[],
): Promise<CheckRow> {
  const differ: string[] = [];
  let records = 0;
  for (const t of tenantIds)
    for (const c of COLLECTIONS) {
      const target = await mongo
        .db(tenantDbName(t))
        .collection<{ _id: string; _sync?: { version?: number } }>(c.name)
        .find({}, { projection: { '_sync.version': 1 } })
        .sort({ _id: 1 })
        .toArray();
      const source = upstream.records(t, c.name);
      records += source.length;
      const a = target.map((d) => `${d._id}@${d._sync?.version}`).join(',');
      const b = source.map((r) => `${r.id}@${r.version}`).join(',');
      if (a !== b) {
        const missing = source.filter((r) => !target.some((d) => d._id === r.id && d._sync?.version === r.version)).length;
        differ.push(`${t}/${c.name} (${target.length} vs ${source.length} records, ${missing} missing or stale)`);
      }
    }
  const badFinal = finalLogins.filter((l) => l.status !== 200 || !l.essentialReady);
  return {
    check: "every tenant's target equals its upstream",
    ok: differ.length === 0 && badFinal.length === 0,
    detail:
      `${tenantIds.length} tenants × ${COLLECTIONS.length} collections, ${records} records (id and version) after one last login each; ` +
      `differ: ${differ.length}${differ.length ? ` (${differ.slice(0, 3).join('; ')})` : ''}; last logins not ready: ${badFinal.length}`,
  };
}

async function reconcileCheck(data: Db, pair: GeneratedPair, progress: Record<string, unknown> | undefined): Promise<CheckRow> {
  const outcomes = (progress?.outcomes ?? {}) as Record<string, number>;
  const keys = pair.records + pair.drift.extra;
  const after = await rawCompare(data.collection('source'), data.collection('target'));
  const exact =
    progress?.state === 'completed' &&
    progress.processed === keys &&
    outcomes.missing_in_target === pair.drift.missing &&
    outcomes.mismatched === pair.drift.mismatched &&
    outcomes.extra_in_target === pair.drift.extra;
  const equal = after.processed === pair.records && after.matched === pair.records;
  return {
    check: 'reconcile exact counts, target equals source',
    ok: exact && equal,
    detail:
      `state ${String(progress?.state ?? 'unknown')}, processed ${String(progress?.processed ?? '?')}/${keys}, ` +
      `missing/mismatched/extra ${outcomes.missing_in_target ?? '?'}/${outcomes.mismatched ?? '?'}/${outcomes.extra_in_target ?? '?'} ` +
      `(generated ${pair.drift.missing}/${pair.drift.mismatched}/${pair.drift.extra}), repaired ${String(progress?.repaired ?? '?')}, ` +
      `runs ${String(progress?.runs ?? '?')}, ${Math.round(Number(progress?.elapsedMs ?? 0) / 1000)} s; after: ${after.matched}/${pair.records} equal, ` +
      `${after.missing} missing, ${after.mismatched} mismatched, ${after.extra} extra`,
  };
}

/** Every key: all accepted answers name one batch, and that batch has one document and one workflow execution chain. */
async function idempotencyCheck(db: Db, temporal: Client, sends: readonly IdemSend[], mainKey: string): Promise<CheckRow> {
  const keys = [...new Set(sends.map((s) => s.key))];
  const problems: string[] = [];
  const unaccepted: string[] = [];
  let accepted = 0;
  let replays = 0;
  for (const key of keys) {
    const mine = sends.filter((s) => s.key === key);
    const ok = mine.filter((s) => s.status >= 200 && s.status < 300);
    accepted += ok.length;
    replays += ok.filter((s) => s.replayed).length;
    const bad = mine.filter((s) => s.status !== 0 && !(s.status >= 200 && s.status < 300) && ![409, 503].includes(s.status));
    if (bad.length) problems.push(`${key}: answered ${bad.map((s) => s.status).join(',')}`);
    const ids = [...new Set(ok.map((s) => s.batchId))];
    // Never accepted (cut off, then 409 while the dead process's pending claim lives): not run twice.
    if (ids.length === 0) {
      unaccepted.push(key);
      continue;
    }
    if (ids.length !== 1) {
      problems.push(`${key}: ${ids.length} batch IDs`);
      continue;
    }
    const batchId = ids[0]!;
    const docs = await db.collection('reconcile_batches').countDocuments({ _id: batchId as never });
    const runs: string[] = [];
    for await (const w of temporal.workflow.list({ query: `WorkflowId = "reconcile:${batchId}"` })) runs.push(w.status.name);
    // One execution chain: continued-as-new runs are links of it, anything else is a second execution.
    const executions = runs.filter((s) => s !== 'CONTINUED_AS_NEW').length;
    if (docs !== 1 || executions !== 1) problems.push(`${key}: ${docs} batch documents, ${executions} executions (${runs.join(',')})`);
  }
  const allBatches = await db.collection('reconcile_batches').countDocuments({});
  if (allBatches > keys.length || allBatches < keys.length - unaccepted.length)
    problems.push(`${allBatches} batches for ${keys.length} keys (${unaccepted.length} never accepted)`);
  return {
    check: 'no idempotent request executed twice',
    ok: problems.length === 0 && keys.includes(mainKey),
    detail:
      `${keys.length} keys (the main reconcile sent ${sends.filter((s) => s.key === mainKey).length}× through different APIs; ` +
      `${keys.length - 1} sent to an API as it was killed, then retried through the others), ${sends.length} sends, ${accepted} accepted ` +
      `(${replays} replayed), ${sends.filter((s) => s.status === 0).length} cut off, ${sends.filter((s) => s.status === 409).length}×409, ` +
      `${sends.filter((s) => s.status === 503).length}×503; never accepted: ${unaccepted.length}${unaccepted.length ? ` (409 until the killed process's pending claim expires)` : ''}; ${allBatches} batches; problems: ${problems.length ? problems.join('; ') : 'none'}`,
  };
}
