import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureTools, REPO_ROOT } from '../infra/dev/ensure-tools';
import { freePort } from '../infra/dev/servers';
import { startStack, type StackHandle } from '../infra/dev/stack';
import { bundleWorkflows } from '../workers/create-worker';

// One isolated stack per test run: its own Temporal dev server, FerretDB and redis-server on
// free loopback ports with temp data, and the workflow bundle built once.

export interface TestStackInfo {
  temporalAddress: string;
  /** The Temporal Web UI of the test server (the browser test opens it). */
  temporalUiUrl: string;
  mongoUri: string;
  redisUrl: string;
  bundlePath: string;
  ferretdbBin: string;
  tmpDir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: TestStackInfo;
  }
}

let stack: StackHandle | undefined;
let tmpDir = '';

export async function setup(project: TestProject): Promise<void> {
  const t0 = Date.now();
  tmpDir = mkdtempSync(path.join(tmpdir(), 'sync-orch-test-'));
  const toolsDir = path.resolve(REPO_ROOT, process.env.TOOLS_DIR ?? '.tools');
  const say = (m: string) => process.stdout.write(`[test-stack] ${m}\n`);
  const tools = await ensureTools(toolsDir, say);
  const [temporalPort, uiPort, ferretPort, redisPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const [started, bundle] = await Promise.all([
    startStack({
      toolsDir,
      dataDir: tmpDir,
      temporalPort,
      uiPort,
      ferretPort,
      redisPort,
      reuseRedis: false,
      persistent: false,
      headless: false,
      say,
    }),
    bundleWorkflows(),
  ]);
  stack = started;
  const bundlePath = path.join(tmpDir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  project.provide('stack', {
    temporalAddress: stack.temporalAddress,
    temporalUiUrl: `http://127.0.0.1:${uiPort}`,
    mongoUri: stack.mongoUri,
    redisUrl: stack.redisUrl,
    bundlePath,
    ferretdbBin: tools.ferretdb,
    tmpDir,
  });
  say(`stack ready in ${Date.now() - t0} ms (temporal ${stack.temporalAddress}, mongodb ${stack.mongoUri}, redis ${stack.redisUrl})`);
}

export async function teardown(): Promise<void> {
  await stack?.stop();
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
}
