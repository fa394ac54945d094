import { createWriteStream, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { MongoClient } from 'mongodb';
import { buildApp } from '../api/app';
import { mintToken } from '../infra/auth-token';
import { loadConfig, type AppConfig } from '../infra/config';
import { freePort } from '../infra/dev/servers';
import { promSum } from '../infra/dev/prom-text';
import { MetricNames } from '../infra/metrics';
import { createLogger } from '../infra/logger';
import { connectMongo, type Mongo } from '../infra/mongo';
import { tenantDbName } from '../infra/tenant-db-name';
import { createRedis } from '../infra/redis';
import { keyringFromConfig } from '../infra/secrets';
import { createTemporalClient } from '../infra/temporal';
import { startTelemetry } from '../infra/telemetry';
import { createTenantRepository } from '../activities/tenant-sync/registry';
import { startFixtureUpstream } from '../fixtures/upstream/server';
import { benchStops, fmt, percentile, startBenchStack, startWorkerProcess, table } from './harness';

// npm run bench:login -- [--logins 200] [--cold 5] [--records 2000] [--cache on|off|both]
// One tenant shape (3 essential collections × N records): warm incremental logins through
// Temporal and through direct, cold first syncs of fresh tenants, and the fallback latency
// with Temporal down before and after the circuit breaker opens. Real HTTP on loopback.
// The outage case (--outage-logins 0 skips it): OUTAGE_LOGINS logins over OUTAGE_TENANTS tenants
// at a fixed concurrency through Temporal (TEMPORAL_AUTH_TIMEOUT_MS --outage-timeout-ms), with
// the Temporal server frozen by SIGSTOP for --freeze-s in the middle, then SIGCONT: latency of the
// logins started during the freeze, how many waited the whole timeout, the fallback reasons, and
// how long after the freeze the breaker answered its first circuit_open.
// No worker polling: logins of an app whose login task queue nobody polls (fallbackReason
// no_worker, answered direct at once) interleaved with flag-off direct logins (target < 50 ms).
// The outage case prints the hedge delay the storm's app used (sync_hedge_delay_seconds from its
// GET /health/metrics; the apps share one meter, and only that app logs in during the storm).
// --cache (default both): the warm rows and a "repeat login inside the freshness window" row
// per cache setting, interleaved login by login; MongoDB commands per login are counted from
// the API's driver command events (the worker's own client is not counted), and the hit rate
// from GET /api/cache/stats. Cold and fallback rows run once, cache on unless --cache off.
// --log FILE: the apps log at info level to FILE (silent otherwise); --outage-json FILE: every
// outage login (start, duration, method, reason, the server's durationMs) as a JSON array.

const { values: args } = parseArgs({
  options: {
    logins: { type: 'string', default: '200' },
    cold: { type: 'string', default: '5' },
    records: { type: 'string', default: '2000' },
    cache: { type: 'string', default: 'both' },
    // The outage case: logins at a concurrency while the Temporal server is frozen (SIGSTOP).
    'outage-logins': { type: 'string', default: '400' },
    'outage-concurrency': { type: 'string', default: '20' },
    'outage-tenants': { type: 'string', default: '20' },
    'freeze-s': { type: 'string', default: '15' },
    'outage-timeout-ms': { type: 'string', default: '2000' },
    // Diagnosis: the apps' log lines (info) to this file; each outage login as JSON to that one.
    log: { type: 'string' },
    'outage-json': { type: 'string' },
  },
});
if (!['on', 'off', 'both'].includes(args.cache)) throw new Error(`--cache must be on, off or both (got ${args.cache})`);
const CACHE_MODES: Array<'on' | 'off'> = args.cache === 'both' ? ['on', 'off'] : [args.cache as 'on' | 'off'];
const LOGINS = Number(args.logins);
const COLD = Number(args.cold);
const RECORDS = Number(args.records);
const OUTAGE_LOGINS = Number(args['outage-logins']);
const OUTAGE_CONCURRENCY = Number(args['outage-concurrency']);
const OUTAGE_TENANTS = Number(args['outage-tenants']);
const FREEZE_MS = Number(args['freeze-s']) * 1000;
const OUTAGE_TIMEOUT_MS = Number(args['outage-timeout-ms']);
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);

