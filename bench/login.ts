import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../api/app';
import { mintToken } from '../infra/auth-token';
import { loadConfig, type AppConfig } from '../infra/config';
import { freePort } from '../infra/dev/servers';
import { createLogger } from '../infra/logger';
import { connectMongo } from '../infra/mongo';
import { createRedis } from '../infra/redis';
import { keyringFromConfig } from '../infra/secrets';
import { createTemporalClient } from '../infra/temporal';
import { startTelemetry } from '../infra/telemetry';
import { createTenantRepository } from '../activities/tenant-sync/registry';
import { startFixtureUpstream } from '../fixtures/upstream/server';
import { fmt, percentile, startBenchStack, startWorkerProcess, table } from './harness';

// npm run bench:login -- [--logins 200] [--cold 5] [--records 2000]
// One tenant shape (3 essential collections × N records): warm incremental logins through
// Temporal and through direct, cold first syncs of fresh tenants, and the fallback latency
// with Temporal down before and after the circuit breaker opens. Real HTTP on loopback.

const { values: args } = parseArgs({
  options: {
    logins: { type: 'string', default: '200' },
    cold: { type: 'string', default: '5' },
    records: { type: 'string', default: '2000' },
  },
});
const LOGINS = Number(args.logins);
const COLD = Number(args.cold);
const RECORDS = Number(args.records);
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
});
const log = createLogger({ name: 'bench', level: 'silent' });
// As in api/server.ts: request spans, trace headers on every Temporal call, HTTP and sync metrics.
const telemetry = await startTelemetry({ serviceName: 'bench-api' });
const mongo = await connectMongo(base, log);
const redis = createRedis(base, log);
const temporal = createTemporalClient(base);
const repo = createTenantRepository(mongo.db, keyringFromConfig(base));
const token = await mintToken(base.AUTH_JWT_SECRET, { sub: 'bench', scopes: ['sync:write'], tenants: '*', ttlSeconds: 3600 });

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
  body: { syncMethod: string; fallbackUsed: boolean; fallbackReason?: string; essentialReady: boolean };
}
async function login(url: string, tenantId: string): Promise<Login> {
  const t0 = performance.now();
  const res = await fetch(`${url}/api/sync/tenants/${tenantId}/ensure`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as Login['body'];
  const ms = performance.now() - t0;
  if (res.status !== 200 || !body.essentialReady) throw new Error(`login failed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  return { ms, body };
}

const viaTemporal = await serve({ USE_TEMPORAL_FOR_AUTH: true });
const viaDirect = await serve({ USE_TEMPORAL_FOR_AUTH: false });
const rows: Array<Record<string, string | number>> = [];
const summarize = (name: string, ms: number[], note = '') => {
  rows.push({
    case: name,
    n: ms.length,
    'p50 ms': fmt(percentile(ms, 50)),
    'p95 ms': fmt(percentile(ms, 95)),
    'p99 ms': fmt(percentile(ms, 99)),
    note,
  });
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
};

// Cold: a first full sync of fresh tenants (3 × RECORDS records each), per method.
say(`cold first syncs: ${COLD} tenants per method × 3 × ${RECORDS} records`);
const coldT: number[] = [];
const coldD: number[] = [];
for (let i = 0; i < COLD; i++) {
  coldT.push((await login(viaTemporal.url, await tenant(`cold-t-${i}`))).ms);
  coldD.push((await login(viaDirect.url, await tenant(`cold-d-${i}`))).ms);
}

// Warm: the same tenant, incremental (nothing changed), alternating methods.
const shared = await tenant('warm');
await login(viaDirect.url, shared);
for (let i = 0; i < 20; i++) {
  await login(viaTemporal.url, shared);
  await login(viaDirect.url, shared);
}
say(`warm incremental logins: ${LOGINS} per method, alternating`);
const warmT: number[] = [];
const warmD: number[] = [];
for (let i = 0; i < LOGINS; i++) {
  const t = await login(viaTemporal.url, shared);
  if (t.body.syncMethod !== 'temporal') throw new Error(`expected temporal, got ${JSON.stringify(t.body)}`);
  warmT.push(t.ms);
  warmD.push((await login(viaDirect.url, shared)).ms);
}

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

const ct = summarize('cold first sync · temporal', coldT, `3 × ${RECORDS} records`);
const cd = summarize('cold first sync · direct', coldD, `3 × ${RECORDS} records`);
const wt = summarize('warm incremental · temporal', warmT);
const wd = summarize('warm incremental · direct', warmD);
const da = summarize('warm incremental · direct, alone', directAlone, 'baseline for the fallback rows');
const fb = summarize('Temporal down · before breaker opens', before, 'timeout 1000 ms');
const fa = summarize('Temporal down · breaker open', after, [...reasons].join(','));
process.stdout.write(`\n${table(rows)}\n\n`);
process.stdout.write(
  `warm: temporal p50 / direct p50 = ${fmt(wt.p50 / wd.p50, 2)} (target ≤ 1.15); temporal p99 overhead = ${fmt(wt.p99 - wd.p99)} ms (target ≤ 60)\n`,
);
process.stdout.write(`cold: temporal p50 / direct p50 = ${fmt(ct.p50 / cd.p50, 2)}\n`);
process.stdout.write(
  `breaker open: fallback p50 − direct p50 (alone) = ${fmt(fa.p50 - da.p50)} ms (target ≤ 5); before it opened p50 ${fmt(fb.p50)} ms\n`,
);
process.stdout.write(`worker peak RSS ${fmt(worker.peakRssMb(), 0)} MB\n`);

await Promise.allSettled([viaTemporal.app.close(), viaDirect.app.close(), viaDead.app.close()]);
await upstream.close();
await worker.stop();
await Promise.allSettled([mongo.close(), redis.quit(), temporal.close(), telemetry.shutdown()]);
await bench.close();
process.exit(0);
