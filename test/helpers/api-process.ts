import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { AppConfig } from '../../infra/config';
import { freePort } from '../../infra/dev/servers';
import { REPO_ROOT } from '../../infra/dev/ensure-tools';

// A real second API process (tsx api/server.ts) over the file's servers, database and task queue:
// what is shared between API processes (MongoDB, Redis) is shared with it, nothing else.

export interface ApiProcess {
  url: string;
  stop(): Promise<void>;
}

const ENV_KEYS = ['MONGODB_URI', 'MONGODB_DB', 'REDIS_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_TASK_QUEUE', 'AUTH_JWT_SECRET'] as const;

/** Starts the API entry point and resolves once it listens (its log line `api listening`). */
export async function startApiProcess(config: AppConfig, env: Record<string, string> = {}): Promise<ApiProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(path.join(REPO_ROOT, 'node_modules/.bin/tsx'), [path.join(REPO_ROOT, 'api/server.ts')], {
    env: {
      ...process.env,
      ...Object.fromEntries(ENV_KEYS.map((k) => [k, String(config[k])])),
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`api process did not listen within 60 s:\n${tail}`)), 60_000);
    const onData = (b: Buffer) => {
      tail = (tail + b.toString()).slice(-4000);
      if (tail.includes('api listening')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`api process exited (${String(code)}):\n${tail}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}