const bench = await startBenchStack(say);
const worker = await startWorkerProcess(bench.env);
const upstream = await startFixtureUpstream();
const base = loadConfig({
  ...bench.env,
  LOG_LEVEL: 'silent',
  SYNC_FRESHNESS_MS: '0',
  TEMPORAL_AUTH_TIMEOUT_MS: '5000',
  RATE_LIMIT_PER_SUBJECT: '10000000',
  RATE_LIMIT_PER_TENANT: '10000000',
  // One tenant takes every warm login of every app here (thousands a minute): the per-tenant
  // ensure quota, shared through Redis, would refuse them.
  QUOTA_ENSURE_PER_MINUTE: '1000000',
});
const log = args.log
  ? createLogger({ name: 'bench', level: 'info', destination: createWriteStream(args.log) })
  : createLogger({ name: 'bench', level: 'silent' });
// As in api/server.ts: request spans, trace headers on every Temporal call, HTTP and sync metrics.
const telemetry = await startTelemetry({ serviceName: 'bench-api' });
// Indexes as the API makes them; then the apps' own client, with command monitoring on.
await (await connectMongo(base, log)).close();
const client = new MongoClient(base.MONGODB_URI, { monitorCommands: true, maxPoolSize: 50, appName: 'bench-login' });
await client.connect();
let mongoCommands = 0;
/** Commands by name and collection (e.g. `find leases`): how many, and their round-trip milliseconds. */
interface CommandTally {
  kinds: Map<string, number>;
  kindMs: Map<string, number>;
}
/** While set, each command the API sends is tallied into it. */
let tally: CommandTally | undefined;
const pending = new Map<number, { key: string; into: CommandTally }>();
client.on('commandStarted', (ev) => {
  mongoCommands++;
  if (!tally) return;
  const target: unknown = (ev.command as Record<string, unknown>)[ev.commandName];
  const key = typeof target === 'string' ? `${ev.commandName} ${target}` : ev.commandName;
  tally.kinds.set(key, (tally.kinds.get(key) ?? 0) + 1);
  pending.set(ev.requestId, { key, into: tally });
});
const tallied = (ev: { requestId: number; duration: number }) => {
  const p = pending.get(ev.requestId);
  if (!p) return;
  pending.delete(ev.requestId);
  p.into.kindMs.set(p.key, (p.into.kindMs.get(p.key) ?? 0) + ev.duration);
};
client.on('commandSucceeded', tallied);
client.on('commandFailed', tallied);
const mongo: Mongo = {
  client,
  db: client.db(base.MONGODB_DB),
  tenantDb: (tenantId) => client.db(tenantDbName(tenantId)),
  close: () => client.close(),
};
const redis = createRedis(base, log);
const temporal = createTemporalClient(base);
const repo = createTenantRepository(mongo.db, keyringFromConfig(base));
const token = await mintToken(base.AUTH_JWT_SECRET, { sub: 'bench', scopes: ['sync:write', 'ops:read'], tenants: '*', ttlSeconds: 3600 });

async function tenant(id: string): Promise<string> {
  upstream.seedTenant(id, { collections: { users: RECORDS, roles: RECORDS, settings: RECORDS } });
  await repo.upsert({
    tenantId: id,
    name: id,
    source: { kind: 'http', settings: { baseUrl: upstream.baseUrl(id) } },
    collections: ['users', 'roles', 'settings'].map((name) => ({ name, essential: true })),
  });
  return id;
}

async function serve(
  overrides: Partial<AppConfig>,
  deps: Partial<Parameters<typeof buildApp>[0]> = {},
): Promise<{ app: FastifyInstance; url: string }> {
  const app = await buildApp({ config: { ...base, ...overrides }, log, mongo, redis, temporal, telemetry, ...deps });
  const port = await freePort();
  await app.listen({ host: '127.0.0.1', port });
  return { app, url: `http://127.0.0.1:${port}` };
}

