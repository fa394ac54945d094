import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { changeRoutes, generateClient, writeClient, type ClientFile } from '../fixtures/clients';
import { createClientStore } from '../activities/client-upsert/store';
import { startClientUpsert } from '../activities/client-upsert/start';
import { loadConfig } from '../infra/config';
import { createLogger } from '../infra/logger';
import { connectMongo } from '../infra/mongo';
import { ClientSteps, type UpsertAllResult } from '../shared/client-upsert';
import { benchStops, fmt, startBenchStack, startWorkerProcess, table } from './harness';

// npm run bench:clients -- [--clients 100] [--routes 150] [--concurrency 8] [--change 0.01]
// Its own embedded stack and a real worker process. Client sets of the same shape, each fresh:
// a warm-up set, the first upsert one client at a time (the seed's way), the same first upsert
// in parallel, a no-op re-run (warm, and after a worker restart), and a re-run with a fraction
// of the routes changed.

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '100' },
    routes: { type: 'string', default: '150' },
    concurrency: { type: 'string', default: '8' },
    change: { type: 'string', default: '0.01' },
  },
});
const CLIENTS = Number(args.clients);
const ROUTES = Number(args.routes);
const CONCURRENCY = Number(args.concurrency);
const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);

const dir = mkdtempSync(path.join(tmpdir(), 'bench-clients-'));
benchStops(say).add('the clients dir', () => rmSync(dir, { recursive: true, force: true }));
const bench = await startBenchStack(say);
const env = {
  ...bench.env,
  MONGODB_DB: 'bench_clients',
  TEMPORAL_TASK_QUEUE: 'bench-clients',
  CLIENTS_DIR: dir,
  CLIENT_UPSERT_ON_START: 'false',
};
const config = loadConfig(env);
const mongo = await connectMongo(config, createLogger({ name: 'bench', level: 'silent' }));
const store = createClientStore(mongo.db);
const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
const client = new Client({ connection });

const set = (prefix: string, n: number): ClientFile[] =>
  Array.from({ length: n }, (_, i) => generateClient(`${prefix}-${String(i).padStart(3, '0')}`, { routes: ROUTES }));
const sets = { warm: set('warm', 5), seq: set('seq', CLIENTS), par: set('par', CLIENTS) };
for (const c of Object.values(sets).flat()) writeClient(dir, c);
say(`wrote ${CLIENTS * 2 + 5} configs of ${ROUTES} routes to ${dir}; starting the worker (bundles the workflows)`);
let worker = await startWorkerProcess(env);

async function run(clients: ClientFile[], concurrency: number): Promise<{ ms: number; res: UpsertAllResult }> {
  const t0 = performance.now();
  const started = await startClientUpsert({
    client,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    keys: clients.map((c) => c.key),
    concurrency,
    trigger: 'bench',
  });
  const res = await started.result();
  return { ms: performance.now() - t0, res };
}

async function stepMeans(clients: ClientFile[]): Promise<string> {
  const states = await store.state.find({ _id: { $in: clients.map((c) => c.key) } }).toArray();
  const results = await store.results.find({ _id: { $in: states.map((s) => s.lastResultId) } }).toArray();
  const mean = (f: (r: (typeof results)[number]) => number) => fmt(results.reduce((s, r) => s + f(r), 0) / Math.max(1, results.length), 0);
  return `${ClientSteps.map((s) => `${s} ${mean((r) => r.steps[s].durationMs)}`).join(', ')}, whole client ${mean((r) => r.durationMs)} ms`;
}

const rows: Array<Record<string, string | number>> = [];
const row = (phase: string, r: { ms: number; res: UpsertAllResult }, routesChanged: number, concurrency: number) =>
  rows.push({
    phase,
    concurrency,
    'time ms': Math.round(r.ms),
    'of which plan ms': r.res.planMs,
    'ms/client': fmt(r.ms / CLIENTS, 1),
    upserted: r.res.upserted + r.res.partial,
    skipped: r.res.unchanged,
    failed: r.res.failed,
    'routes changed': routesChanged,
  });

await run(sets.warm, CONCURRENCY);
say('warm-up done; first upsert one client at a time');
const seq = await run(sets.seq, 1);
row('first upsert, one client at a time (seed)', seq, CLIENTS * ROUTES, 1);
const seqSteps = await stepMeans(sets.seq);
say('first upsert in parallel');
const par = await run(sets.par, CONCURRENCY);
row('first upsert, parallel', par, CLIENTS * ROUTES, CONCURRENCY);
const parSteps = await stepMeans(sets.par);
say('no-op re-run');
const noop = await run(sets.par, CONCURRENCY);
row('no-op re-run', noop, 0, CONCURRENCY);
say('no-op re-run after a worker restart (config files read and hashed again)');
await worker.stop();
worker = await startWorkerProcess(env);
const coldNoop = await run(sets.par, CONCURRENCY);
row('no-op re-run, restarted worker', coldNoop, 0, CONCURRENCY);
const changes = Math.round(CLIENTS * ROUTES * Number(args.change));
const touched = changeRoutes(sets.par, changes);
for (const c of sets.par) if (touched.has(c.key)) writeClient(dir, c);
say(`re-run with ${changes} routes changed in ${touched.size} clients`);
const changed = await run(sets.par, CONCURRENCY);
row(`re-run, ${fmt(Number(args.change) * 100, 0)}% of routes changed`, changed, changes, CONCURRENCY);
const changedSteps = await stepMeans(sets.par.filter((c) => touched.has(c.key)));

const failures = [seq, par, noop, coldNoop, changed].reduce((n, r) => n + r.res.failed + r.res.invalid, 0);
const noopRatio = noop.ms / par.ms;
const speedup = seq.ms / par.ms;
process.stdout.write(
  `\n${CLIENTS} clients × ${ROUTES} routes, embedded stack (Temporal dev server + FerretDB 1.24/SQLite), worker process, ${CONCURRENCY} clients in parallel\n\n${table(rows)}\n\n`,
);
process.stdout.write(
  `no-op re-run = ${fmt(noopRatio * 100, 1)}% of the parallel first upsert (target ≤ 5%): ${noopRatio <= 0.05 ? 'met' : 'MISSED'}; after a worker restart ${fmt((coldNoop.ms / par.ms) * 100, 1)}%\n`,
);
process.stdout.write(
  `parallel first upsert = ${fmt(speedup, 2)}× faster than one at a time (target ≥ 1.5×): ${speedup >= 1.5 ? 'met' : 'MISSED'}\n`,
);
process.stdout.write(
  `changed clients upserted in the ${fmt(Number(args.change) * 100, 0)}% re-run: ${changed.res.upserted + changed.res.partial} of ${touched.size} touched; failures ${failures}\n`,
);
process.stdout.write(`mean step times (ms), first upsert one at a time: ${seqSteps}\n`);
process.stdout.write(`mean step times (ms), first upsert in parallel:   ${parSteps}\n`);
process.stdout.write(`mean step times (ms), changed clients re-run:     ${changedSteps}\n`);

await worker.stop();
await connection.close();
await mongo.close();
await bench.close();
rmSync(dir, { recursive: true, force: true });
process.exit(failures > 0 || changed.res.upserted + changed.res.partial !== touched.size ? 1 : 0);
