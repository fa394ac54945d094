import { describe, expect, it } from 'vitest';
import type { Db } from 'mongodb';
import { createTenantSyncActivities, type SyncCollectionInput } from '../../../activities/tenant-sync/activities';
import { WorkflowIds } from '../../../shared/constants';
import type { SyncRunRecord } from '../../../shared/tenant-sync';
import { registerMongoTenant } from '../../helpers/api';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Hedged fallback (LOGIN_HEDGE), on the real stack: the worker's collection syncs are slowed
// past the hedge delay, so the login is answered by the direct sync started beside the
// workflow (fallbackReason hedged) long before the Temporal deadline; the workflow is not
// cancelled and finishes every collection, and the target equals the upstream afterwards.

let slowMs = 0;
let real: ReturnType<typeof createTenantSyncActivities> | undefined;

describe('hedged login fallback', () => {
  const stack = useStack({
    worker: {
      activityOverrides: {
        // The worker's own syncCollection, slowed (local and regular activities alike).
        syncCollection: async (input: SyncCollectionInput) => {
          await new Promise((r) => setTimeout(r, slowMs));
          real ??= createTenantSyncActivities(stack.deps);
          return real.syncCollection(input);
        },
      },
    },
  });

  const hedged = {
    USE_TEMPORAL_FOR_AUTH: true,
    SYNC_FRESHNESS_MS: 0,
    TEMPORAL_AUTH_TIMEOUT_MS: 15_000,
    LOGIN_HEDGE: true,
    LOGIN_HEDGE_MIN_MS: 100,
    LOGIN_HEDGE_MAX_MS: 300,
  };

  const seed = async (): Promise<{ tenantId: string; source: Db }> => {
    const tenantId = uniqueId('hedge');
    const source = stack.deps.mongo.client.db(uniqueId('hedge-src').replace(/-/g, '_'));
    for (const c of ['users', 'orders'])
      await source
        .collection(c)
        .insertMany(Array.from({ length: 30 }, (_, i) => ({ _id: `${c}-${i}` as never, n: i, updatedAt: new Date() })));
    return { tenantId, source };
  };

  it('answers from the direct sync when the workflow is slower than the hedge delay; the workflow still finishes', async () => {
    const app = await stack.buildApp(hedged);
    const { tenantId, source } = await seed();
    await registerMongoTenant(app, stack.deps, {
      tenantId,
      database: source.databaseName,
      collections: [
        { name: 'users', essential: true },
        { name: 'orders', essential: false },
      ],
    });
    slowMs = 3_000;
    const t0 = Date.now();
    const res = await app.inject({
      method: 'POST',
      url: `/api/sync/tenants/${tenantId}/ensure`,
      headers: await stack.bearer(['sync:write'], [tenantId]),
    });
    const took = Date.now() - t0;
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ syncMethod: 'direct', fallbackUsed: true, fallbackReason: 'hedged', essentialReady: true });
    // Neither the slowed workflow (3 s) nor the Temporal deadline (15 s) was waited for.
    expect(took).toBeLessThan(2_500);

    // The workflow was started once and carries on with every collection.
    const handle = stack.deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId));
    const run = (await handle.result()) as SyncRunRecord;
    expect(run.collections.map((c) => [c.name, c.status])).toEqual([
      ['users', 'synced'],
      ['orders', 'synced'],
    ]);
    const runs: string[] = [];
    for await (const w of stack.deps.temporal.client.workflow.list({ query: `WorkflowId = '${WorkflowIds.tenantSync(tenantId)}'` }))
      runs.push(w.runId);
    expect(runs).toHaveLength(1);
    // Both wrote through the same guarded writes: the target is the upstream, record for record.
    for (const c of ['users', 'orders']) {
      const up = await source
        .collection(c)
        .find({}, { projection: { n: 1 } })
        .sort({ _id: 1 })
        .toArray();
      const down = await stack.deps.mongo
        .tenantDb(tenantId)
        .collection(c)
        .find({}, { projection: { n: 1 } })
        .sort({ _id: 1 })
        .toArray();
      expect(down, c).toEqual(up);
    }
  });

  it('answers from Temporal when it is faster than the hedge delay', async () => {
    slowMs = 0;
    const app = await stack.buildApp({ ...hedged, LOGIN_HEDGE_MIN_MS: 5_000, LOGIN_HEDGE_MAX_MS: 5_000 });
    const { tenantId, source } = await seed();
    await registerMongoTenant(app, stack.deps, { tenantId, database: source.databaseName });
    const res = await app.inject({
      method: 'POST',
      url: `/api/sync/tenants/${tenantId}/ensure`,
      headers: await stack.bearer(['sync:write'], [tenantId]),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ syncMethod: 'temporal', fallbackUsed: false, essentialReady: true });
  });
});
