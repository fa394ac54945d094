import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { table } from './harness';
import { Resources, runDrill, type DrillOptions } from './drill/run';

// npm run drill -- [--seed N] [--short] [--max-seconds 900] [--json FILE] [--apis 3] [--workers 3]
//   [--records 100000] [--storm-seconds 150] [--concurrency 12] [--rounds 2]
// The chaos drill of issue 18: the embedded stack, API and worker processes, a login storm and a
// 100k-record repairing reconcile, seeded faults; then a table of checks (exit code 1 when one
// fails). --short: the test suite's configuration (2 APIs, 2 workers, 10k records, one fault of
// each kind). It stops by itself within --max-seconds, and on SIGINT/SIGTERM stops every
// process it started. Loopback only.

const { values: a } = parseArgs({
  options: {
    seed: { type: 'string' },
    short: { type: 'boolean', default: false },
    'max-seconds': { type: 'string' },
    json: { type: 'string' },
    apis: { type: 'string' },
    workers: { type: 'string' },
    records: { type: 'string' },
    'storm-seconds': { type: 'string' },
    concurrency: { type: 'string' },
    rounds: { type: 'string' },
  },
});
const num = (v: string | undefined, dflt: number) => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new TypeError(`expected a whole number, got ${v}`);
  return n;
};
const say = (m: string) => process.stderr.write(`[drill] ${new Date().toISOString().slice(11, 19)} ${m}\n`);
const short = a.short;
const options: DrillOptions = {
  seed: num(a.seed, Math.floor(Math.random() * 1_000_000)),
  apis: num(a.apis, short ? 2 : 3),
  workers: num(a.workers, short ? 2 : 3),
  tenants: 20,
  temporalTenants: 15,
  records: num(a.records, short ? 10_000 : 100_000),
  drift: 0.01,
  stormSeconds: num(a['storm-seconds'], short ? 45 : 150),
  concurrency: num(a.concurrency, short ? 6 : 12),
  rounds: num(a.rounds, short ? 1 : 2),
  loginTimeoutMs: 2_000,
  maxSeconds: num(a['max-seconds'], short ? 240 : 900),
  say,
};

const resources = new Resources();
let exiting = false;
const stopAll = async (why: string, code: number) => {
  if (exiting) return;
  exiting = true;
  say(`${why}: stopping every process the drill started`);
  await resources.close();
  process.exit(code);
};
process.once('SIGINT', () => void stopAll('SIGINT', 130));
process.once('SIGTERM', () => void stopAll('SIGTERM', 143));
const bound = setTimeout(() => void stopAll(`--max-seconds ${options.maxSeconds} reached`, 124), options.maxSeconds * 1000);

try {
  const s = await runDrill(options, resources);
  clearTimeout(bound);
  const rows = s.checks.map((c) => ({ check: c.check, result: c.ok ? 'pass' : 'FAIL', detail: c.detail }));
  process.stdout.write(
    `\nchaos drill · seed ${s.seed} · ${options.apis} APIs, ${options.workers} workers, ${options.tenants} tenants, ` +
      `${options.records} records · ${s.faults.length} faults · ${s.seconds} s · load average ${s.loadavg}\n\n`,
  );
  process.stdout.write(
    `${table(s.faults.map((f) => ({ fault: f.kind, at: `+${(f.startedAtMs / 1000).toFixed(1)} s`, for: `${(f.forMs / 1000).toFixed(1)} s`, note: f.note })))}\n\n`,
  );
  process.stdout.write(`${table(rows)}\n\n${s.ok ? 'all checks passed' : 'CHECKS FAILED'}\n`);
  // What the processes logged as errors (a 500's cause; errors during faults are expected).
  for (const [name, lines] of Object.entries(s.processErrors))
    process.stdout.write(`\n${name}: ${lines.length} error log line(s), first:\n${lines.slice(0, 5).join('\n')}\n`);
  if (a.json) {
    mkdirSync(path.dirname(path.resolve(a.json)), { recursive: true });
    writeFileSync(a.json, `${JSON.stringify(s, null, 2)}\n`);
  }
  exiting = true;
  await resources.close();
  process.exit(s.ok ? 0 : 1);
} catch (err) {
  clearTimeout(bound);
  process.stderr.write(`[drill] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  exiting = true;
  await resources.close();
  process.exit(2);
}