interface Login {
  ms: number;
  /** MongoDB commands the API sent while this login ran. */
  commands: number;
  body: {
    correlationId: string;
    syncMethod: string;
    fallbackUsed: boolean;
    fallbackReason?: string;
    essentialReady: boolean;
    durationMs: number;
  };
}
async function login(url: string, tenantId: string): Promise<Login> {
  const c0 = mongoCommands;
  const t0 = performance.now();
  const res = await fetch(`${url}/api/sync/tenants/${tenantId}/ensure`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as Login['body'];
  const ms = performance.now() - t0;
  if (res.status !== 200 || !body.essentialReady) throw new Error(`login failed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  return { ms, commands: mongoCommands - c0, body };
}

interface CacheCounts {
  hits: number;
  reads: number;
}
/** The app's cache reads so far, over both namespaces (GET /api/cache/stats). */
async function cacheCounts(url: string): Promise<CacheCounts> {
  const res = await fetch(`${url}/api/cache/stats`, { headers: { authorization: `Bearer ${token}` } });
  const s = (await res.json()) as { namespaces: Record<string, { hits: number; misses: number; bypassed: number }> };
  const all = Object.values(s.namespaces);
  return { hits: all.reduce((n, x) => n + x.hits, 0), reads: all.reduce((n, x) => n + x.hits + x.misses + x.bypassed, 0) };
}
const hitRate = (before: CacheCounts, after: CacheCounts) => {
  const reads = after.reads - before.reads;
  return reads === 0 ? '–' : `${fmt((100 * (after.hits - before.hits)) / reads, 1)} %`;
};

const primary = CACHE_MODES[0]!;
const cacheOn = (mode: 'on' | 'off') => ({ CACHE_ENABLED: mode === 'on' });
interface ModeApps {
  temporal: { app: FastifyInstance; url: string };
  direct: { app: FastifyInstance; url: string };
  /** Direct, with a freshness window: a repeat login answers from the last sync's status. */
  fresh: { app: FastifyInstance; url: string };
}
const apps = new Map<'on' | 'off', ModeApps>();
for (const mode of CACHE_MODES)
  apps.set(mode, {
    temporal: await serve({ USE_TEMPORAL_FOR_AUTH: true, ...cacheOn(mode) }),
    direct: await serve({ USE_TEMPORAL_FOR_AUTH: false, ...cacheOn(mode) }),
    fresh: await serve({ USE_TEMPORAL_FOR_AUTH: false, SYNC_FRESHNESS_MS: 3_600_000, ...cacheOn(mode) }),
  });
const viaTemporal = apps.get(primary)!.temporal;
const viaDirect = apps.get(primary)!.direct;
const rows: Array<Record<string, string | number>> = [];
const summarize = (name: string, ms: number[], note = '', extra: { commands?: number[]; hitRate?: string } = {}) => {
  const cmds = extra.commands ?? [];
  rows.push({
    case: name,
    n: ms.length,
    'p50 ms': fmt(percentile(ms, 50)),
    'p95 ms': fmt(percentile(ms, 95)),
    'p99 ms': fmt(percentile(ms, 99)),
    'mongo cmds/login': cmds.length ? fmt(cmds.reduce((a, b) => a + b, 0) / cmds.length, 1) : '–',
    'hit rate': extra.hitRate ?? '–',
    note,
  });
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
};

// Cold: a first full sync of fresh tenants (3 × RECORDS records each; nothing of them cached),
// per method and cache setting, interleaved with the order rotated by one each round (as the warm
// rows below): a fixed order gave each pair the same predecessor, whose workflow was still
// finishing its rest when the next login came.
say(`cold first syncs: ${COLD} tenants per method and cache setting × 3 × ${RECORDS} records`);
const cold = new Map(CACHE_MODES.map((m) => [m, { temporal: [] as number[], direct: [] as number[] }]));
const coldTurns = [...apps].flatMap(([mode, a]) => (['temporal', 'direct'] as const).map((k) => ({ mode, k, url: a[k].url })));
for (let i = 0; i < COLD; i++)
  for (let j = 0; j < coldTurns.length; j++) {
    const { mode, k, url } = coldTurns[(i + j) % coldTurns.length]!;
    cold.get(mode)![k].push((await login(url, await tenant(`cold-${mode}-${k[0]}-${i}`))).ms);
  }
const coldT = cold.get(primary)!.temporal;
const coldD = cold.get(primary)!.direct;

// Warm: the same tenant, incremental (nothing changed), alternating methods and cache settings.
const shared = await tenant('warm');
// Its own tenant: the others' syncs of `shared` invalidate that one's status on every login.
const repeat = await tenant('repeat');
await login(viaDirect.url, shared);
for (let i = 0; i < 20; i++)
  for (const a of apps.values()) {
    await login(a.temporal.url, shared);
    await login(a.direct.url, shared);
    await login(a.fresh.url, repeat);
  }
say(`warm incremental logins: ${LOGINS} per method and cache setting (${CACHE_MODES.join(', ')}), interleaved`);
interface Series extends CommandTally {
  ms: number[];
  commands: number[];
  /** Answers that came from a sync an earlier login had started (its correlationId seen before): not a sync of their own. */
  joined: number;
  /** Latencies of the other answers: logins that ran a sync of their own. */
  ownMs: number[];
  before?: CacheCounts;
}
const series = (): Series => ({ ms: [], commands: [], joined: 0, ownMs: [], kinds: new Map(), kindMs: new Map() });
/** The runs that answered a warm login so far (correlationId), whichever series it was. */
const answeredBy = new Set<string>();
const warm = new Map(CACHE_MODES.map((m) => [m, { temporal: series(), direct: series(), fresh: series() }]));
for (const [mode, a] of apps)
  for (const k of ['temporal', 'direct', 'fresh'] as const) warm.get(mode)![k].before = await cacheCounts(a[k].url);
const add = (s: Series, l: Login) => {
  s.ms.push(l.ms);
  s.commands.push(l.commands);
  if (answeredBy.has(l.body.correlationId)) s.joined++;
  else s.ownMs.push(l.ms);
  answeredBy.add(l.body.correlationId);
};
// Every (cache setting, method) pair in turn, the order rotated by one each round: each pair
// follows each other pair equally often, so what a login leaves behind (the workflow finishing,
// invalidations) weighs on all of them alike.
const turns = [...apps].flatMap(([mode, a]) => (['temporal', 'direct', 'fresh'] as const).map((k) => ({ mode, k, url: a[k].url })));
for (let i = 0; i < LOGINS; i++)
  for (let j = 0; j < turns.length; j++) {
    const { mode, k, url } = turns[(i + j) % turns.length]!;
    tally = warm.get(mode)![k];
    const l = await login(url, k === 'fresh' ? repeat : shared);
    tally = undefined;
    if (k === 'temporal' && l.body.syncMethod !== 'temporal') throw new Error(`expected temporal, got ${JSON.stringify(l.body)}`);
    add(warm.get(mode)![k], l);
  }
const warmRows = new Map<string, { p50: number; p99: number }>();
for (const [mode, a] of apps) {
  const w = warm.get(mode)!;
  for (const k of ['temporal', 'direct', 'fresh'] as const) {
    const name = k === 'fresh' ? 'repeat login in freshness window · direct' : `warm incremental · ${k}`;
    const notes = {
      temporal: ['worker-side reads not counted', `${w[k].joined} answered by a sync already under way`],
      direct: [`${w[k].joined} answered by a sync already under way`],
      fresh: ['SYNC_FRESHNESS_MS=3600000'],
    };
    const note = notes[k].join('; ');
    const hr = mode === 'on' ? hitRate(w[k].before!, await cacheCounts(a[k].url)) : '–';
    warmRows.set(`${k}:${mode}`, summarize(`${name} · cache ${mode}`, w[k].ms, note, { commands: w[k].commands, hitRate: hr }));
  }
}
const warmT = warm.get(primary)!.temporal.ms;
const warmD = warm.get(primary)!.direct.ms;

// Direct alone, right before the fallback series, as its baseline (no workflow work in flight).
const directAlone: number[] = [];
for (let i = 0; i < Math.min(LOGINS, 100); i++) directAlone.push((await login(viaDirect.url, shared)).ms);

// Temporal down: an unreachable address; the breaker opens after its configured failures.
const deadClient = createTemporalClient({ TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`, TEMPORAL_NAMESPACE: 'default' });
const failures = 5;
const viaDead = await serve(
  { USE_TEMPORAL_FOR_AUTH: true, TEMPORAL_AUTH_TIMEOUT_MS: 1000, TEMPORAL_BREAKER_FAILURES: failures, TEMPORAL_BREAKER_RESET_MS: 600_000 },
  { temporal: deadClient },
);
say('fallback with Temporal down');
const before: number[] = [];
for (let i = 0; i < failures; i++) before.push((await login(viaDead.url, shared)).ms);
const after: number[] = [];
const reasons = new Set<string>();
for (let i = 0; i < Math.min(LOGINS, 100); i++) {
  const r = await login(viaDead.url, shared);
  reasons.add(r.body.fallbackReason ?? 'none');
  after.push(r.ms);
}

// No worker polls this app's login task queue: every login goes direct at once (no_worker).
say('no worker polling: no_worker logins interleaved with flag-off direct ones');
const viaNoWorker = await serve({ USE_TEMPORAL_FOR_AUTH: true, TEMPORAL_TASK_QUEUE: 'bench-login-nobody-polls' });
for (let i = 0; i < 3; i++) await login(viaNoWorker.url, shared); // the first describe waits ≤ 200 ms
const noWorker: number[] = [];
const noWorkerDirect: number[] = [];
for (let i = 0; i < Math.min(LOGINS, 100); i++) {
  const r = await login(viaNoWorker.url, shared);
  if (r.body.fallbackReason !== 'no_worker') throw new Error(`expected no_worker, got ${JSON.stringify(r.body)}`);
  noWorker.push(r.ms);
  noWorkerDirect.push((await login(viaDirect.url, shared)).ms);
}

/** The hedge delay an app's last Temporal login used, from its metrics (ms; undefined: not seen). */
async function hedgeDelayMs(url: string): Promise<number | undefined> {
  const seconds = promSum(await (await fetch(`${url}/health/metrics`)).text(), MetricNames.syncHedgeDelay);
  return seconds === undefined ? undefined : 1000 * seconds;
}
const hedgeText = (ms: number | undefined) => (ms === undefined ? 'not reported' : ms === 0 ? 'no hedge' : `${fmt(ms, 0)} ms`);

// ---- outage: Temporal frozen under a login storm ----
interface OutageLogin {
  at: number;
  ms: number;
  method: string;
  reason: string;
  /** The server's own durationMs for this login. */
  serverMs: number;
}
const outage: OutageLogin[] = [];
let freezeAt = Number.NaN;
let thawAt = Number.NaN;
let hedgeAtFreeze: number | undefined;
let hedgeAfter: number | undefined;
if (OUTAGE_LOGINS > 0) {
  const temporalServer = bench.stack.servers.find((srv) => srv.name === 'temporal');
  if (!temporalServer?.process.pid) throw new Error('no Temporal server process to freeze');
  const pid = temporalServer.process.pid;
  const outageTenants: string[] = [];
  for (let i = 0; i < OUTAGE_TENANTS; i++) outageTenants.push(await tenant(`outage-${i}`));
  const viaOutage = await serve({ USE_TEMPORAL_FOR_AUTH: true, TEMPORAL_AUTH_TIMEOUT_MS: OUTAGE_TIMEOUT_MS });
  for (const t of outageTenants) await login(viaOutage.url, t); // first syncs before the storm
  say(
    `outage: ${OUTAGE_LOGINS} logins over ${OUTAGE_TENANTS} tenants at concurrency ${OUTAGE_CONCURRENCY}, Temporal frozen for ${FREEZE_MS / 1000} s in the middle (timeout ${OUTAGE_TIMEOUT_MS} ms)`,
  );
  let next = 0;
  const t0 = performance.now();
  const thawed = (async () => {
    // Freeze once a third of the logins have started, for FREEZE_MS; always thawed.
    while (next < OUTAGE_LOGINS / 3) await new Promise((r) => setTimeout(r, 20));
    hedgeAtFreeze = await hedgeDelayMs(viaOutage.url);
    freezeAt = performance.now() - t0;
    process.kill(pid, 'SIGSTOP');
    try {
      await new Promise((r) => setTimeout(r, FREEZE_MS));
    } finally {
      process.kill(pid, 'SIGCONT');
      thawAt = performance.now() - t0;
    }
  })();
  const stopAll = () => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  };
  process.once('exit', stopAll);
  // Interrupted during the freeze: thawed before the stack is stopped (a frozen server ignores SIGTERM).
  const dropThaw = benchStops(say).add('thawing the frozen Temporal server', stopAll);
  void thawed.then(dropThaw, dropThaw);
  await Promise.all(
    Array.from({ length: OUTAGE_CONCURRENCY }, async () => {
      // At least OUTAGE_LOGINS in all, and the storm goes on through the freeze and for a third of
      // them after the thaw, so every phase has logins.
      const afterThaw = () => outage.filter((l) => l.at >= thawAt).length;
      for (let i = next++; i < OUTAGE_LOGINS || Number.isNaN(thawAt) || afterThaw() < OUTAGE_LOGINS / 3; i = next++) {
        const at = performance.now() - t0;
        const r = await login(viaOutage.url, outageTenants[i % outageTenants.length]!);
        outage.push({ at, ms: r.ms, method: r.body.syncMethod, reason: r.body.fallbackReason ?? 'none', serverMs: r.body.durationMs });
      }
    }),
  );
  await thawed;
  hedgeAfter = await hedgeDelayMs(viaOutage.url);
  if (args['outage-json']) writeFileSync(args['outage-json'], JSON.stringify({ freezeAt, thawAt, logins: outage }, null, 1));
  await viaOutage.app.close();
}

