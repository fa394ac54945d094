import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflows } from './create-worker';

// npm run build:workflows [-- <out>]: the workflow bundle a worker reads from
// WORKFLOW_BUNDLE_PATH (default out: dist/workflow-bundle.js). The worker also runs this as a
// child process when no bundle was built ahead (workers/workflow-bundle.ts).

const out = path.resolve(process.argv[2] ?? 'dist/workflow-bundle.js');
const started = Date.now();
const { code } = await bundleWorkflows();
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, code);
process.stderr.write(`workflow bundle: ${out} (${Math.round(code.length / 1024)} KB, ${Date.now() - started} ms)\n`);
