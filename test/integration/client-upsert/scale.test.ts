import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClient, writeClient } from '../../../fixtures/clients';
import { createClientStore } from '../../../activities/client-upsert/store';
import { startClientUpsert } from '../../../activities/client-upsert/start';
import type { UpsertAllResult } from '../../../shared/client-upsert';
import { useStack } from '../../helpers/use-stack';

// 100 clients × 150 routes through UpsertAllClientsWorkflow, then an unchanged re-run that
// skips every client after one hash compare each.

const CLIENTS = 100;
const ROUTES = 150;

describe('client upsert at scale', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'clients-scale-'));
  const keys = Array.from({ length: CLIENTS }, (_, i) => `scale-${String(i).padStart(3, '0')}`);

  const upsertAll = async (): Promise<{ res: UpsertAllResult; ms: number }> => {
    const t0 = performance.now();
    const started = await startClientUpsert({
      client: stack.deps.temporal.client,
      taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
      concurrency: 8,
      trigger: 'test',
    });
    const res = await started.result();
    return { res, ms: performance.now() - t0 };
  };

  // Registered before the stack's hooks: the files exist before its worker starts, go after it stops.
  beforeAll(() => {
    for (const k of keys) writeClient(dir, generateClient(k, { routes: ROUTES }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const stack = useStack({ worker: { settings: { tenantSync: { pageSize: 500 }, clientUpsert: { dir } } } });

  it('upserts 100 clients × 150 routes in parallel, then skips every one of them when nothing changed', async () => {
    const first = await upsertAll();
    expect(first.res).toMatchObject({ total: CLIENTS, upserted: CLIENTS, failed: 0, partial: 0, invalid: 0, deduplicated: 0 });
    const store = createClientStore(stack.deps.mongo.db);
    const states = await store.state.find({}).toArray();
    expect(states).toHaveLength(CLIENTS);
    expect(states.every((s) => s.lastStatus === 'completed' && s.configHash === s.lastHash && s.runs === 1)).toBe(true);
    const counts = await Promise.all([keys[0]!, keys[57]!, keys[99]!].map((k) => store.routes(k).countDocuments()));
    expect(counts).toEqual([ROUTES, ROUTES, ROUTES]);
    expect(await store.components.countDocuments()).toBe(12);
    expect(await store.users.countDocuments()).toBe(2 * CLIENTS);

    const second = await upsertAll();
    expect(second.res).toMatchObject({ total: CLIENTS, unchanged: CLIENTS, upserted: 0, failed: 0, partial: 0, clients: [] });
    expect((await store.state.find({}).toArray()).every((s) => s.runs === 1)).toBe(true);
    process.stdout.write(`[client-upsert-scale] first upsert ${Math.round(first.ms)} ms, unchanged re-run ${Math.round(second.ms)} ms\n`);
    expect(second.ms).toBeLessThan(first.ms / 5);
  });
});
