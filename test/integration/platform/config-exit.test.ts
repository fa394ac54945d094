import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { tsEntry } from '../../../infra/dev/ts-entry';

const runEntry = (entry: string, env: NodeJS.ProcessEnv) => {
  const [cmd, args] = tsEntry(path.join(REPO_ROOT, entry));
  return spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 30_000 });
};

describe('entry points validate configuration before anything starts', () => {
  for (const entry of ['api/server.ts', 'workers/worker.ts']) {
    it(`${entry} exits non-zero listing every bad variable`, () => {
      const res = runEntry(entry, { ...process.env, TEMPORAL_AUTH_TIMEOUT_MS: 'abc', REDIS_URL: 'localhost:6379', LOG_LEVEL: 'silent' });
      expect(res.status).not.toBe(0);
      expect(res.status).not.toBeNull();
      expect(res.stderr).toContain('TEMPORAL_AUTH_TIMEOUT_MS');
      expect(res.stderr).toContain('REDIS_URL');
    });
  }

  it('api/server.ts refuses to listen beyond loopback with the built-in dev JWT secret', () => {
    const env: Record<string, string | undefined> = { ...process.env, HOST: '0.0.0.0', PORT: '1', LOG_LEVEL: 'silent' };
    delete env.AUTH_JWT_SECRET;
    const res = runEntry('api/server.ts', env);
    expect(res.status).toBe(78);
    expect(res.stderr).toContain('AUTH_JWT_SECRET: is required when HOST (0.0.0.0) is not a loopback address');
  });
});
