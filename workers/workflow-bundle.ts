import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowBundle } from '@temporalio/worker';
import type { Logger } from 'pino';
import { tsEntry } from '../infra/dev/ts-entry';

// The worker's workflow code, bundled once for every lane's worker. Bundling runs webpack, which
// takes about as much memory as the rest of the worker and V8 keeps most of it after: a worker
// that bundles in its own process keeps ≈ 100+ MB of RSS it never uses again (and bundling per
// lane, once per Worker.create, did it twice). So a worker reads a bundle built ahead
// (WORKFLOW_BUNDLE_PATH, `npm run build:workflows`), or builds one in a short-lived child process.

const BUILD_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'build-workflow-bundle.ts');

/** The bundle at `prebuilt`, or one built in a child process now. */
export async function loadWorkflowBundle(o: { prebuilt?: string; log: Pick<Logger, 'info'> }): Promise<WorkflowBundle> {
  if (o.prebuilt) {
    const code = await readFile(o.prebuilt, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`WORKFLOW_BUNDLE_PATH ${o.prebuilt}: ${err.code ?? err.message} (build it with npm run build:workflows)`);
    });
    o.log.info({ path: o.prebuilt, kb: Math.round(code.length / 1024) }, 'workflow bundle read (built ahead)');
    return { code };
  }
  const started = Date.now();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'workflow-bundle-'));
  try {
    const out = path.join(dir, 'workflow-bundle.js');
    await buildInChild(out);
    const code = await readFile(out, 'utf8');
    o.log.info({ kb: Math.round(code.length / 1024), ms: Date.now() - started }, 'workflow bundle built in a child process');
    return { code };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function buildInChild(out: string): Promise<void> {
  // node with tsx's loader, as the worker itself runs (workers/build-workflow-bundle.ts is TypeScript).
  const [cmd, args] = tsEntry(BUILD_SCRIPT);
  const child = spawn(cmd, [...args, out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let tail = '';
  child.stderr.on('data', (b: Buffer) => (tail = (tail + b.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`building the workflow bundle failed (${signal ?? `exit ${code}`}):\n${tail}`)),
    );
  });
}
