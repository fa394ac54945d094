import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStallTracker, registerPlatformGauges } from '../../../api/services/maintenance/platform-gauges';
import { MetricNames } from '../../../infra/metrics';
import { startTelemetry, type Telemetry } from '../../../infra/telemetry';

// The stall tracker behind reconcile_batch_stalled_seconds, and the scrape-time gauges: each
// reading shown under its name, one that never succeeded absent (not 0), readings reused within
// the interval, the readers not called once closed.

describe('createStallTracker', () => {
  it('counts from the start while nothing is processed, from the last move after', () => {
    let now = Date.parse('2026-12-02T12:00:00Z');
    const t = createStallTracker(() => now);
    const startedAt = new Date(now - 120_000).toISOString();
    expect(t.observe([{ batchId: 'a', processed: 0, startedAt }])).toBe(120);
    now += 60_000;
    expect(t.observe([{ batchId: 'a', processed: 500, startedAt }])).toBe(0);
    now += 300_000;
    expect(t.observe([{ batchId: 'a', processed: 500, startedAt }])).toBe(300);
  });

  it('answers the longest stall, 0 with none running, and forgets finished batches', () => {
    let now = 1_000_000;
    const t = createStallTracker(() => now);
    expect(t.observe([])).toBe(0);
    // First seen mid-run: counted from now (its last move is unknown), never from its start.
    t.observe([
      { batchId: 'a', processed: 10 },
      { batchId: 'b', processed: 10, startedAt: new Date(0).toISOString() },
    ]);
    now += 90_000;
    expect(
      t.observe([
        { batchId: 'a', processed: 20 },
        { batchId: 'b', processed: 10 },
      ]),
    ).toBe(90);
    now += 10_000;
    expect(t.observe([{ batchId: 'a', processed: 20 }])).toBe(10);
    // 'b' came back: a new sighting, not its old stall.
    expect(t.observe([{ batchId: 'b', processed: 10 }])).toBe(0);
  });
});

describe('registerPlatformGauges', () => {
  let telemetry: Telemetry;
  beforeAll(async () => {
    telemetry = await startTelemetry({ serviceName: 'test' });
  });
  afterAll(() => telemetry.shutdown());

  const line = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

  it('shows each reading, none for a reader that never answered, reuses readings within the interval, and stops when closed', async () => {
    let now = 0;
    const calls = { syncs: 0, failed: 0 };
    const gauges = registerPlatformGauges(
      {
        syncs: async () => {
          calls.syncs += 1;
          return { activeSyncs: 3, stuckSyncs: 1 };
        },
        reconcile: async () => [{ batchId: 'b1', processed: 0, startedAt: new Date(-60_000).toISOString() }],
        failedRuns: async () => {
          calls.failed += 1;
          if (calls.failed === 1) return [{ type: 'tenantSyncWorkflow' }, { type: 'tenantSyncWorkflow' }, { type: 'migrationWorkflow' }];
          return [{ type: 'migrationWorkflow' }];
        },
        pollers: () => Promise.reject(new Error('Temporal away')),
      },
      { minIntervalMs: 10_000, failedRunsIntervalMs: 30_000, now: () => now },
    );
    const first = await telemetry.metricsText();
    expect(line(first, MetricNames.syncActive)[0]).toMatch(/ 3$/);
    expect(line(first, MetricNames.syncStuck)[0]).toMatch(/ 1$/);
    expect(line(first, MetricNames.reconcileBatchesRunning)[0]).toMatch(/ 1$/);
    expect(line(first, MetricNames.reconcileBatchStalled)[0]).toMatch(/ 60$/);
    expect(line(first, MetricNames.failedRuns).find((l) => l.includes('workflow_type="tenantSyncWorkflow"'))).toMatch(/ 2$/);
    expect(line(first, MetricNames.failedRuns).find((l) => l.includes('workflow_type="migrationWorkflow"'))).toMatch(/ 1$/);
    expect(line(first, MetricNames.workerPollers)).toEqual([]);

    await telemetry.metricsText();
    expect(calls).toEqual({ syncs: 1, failed: 1 });

    now = 20_000;
    await telemetry.metricsText();
    expect(calls).toEqual({ syncs: 2, failed: 1 });
    now = 30_000;
    const later = await telemetry.metricsText();
    expect(calls).toEqual({ syncs: 3, failed: 2 });
    // A type whose dead letters were all retried reads 0, not nothing.
    expect(line(later, MetricNames.failedRuns).find((l) => l.includes('workflow_type="tenantSyncWorkflow"'))).toMatch(/ 0$/);

    gauges.close();
    now = 90_000;
    const closed = await telemetry.metricsText();
    expect(calls).toEqual({ syncs: 3, failed: 2 });
    // Not read any more; the exporter keeps the last value of a gauge it has seen.
    expect(line(closed, MetricNames.syncActive)[0]).toMatch(/ 3$/);
  });
});