const ct = summarize(`cold first sync · temporal · cache ${primary}`, coldT, `3 × ${RECORDS} records`);
const cd = summarize(`cold first sync · direct · cache ${primary}`, coldD, `3 × ${RECORDS} records`);
for (const [mode, c] of cold)
  if (mode !== primary) {
    summarize(`cold first sync · temporal · cache ${mode}`, c.temporal, `3 × ${RECORDS} records`);
    summarize(`cold first sync · direct · cache ${mode}`, c.direct, `3 × ${RECORDS} records`);
  }
const wt = { p50: percentile(warmT, 50), p99: percentile(warmT, 99) };
const wd = { p50: percentile(warmD, 50), p99: percentile(warmD, 99) };
const da = summarize('warm incremental · direct, alone', directAlone, 'baseline for the fallback rows');
const fb = summarize('Temporal down · before breaker opens', before, 'timeout 1000 ms');
const fa = summarize('Temporal down · breaker open', after, [...reasons].join(','));
const nw = summarize('no worker polling · direct (no_worker)', noWorker, 'TEMPORAL_TASK_QUEUE nobody polls');
const nwd = summarize('warm incremental · direct, beside no_worker', noWorkerDirect, 'interleaved with the row above');
process.stdout.write(`\n${table(rows)}\n\n`);
process.stdout.write(
  `warm: temporal p50 / direct p50 = ${fmt(wt.p50 / wd.p50, 2)} (target ≤ 1.15); temporal p99 overhead = ${fmt(wt.p99 - wd.p99)} ms (target ≤ 60)\n`,
);
{
  // A warm Temporal login often arrives while the previous login's run is still recording itself,
  // and that run answers it: the ratio above then compares joins with syncs. Only the logins that
  // ran a sync of their own, per method:
  const own = warm.get(primary)!;
  const p50 = (xs: number[]) => (xs.length ? fmt(percentile(xs, 50)) : '–');
  process.stdout.write(
    `warm, logins with a sync of their own: temporal p50 ${p50(own.temporal.ownMs)} ms (n ${own.temporal.ownMs.length}), direct p50 ${p50(own.direct.ownMs)} ms (n ${own.direct.ownMs.length})\n`,
  );
}
process.stdout.write(`cold: temporal p50 / direct p50 = ${fmt(ct.p50 / cd.p50, 2)}\n`);
if (cold.has('on') && cold.has('off'))
  for (const k of ['temporal', 'direct'] as const)
    process.stdout.write(
      `cold ${k}: p50 cache on ${fmt(percentile(cold.get('on')![k], 50))} ms vs off ${fmt(percentile(cold.get('off')![k], 50))} ms (target: no slower)\n`,
    );
