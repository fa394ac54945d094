import { beforeAll, describe, expect, it } from 'vitest';
import { defineMigration } from '../../../activities/migrations/registry';
import { gate, mutableRegistry } from '../../helpers/migrations';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// GET /api/migrations/runs/:workflowId as the README describes it: a batch run's Temporal status
// and its per-migration results — live while it runs, every outcome (completed, failed, skipped,
// pending, dry-run) once it ended; 404 for a run that does not exist.

describe('GET /api/migrations/runs/:workflowId', () => {
  let admin: Record<string, string>;
  const registry = mutableRegistry();
  const ok = { ok: true, message: 'fine' };

  const start = async (payload: object): Promise<string> => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/migrations/run',
      headers: { ...admin, 'idempotency-key': uniqueId('mk') },
      payload,
    });
    expect(res.statusCode, res.body).toBe(202);
    return res.json().workflowId as string;
  };
  const runOf = async (workflowId: string) => {
    const res = await stack.app.inject({ method: 'GET', url: `/api/migrations/runs/${encodeURIComponent(workflowId)}`, headers: admin });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as {
      workflowId: string;
      status: string;
      result?: { state: string; results: Array<{ name: string; outcome: string; reason?: string }> };
    };
  };
  const ended = async (workflowId: string) => {
    await stack.deps.temporal.client.workflow.getHandle(workflowId).result();
    return runOf(workflowId);
  };

  const stack = useStack({
    worker: { settings: { tenantSync: { pageSize: 500 }, migrations: { registry, batchSize: 250 } } },
    app: { extra: { migrations: registry } },
  });
  beforeAll(async () => {
    admin = await stack.bearer(['admin']);
  });

  it('live while running, then every outcome; a completed migration is skipped next time', async () => {
    const held = gate();
    const [first, failing, later] = [uniqueId('m1-held'), uniqueId('m2-fails'), uniqueId('m3-later')];
    registry.add(
      defineMigration({
        name: first,
        description: 'waits for the test',
        collections: [],
        up: async () => held.wait,
        verify: async () => ok,
      }),
      defineMigration({
        name: failing,
        description: 'throws',
        collections: [],
        up: async () => Promise.reject(new Error('boom')),
        verify: async () => ok,
      }),
      defineMigration({ name: later, description: 'never reached', collections: [], up: async () => undefined, verify: async () => ok }),
    );
    const id = await start({ names: [first, failing, later], stopOnError: true });
    // Running: the workflow's progress query answers, the first migration in flight.
    await expect.poll(async () => (await runOf(id)).result?.results[0]?.reason, { timeout: 15_000 }).toBe('running');
    const live = await runOf(id);
    expect(live).toMatchObject({ workflowId: id, status: 'RUNNING', result: { state: 'running' } });
    expect(live.result!.results.map((r) => [r.name, r.outcome])).toEqual([
      [first, 'pending'],
      [failing, 'pending'],
      [later, 'pending'],
    ]);
    held.open();

    const done = await ended(id);
    expect(done).toMatchObject({ workflowId: id, status: 'COMPLETED', result: { state: 'failed' } });
    expect(done.result!.results.map((r) => [r.name, r.outcome])).toEqual([
      [first, 'completed'],
      [failing, 'failed'],
      [later, 'pending'],
    ]);
    expect(done.result!.results[2]!.reason).toMatch(/stopOnError/);

    const again = await ended(await start({ names: [first] }));
    expect(again.result!.results).toEqual([expect.objectContaining({ name: first, outcome: 'skipped' })]);
    const dry = await ended(await start({ names: [later], dryRun: true }));
    expect(dry.workflowId).toMatch(/^migration-dry-run:/);
    expect(dry.result!.results).toEqual([expect.objectContaining({ name: later, outcome: 'dry-run' })]);
  });

  it('404 for a run that does not exist, 400 for an ID that is not a run', async () => {
    const missing = await stack.app.inject({
      method: 'GET',
      url: `/api/migrations/runs/migration-dry-run:${stack.deps.config.MONGODB_DB}:nope`,
      headers: admin,
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toContain('application/problem+json');
    expect((await stack.app.inject({ method: 'GET', url: '/api/migrations/runs/tenant-sync:x', headers: admin })).statusCode).toBe(400);
  });
});
