import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { loadConfigOrExit } from '../../infra/config';
import { keyringFromConfig } from '../../infra/secrets';
import { REPO_ROOT } from '../../infra/dev/ensure-tools';
import { startStack } from '../../infra/dev/stack';
import { isPortOpen } from '../../infra/dev/servers';
import { connectMongo } from '../../infra/mongo';
import { startFixtureUpstream } from '../../fixtures/upstream/server';
import { DEMO_TENANTS, registerDemoTenants } from './demo';

// `make up`: the whole embedded stack and the main job, in the foreground. One Ctrl-C stops all.

const config = loadConfigOrExit();
const tty = process.stdout.isTTY;
const color = (code: number, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const say = (msg: string) => process.stdout.write(`${color(36, '[up]')} ${msg}\n`);
const portOf = (s: string, fallback: number) => Number(/:(\d+)(?:\/|$)/.exec(s)?.[1] ?? fallback);

const dataDir = path.resolve(REPO_ROOT, config.DATA_DIR);
const temporalPort = portOf(config.TEMPORAL_ADDRESS, 7233);
const ferretPort = portOf(config.MONGODB_URI, 27017);
const redisPort = portOf(config.REDIS_URL, 6379);
const busy: string[] = [];
for (const [name, port] of [
  ['Temporal', temporalPort],
  ['Temporal UI', config.TEMPORAL_UI_PORT],
  ['FerretDB', ferretPort],
  ['API', config.PORT],
  ['fixture upstream', config.FIXTURE_UPSTREAM_PORT],
] as const) {
  if (await isPortOpen(port)) busy.push(`${name} port ${port}`);
}
if (busy.length) {
  process.stderr.write(`[up] already in use: ${busy.join(', ')}. Stop what holds them or set other ports (see README, Configuration).\n`);
  process.exit(1);
}

say(`data in ${dataDir} (delete it to reset)`);
const t0 = Date.now();
const stack = await startStack({
  toolsDir: path.resolve(REPO_ROOT, config.TOOLS_DIR),
  dataDir,
  temporalPort,
  uiPort: config.TEMPORAL_UI_PORT,
  ferretPort,
  redisPort,
  reuseRedis: true,
  persistent: true,
  say,
  sink: (name, line) => process.stdout.write(`${color(90, `[${name}]`)} ${line}\n`),
});
say(
  `servers ready in ${Date.now() - t0} ms: temporal ${stack.temporalAddress}, ui ${stack.uiUrl ?? '-'}, mongodb ${stack.mongoUri}, redis ${stack.redisUrl}`,
);

// Demo: a fixture upstream serving three tenants, registered in the tenant registry.
const upstream = await startFixtureUpstream({ port: config.FIXTURE_UPSTREAM_PORT });
const mongo = await connectMongo({ MONGODB_URI: stack.mongoUri, MONGODB_DB: config.MONGODB_DB });
await registerDemoTenants(mongo.db, upstream, keyringFromConfig(config));
await mongo.close();
say(`demo tenants on the fixture upstream ${upstream.url}: ${DEMO_TENANTS.map((t) => t.tenantId).join(', ')}`);

const childEnv = {
  ...process.env,
  TEMPORAL_ADDRESS: stack.temporalAddress,
  MONGODB_URI: stack.mongoUri,
  REDIS_URL: stack.redisUrl,
  LOG_PRETTY: process.env.LOG_PRETTY ?? (tty ? 'true' : 'false'),
};
const tsx = path.join(REPO_ROOT, 'node_modules/.bin/tsx');
const children: ChildProcess[] = [];
let stopping = false;

function startChild(name: string, entry: string, tint: number): ChildProcess {
  const child = spawn(tsx, [path.join(REPO_ROOT, entry)], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = color(tint, `[${name}]`);
  const pipe = (b: Buffer) => {
    for (const line of b.toString().split('\n')) if (line.trim()) process.stdout.write(`${prefix} ${line}\n`);
  };
  child.stdout?.on('data', pipe);
  child.stderr?.on('data', pipe);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      say(`${name} exited (${code ?? signal}); stopping everything`);
      void shutdown(1);
    }
  });
  children.push(child);
  return child;
}

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('stopping api and worker…');
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), config.SHUTDOWN_TIMEOUT_MS + 6_000).unref();
        }),
    ),
  );
  say('stopping servers…');
  await upstream.close();
  await stack.stop();
  say('stopped');
  process.exit(code);
}

let interrupts = 0;
const onSignal = () => {
  interrupts += 1;
  if (interrupts > 1) process.exit(130);
  void shutdown(0);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

startChild('worker', 'workers/worker.ts', 35);
startChild('api', 'api/server.ts', 32);
say(`API on http://${config.HOST}:${config.PORT} — try: curl http://${config.HOST}:${config.PORT}/health/ready`);
say(`Temporal UI on ${stack.uiUrl ?? '(headless)'} · Ctrl-C stops everything`);
say(`token: TOKEN=$(npm run -s cli -- token --scopes "sync:write sync:read admin")`);
say(
  `login sync: curl -s -X POST -H "Authorization: Bearer $TOKEN" http://${config.HOST}:${config.PORT}/api/sync/tenants/demo-small/ensure`,
);

// "ready" once the API is ready and a worker polls the login task queue (the temporal check's
// status is ok): before that, logins would go direct (no_worker). Bounded, and says what is missing.
const READY_WAIT_MS = 120_000;
type ReadyBody = { checks?: { temporal?: { status?: string; pollers?: number; taskQueue?: string } } };
async function readiness(): Promise<{ code: number; body: ReadyBody } | undefined> {
  const host = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST;
  try {
    const res = await fetch(`http://${host}:${config.PORT}/health/ready`, { signal: AbortSignal.timeout(5_000) });
    return { code: res.status, body: (await res.json()) as ReadyBody };
  } catch {
    return undefined; // not listening yet
  }
}
const waitStarted = Date.now();
let lastSeen = 'the API does not answer yet';
while (!stopping) {
  const r = await readiness();
  const temporal = r?.body.checks?.temporal;
  if (r?.code === 200 && (temporal?.status === undefined || temporal.status === 'ok')) {
    const pollers = temporal?.pollers !== undefined ? ` (${temporal.pollers} worker(s) polling ${temporal.taskQueue ?? ''})` : '';
    say(color(32, `ready in ${Date.now() - t0} ms${pollers}`));
    break;
  }
  if (r?.code !== undefined && r.code !== 200) lastSeen = `/health/ready answers ${r.code}`;
  else if (temporal?.status === 'degraded') lastSeen = `no worker polls the login task queue ${temporal.taskQueue ?? ''} yet`;
  else if (temporal?.status === 'unknown') lastSeen = 'Temporal did not describe the login task queue';
  if (Date.now() - waitStarted > READY_WAIT_MS) {
    say(
      color(
        31,
        `not ready after ${READY_WAIT_MS / 1000} s: ${lastSeen}. Logins go direct meanwhile; see the [worker] lines above (did it start, does it poll TEMPORAL_TASK_QUEUE=${config.TEMPORAL_TASK_QUEUE}?).`,
      ),
    );
    break;
  }
  await new Promise((r) => setTimeout(r, 500));
}
