import { describe, expect, it } from 'vitest';
import { baseQueueOf, laneQueue, laneQueues, startQueueFor } from '../../../shared/lanes';
import { CleanupNames } from '../../../shared/cleanup';
import { ReconcileNames } from '../../../shared/reconcile';
import { StackProbeNames } from '../../../shared/stack-probe';
import { TenantSyncNames } from '../../../shared/tenant-sync';
import { workflowClientInterceptors } from '../../../infra/temporal-interceptors';
import { createInteractiveGate } from '../../../workers/interactive-gate';

describe('lanes: one task queue per kind of capacity', () => {
  it('derives the lane queues from the deployment queue and back', () => {
    expect(laneQueues('sync')).toEqual({ main: 'sync', interactive: 'sync--interactive', bulk: 'sync--bulk' });
    expect(laneQueue('sync', 'main')).toBe('sync');
    for (const q of Object.values(laneQueues('a--b'))) expect(baseQueueOf(q)).toBe('a--b');
    expect(baseQueueOf('plain')).toBe('plain');
  });

  it('starts the login sync and the probe on the interactive lane, everything else where the site said', () => {
    expect(startQueueFor(TenantSyncNames.workflow, 'q')).toBe('q--interactive');
    expect(startQueueFor(StackProbeNames.workflow, 'q')).toBe('q--interactive');
    for (const t of [ReconcileNames.workflow, CleanupNames.cleanupWorkflow, 'unknownWorkflow']) expect(startQueueFor(t, 'q')).toBe('q');
    // A restart of a run found on a lane queue stays there (no double suffix).
    expect(startQueueFor(TenantSyncNames.workflow, 'q--interactive')).toBe('q--interactive');
  });

  it('the client interceptor moves interactive starts only when lanes are on', async () => {
    const seen: string[] = [];
    const start = async (lanes: boolean, workflowType: string) => {
      for (const i of workflowClientInterceptors({ lanes, priority: false })) {
        if (!('startWithDetails' in i) || !i.startWithDetails) continue;
        // Only the plain interceptors (priority, lanes, counter) act on options; call each on its own.
        if (i.constructor.name.startsWith('OpenTelemetry')) continue;
        await i.startWithDetails(
          { workflowType, options: { taskQueue: 'q', workflowId: 'w', args: [] }, headers: {} } as never,
          async (input) => {
            seen.push((input as { options: { taskQueue: string } }).options.taskQueue);
            return 'run' as never;
          },
        );
      }
    };
    await start(true, TenantSyncNames.workflow);
    expect(seen).toContain('q--interactive');
    seen.length = 0;
    await start(false, TenantSyncNames.workflow);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((q) => q === 'q')).toBe(true);
  });
});

describe('interactive gate: bulk work yields while interactive work runs', () => {
  it('answers at once when nothing interactive runs, or when the wait is 0', async () => {
    const g = createInteractiveGate();
    expect(await g.idle(1_000)).toBe(0);
    g.enter();
    expect(await g.idle(0)).toBe(0);
  });

  it('waits until the last interactive activity ends', async () => {
    const g = createInteractiveGate();
    g.enter();
    g.enter();
    let woke = false;
    const waited = g.idle(5_000).then((ms) => {
      woke = true;
      return ms;
    });
    setTimeout(() => g.leave(), 20);
    setTimeout(() => g.leave(), 60);
    await new Promise((r) => setTimeout(r, 40));
    expect(woke).toBe(false); // one still runs
    expect(await waited).toBeGreaterThanOrEqual(50);
    expect(g.running).toBe(0);
  });

  it('never waits longer than its bound', async () => {
    const g = createInteractiveGate();
    g.enter();
    const ms = await g.idle(30);
    expect(ms).toBeGreaterThanOrEqual(25);
    expect(ms).toBeLessThan(1_000);
    expect(g.running).toBe(1);
    g.leave();
    g.leave(); // an extra leave never goes below zero
    expect(g.running).toBe(0);
  });
});
