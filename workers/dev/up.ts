import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { loadConfigOrExit } from '../../infra/config';
import { keyringFromConfig } from '../../infra/secrets';
import { REPO_ROOT } from '../../infra/dev/ensure-tools';
import { startStack } from '../../infra/dev/stack';
import { isPortOpen } from '../../infra/dev/servers';
import { stopOnSignals } from '../../infra/dev/stop-on-signal';
import { PROCESS_ENV_DEFAULTS, tsEntry } from '../../infra/dev/ts-entry';
import { connectMongo } from '../../infra/mongo';
import { startFixtureUpstream } from '../../fixtures/upstream/server';
import { DEMO_TENANTS, describeDemoLogins, loginDemoTenants, registerDemoTenants } from './demo';
import { waitForReady } from './ready';

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

// Ctrl-C (or SIGTERM) from here on stops what has started, newest first, and exits 130/143;
// a later Ctrl-C kills what is left at once.
const stops = stopOnSignals({ say, deadlineMs: config.SHUTDOWN_TIMEOUT_MS + 30_000, stepMs: config.SHUTDOWN_TIMEOUT_MS + 15_000 });
stops.add('', () => say('stopped'));
say(`data in ${dataDir} (delete it to reset)`);
const t0 = Date.now();
const starting = startStack({
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
stops.add('the servers', async () => {
  const s = await starting.catch(() => undefined);
  say('stopping servers…');
  await s?.stop();
});
const stack = await starting;
say(
  `servers ready in ${Date.now() - t0} ms: temporal ${stack.temporalAddress}, ui ${stack.uiUrl ?? '-'}, mongodb ${stack.mongoUri}, redis ${stack.redisUrl}`,
);

// Demo: a fixture upstream serving three tenants, registered in the tenant registry.
const upstream = await startFixtureUpstream({ port: config.FIXTURE_UPSTREAM_PORT });
stops.add('the fixture upstream', () => upstream.close());
const mongo = await connectMongo({ MONGODB_URI: stack.mongoUri, MONGODB_DB: config.MONGODB_DB });
await registerDemoTenants(mongo.db, upstream, keyringFromConfig(config));
await mongo.close();
say(`demo tenants on the fixture upstream ${upstream.url}: ${DEMO_TENANTS.map((t) => t.tenantId).join(', ')}`);

const childEnv = {
  ...PROCESS_ENV_DEFAULTS,
  ...process.env,
  TEMPORAL_ADDRESS: stack.temporalAddress,
  MONGODB_URI: stack.mongoUri,
  REDIS_URL: stack.redisUrl,
  LOG_PRETTY: process.env.LOG_PRETTY ?? (tty ? 'true' : 'false'),
};
const children: ChildProcess[] = [];

function startChild(name: string, entry: string, tint: number): ChildProcess {
  // Its own node process (no tsx CLI between): the SIGTERM below reaches it and it drains.
  const [cmd, args] = tsEntry(path.join(REPO_ROOT, entry));
  const child = spawn(cmd, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = color(tint, `[${name}]`);
  const pipe = (b: Buffer) => {
    for (const line of b.toString().split('\n')) if (line.trim()) process.stdout.write(`${prefix} ${line}\n`);
  };
  child.stdout?.on('data', pipe);
  child.stderr?.on('data', pipe);
  child.on('exit', (code, signal) => {
    if (!stops.stopping) {
      say(`${name} exited (${code ?? signal}); stopping everything`);
      void stops.stop(1);
    }
  });
  children.push(child);
  return child;
}

stops.add('api and worker', async () => {
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
});
startChild('worker', 'workers/worker.ts', 35);
startChild('api', 'api/server.ts', 32);
say(`API on http://${config.HOST}:${config.PORT} — try: curl http://${config.HOST}:${config.PORT}/health/ready`);
say(`Temporal UI on ${stack.uiUrl ?? '(headless)'} · Ctrl-C stops everything`);
say(`token: TOKEN=$(npm run -s cli -- token --scopes "sync:write sync:read admin")`);
say(
  `login sync: curl -s -X POST -H "Authorization: Bearer $TOKEN" http://${config.HOST}:${config.PORT}/api/sync/tenants/demo-small/ensure`,
);

// "ready" once the API is ready and a worker polls the login task queue, and the demo tenants
// marked loginAtStart have been logged in once (README: their status shows from the start).
const apiUrl = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}`;
const READY_WAIT_MS = 120_000;
const answer = await waitForReady({ apiUrl, timeoutMs: READY_WAIT_MS, cancelled: () => stops.stopping });
if (!stops.stopping && !answer.ready)
  say(
    color(
      31,
      `not ready after ${READY_WAIT_MS / 1000} s: ${answer.lastSeen}. Logins go direct meanwhile; see the [worker] lines above (did it start, does it poll TEMPORAL_TASK_QUEUE=${config.TEMPORAL_TASK_QUEUE}?).`,
    ),
  );
if (!stops.stopping) {
  try {
    say(`demo logins: ${describeDemoLogins(await loginDemoTenants({ apiUrl, jwtSecret: config.AUTH_JWT_SECRET }))}`);
  } catch (err) {
    say(color(31, `demo logins failed: ${err instanceof Error ? err.message : String(err)}`));
  }
}
if (!stops.stopping && answer.ready) {
  const pollers = answer.pollers !== undefined ? ` (${answer.pollers} worker(s) polling ${answer.taskQueue ?? ''})` : '';
  say(color(32, `ready in ${Date.now() - t0} ms${pollers}`));
}
