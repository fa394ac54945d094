import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { beforeAll } from 'vitest';
import { REPO_ROOT } from '../../infra/dev/ensure-tools';
import type { AppConfig } from '../../infra/config';
import { tsEntry } from '../../infra/dev/ts-entry';
import { serverEnv } from './stack';

// The CLI as an operator runs it: a child process (node --import tsx) with the file's config, talking to the
// API listening at `apiUrl` (SYNC_API_URL). Never throws on a non-zero exit: answers the code.

const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliRunner {
  (...args: string[]): Promise<CliResult>;
}

/** A runner for one file: `config` gives the servers and secrets, `apiUrl()` the listening API. */
export function cliRunner(config: () => AppConfig, apiUrl: () => string, env: Record<string, string> = {}): CliRunner {
  return async (...args) => {
    const c = config();
    const childEnv = {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      ...serverEnv(c),
      SYNC_API_URL: apiUrl(),
      ...env,
    };
    try {
      const [cmd, entryArgs] = tsEntry(path.join(REPO_ROOT, 'cli/index.ts'));
      const r = await run(cmd, [...entryArgs, ...args], {
        env: childEnv,
        timeout: 120_000,
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      if (typeof err.code !== 'number') throw e;
      return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  };
}

/** The last line of a command's output, parsed as JSON. */
export const lastJson = (out: string) => JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;

/**
 * The file's app listening on a loopback port (registered as a beforeAll after useStack's) and a
 * runner whose CLI talks to it. Call after useStack, with a stack that asks for an app.
 */
export function useCli(
  stack: { readonly app: FastifyInstance; readonly deps: { config: AppConfig } },
  env: Record<string, string> = {},
): CliRunner {
  let apiUrl = '';
  beforeAll(async () => {
    apiUrl = await stack.app.listen({ host: '127.0.0.1', port: 0 });
  });
  return cliRunner(
    () => stack.deps.config,
    () => apiUrl,
    env,
  );
}