process.stdout.write(
  `breaker open: fallback p50 − direct p50 (alone) = ${fmt(fa.p50 - da.p50)} ms (target ≤ 5); before it opened p50 ${fmt(fb.p50)} ms\n`,
);
process.stdout.write(
  `no worker polling: no_worker p50 ${fmt(nw.p50)} ms (target < 50), flag-off direct p50 ${fmt(nwd.p50)} ms beside it\n`,
);
if (CACHE_MODES.length === 2) {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  for (const k of ['temporal', 'direct', 'fresh'] as const) {
    const on = warm.get('on')![k];
    const off = warm.get('off')![k];
    process.stdout.write(
      `cache ${k}: mongo cmds/login on ${fmt(mean(on.commands), 1)} vs off ${fmt(mean(off.commands), 1)} (target ≤ half); ` +
        `p50 on ${fmt(warmRows.get(`${k}:on`)!.p50)} ms vs off ${fmt(warmRows.get(`${k}:off`)!.p50)} ms (target: lower)\n`,
    );
  }
}
// Where the commands go: per login, by command and collection, for each warm series, with each
// kind's mean round trip (on loopback: mostly the server's time).
for (const [mode, w] of warm)
  for (const k of ['temporal', 'direct', 'fresh'] as const) {
    const s = w[k];
    const parts = [...s.kinds]
      .sort((a, b) => b[1] - a[1])
      .map(([kind, n]) => `${kind} ${fmt(n / Math.max(1, s.ms.length), 2)} (${fmt((s.kindMs.get(kind) ?? 0) / Math.max(1, n), 2)} ms)`);
    process.stdout.write(`mongo cmds/login ${k} · cache ${mode}: ${parts.join(', ') || 'none'}\n`);
  }
