import { defineConfig } from 'vitest/config';

// Two projects: pure units (no servers) and integration (one real stack per run, started in
// the global setup and shared by every file; files run in parallel, each on its own task
// queue and database).
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/integration/**/*.test.ts'],
          exclude: ['test/integration/reconcile/{reconcile,partitions,repair,resilience,hashed}.test.ts'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          pool: 'forks',
          testTimeout: 60_000,
          hookTimeout: 120_000,
          maxWorkers: 3,
        },
      },
      {
        test: {
          // Wall-clock assertions and the heaviest runs: after the parallel files, one at a time.
          name: 'serial',
          sequence: { groupOrder: 2 },
          include: ['test/timing/**/*.test.ts', 'test/integration/reconcile/{reconcile,partitions,repair,resilience,hashed}.test.ts'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          pool: 'forks',
          testTimeout: 240_000,
          hookTimeout: 120_000,
          maxWorkers: 1,
        },
      },
    ],
  },
});
