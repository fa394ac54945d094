import type { AppConfig } from '../../infra/config';
import { freePort } from '../../infra/dev/servers';
import { startEntryProcess, type EntryProcess } from './entry-process';

// A real second API process (node --import tsx api/server.ts) over the file's servers, database and task queue:
// what is shared between API processes (MongoDB, Redis) is shared with it, nothing else.

export interface ApiProcess extends Omit<EntryProcess, 'child'> {
  url: string;
}

const ENV_KEYS = ['MONGODB_URI', 'MONGODB_DB', 'REDIS_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_TASK_QUEUE', 'AUTH_JWT_SECRET'] as const;

/** Starts the API entry point and resolves once it listens (its log line `api listening`). */
export async function startApiProcess(config: AppConfig, env: Record<string, string> = {}): Promise<ApiProcess> {
  const port = await freePort();
  const p = await startEntryProcess({
    entry: 'api/server.ts',
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
    readyText: 'api listening',
    startTimeoutMs: 60_000,
    killAfterMs: 15_000,
  });
  return { url: `http://127.0.0.1:${port}`, output: p.output, kill: p.kill, exited: p.exited, stop: p.stop };
}