if (outage.length) {
  const during = outage.filter((l) => l.at >= freezeAt && l.at < thawAt);
  const ms = (xs: OutageLogin[]) => xs.map((l) => l.ms);
  const reasonsOf = (xs: OutageLogin[]) => {
    const n = new Map<string, number>();
    for (const l of xs) n.set(`${l.method}/${l.reason}`, (n.get(`${l.method}/${l.reason}`) ?? 0) + 1);
    return [...n].map(([k, v]) => `${k} ${v}`).join(', ');
  };
  const firstOpen = outage.filter((l) => l.reason === 'circuit_open' && l.at >= freezeAt).sort((a, b) => a.at - b.at)[0];
  const o = [
    { phase: 'before the freeze', xs: outage.filter((l) => l.at < freezeAt) },
    { phase: `during the freeze (${fmt(FREEZE_MS / 1000, 0)} s)`, xs: during },
    { phase: 'after the thaw', xs: outage.filter((l) => l.at >= thawAt) },
  ].map(({ phase, xs }) => ({
    phase,
    n: xs.length,
    'p50 ms': fmt(percentile(ms(xs), 50)),
    'p99 ms': fmt(percentile(ms(xs), 99)),
    'max ms': fmt(Math.max(...ms(xs))),
    [`≥ timeout (${OUTAGE_TIMEOUT_MS} ms)`]: xs.filter((l) => l.ms >= OUTAGE_TIMEOUT_MS).length,
    'method/reason': reasonsOf(xs),
  }));
  const worst = Math.max(...ms(outage));
  process.stdout.write(
    `\noutage: ${OUTAGE_LOGINS}+ logins, concurrency ${OUTAGE_CONCURRENCY}, ${OUTAGE_TENANTS} tenants; Temporal SIGSTOP at ${fmt(freezeAt / 1000, 1)} s, SIGCONT at ${fmt(thawAt / 1000, 1)} s\n`,
  );
  process.stdout.write(`${table(o)}\n`);
  process.stdout.write(
    `every login within timeout + 500 ms: ${worst <= OUTAGE_TIMEOUT_MS + 500 ? 'yes' : 'NO'} (max ${fmt(worst)} ms); ` +
      `first circuit_open answer ${firstOpen ? `${fmt((firstOpen.at + firstOpen.ms - freezeAt) / 1000, 2)} s after the freeze` : 'never'}\n`,
  );
  process.stdout.write(`hedge delay: at the freeze ${hedgeText(hedgeAtFreeze)}, after the storm ${hedgeText(hedgeAfter)}\n`);
  const duringP99 = percentile(ms(during), 99);
  if (hedgeAtFreeze)
    process.stdout.write(
      `during the freeze: p99 ${fmt(duringP99)} ms vs hedge delay + direct p99 + 50 = ${fmt(hedgeAtFreeze + wd.p99 + 50)} ms (target ≤)\n`,
    );
}
process.stdout.write(`worker peak RSS ${fmt(worker.peakRssMb(), 0)} MB\n`);

await Promise.allSettled([
  ...[...apps.values()].flatMap((a) => [a.temporal.app.close(), a.direct.app.close(), a.fresh.app.close()]),
  viaDead.app.close(),
  viaNoWorker.app.close(),
]);
await upstream.close();
await worker.stop();
await Promise.allSettled([mongo.close(), redis.quit(), temporal.close(), telemetry.shutdown()]);
await bench.close();
process.exit(0);
