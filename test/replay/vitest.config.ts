import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run histories:record`: runs only the history recorder, on the stack the tests' global
// setup starts (its own Temporal, FerretDB and Redis on free ports, temp data, the bundle).
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/replay/record-histories.ts'],
    environment: 'node',
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
