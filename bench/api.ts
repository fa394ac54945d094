import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { buildApp } from '../api/app';
import { startTelemetry } from '../infra/telemetry';
import { mintToken } from '../infra/auth-token';
import { loadConfig } from '../infra/config';
import { freePort } from '../infra/dev/servers';
import { createLogger } from '../infra/logger';
import { connectMongo } from '../infra/mongo';
import { createRedis } from '../infra/redis';
import { fmt, startBenchStack, table } from './harness';

// npm run bench:api -- [--seconds 5] [--connections 1]
// (one connection by default: a closed loop, so time per request = 1 / (req/s) exactly;
// autocannon's latency histogram has whole-millisecond resolution.)
// autocannon on loopback against one app: a bare route (GET /health) as the baseline, the
// tenant status read (auth + rate limits + one MongoDB point read), and a replayed POST
// (auth + validation + rate limits + Idempotency-Key lookup in Redis); OpenTelemetry spans and
// HTTP metrics on, as in production.

const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '1' } },
});
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);
const bench = await startBenchStack(say);
const config = loadConfig({
  ...bench.env,
  LOG_LEVEL: 'silent',
  TEMPORAL_ENABLED: 'false',
  RATE_LIMIT_PER_SUBJECT: '10000000',
  RATE_LIMIT_PER_TENANT: '10000000',
});
const log = createLogger({ name: 'bench', level: 'silent' });
const mongo = await connectMongo(config, log);
const redis = createRedis(config, log);
// Telemetry as in api/server.ts: every request gets its server span and its HTTP metrics.
const telemetry = await startTelemetry({ serviceName: 'bench-api' });
const app = await buildApp({ config, log, mongo, redis, telemetry });
const port = await freePort();
await app.listen({ host: '127.0.0.1', port });
const url = `http://127.0.0.1:${port}`;
const token = await mintToken(config.AUTH_JWT_SECRET, { sub: 'bench', scopes: ['admin'], tenants: '*', ttlSeconds: 3600 });
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const tenantBody = JSON.stringify({
  tenantId: 'bench-api',
  name: 'Bench',
  source: { kind: 'http', settings: { baseUrl: 'http://127.0.0.1:9/x' } },
  collections: [{ name: 'users', essential: true }],
});
const first = await fetch(`${url}/api/tenants`, {
  method: 'POST',
  headers: { ...auth, 'idempotency-key': 'bench-replay' },
  body: tenantBody,
});
if (first.status !== 201 && first.status !== 200) throw new Error(`setup POST failed: ${first.status}`);

const cases = [
  { name: 'GET /health (bare baseline)', opts: { method: 'GET' as const, path: '/health' } },
  { name: 'GET /api/sync/tenants/:id/status', opts: { method: 'GET' as const, path: '/api/sync/tenants/bench-api/status', headers: auth } },
  {
    name: 'POST /api/tenants replayed (Idempotency-Key)',
    opts: { method: 'POST' as const, path: '/api/tenants', headers: { ...auth, 'idempotency-key': 'bench-replay' }, body: tenantBody },
  },
];
const rows: Array<Record<string, string | number>> = [];
const p50: number[] = [];
for (const c of cases) {
  say(c.name);
  const probe = await fetch(`${url}${c.opts.path}`, {
    method: c.opts.method,
    headers: 'headers' in c.opts ? c.opts.headers : {},
    body: 'body' in c.opts ? c.opts.body : undefined,
  });
  if (probe.status >= 300) throw new Error(`${c.name}: ${probe.status} ${await probe.text()}`);
  const { path: p, ...opts } = c.opts;
  const r = await autocannon({ url: `${url}${p}`, connections: Number(args.connections), duration: Number(args.seconds), ...opts });
  const bad = r.non2xx + r.errors;
  if (bad > 0) say(`status codes: ${JSON.stringify(r.statusCodeStats)} errors ${r.errors} timeouts ${r.timeouts}`);
  p50.push(1000 / r.requests.average);
  rows.push({
    case: c.name,
    'req/s': Math.round(r.requests.average),
    'ms/request': fmt(1000 / r.requests.average, 3),
    'p50 ms': fmt(r.latency.p50, 2),
    'p99 ms': fmt(r.latency.p99, 2),
    'non-2xx/errors': bad,
  });
}
process.stdout.write(
  `\n${table(rows)}\n\nreplayed POST − bare route = ${fmt(p50[2]! - p50[0]!, 3)} ms per request (target: ≤ 1.5 ms added at p50); ${args.connections} connections × ${args.seconds} s each\n`,
);
await app.close();
await Promise.allSettled([mongo.close(), redis.quit(), telemetry.shutdown()]);
await bench.close();
process.exit(0);
