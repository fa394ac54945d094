import { describe, expect, it } from 'vitest';
import { Collections } from '../../../infra/mongo';
import { WorkflowIds } from '../../../shared/constants';
import type { SyncRunRecord } from '../../../shared/tenant-sync';
import { registerMongoTenant } from '../../helpers/api';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// How often a Temporal tenant sync writes its run record: once, at its end, when it has nothing
// after the essential collections (a second write would replace the first, and on FerretDB a
// replace by _id scans the whole sync_runs collection); at essential-ready and at the end when
// the rest follows (the record shows the run in progress meanwhile).

describe('tenant sync run record writes', () => {
  const stack = useStack({ worker: true });

  const recordCalls = async (tenantId: string) => {
    const handle = stack.deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId));
    const run = (await handle.result()) as SyncRunRecord;
    const history = await handle.fetchHistory();
    const scheduled = (history.events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'recordSyncRun',
    ).length;
    return { run, scheduled };
  };

  it.each([
    { rest: false, writes: 1 },
    { rest: true, writes: 2 },
  ])('non-essential collections: $rest → $writes run record write(s), the record final', async ({ rest, writes }) => {
    const app = await stack.buildApp({ USE_TEMPORAL_FOR_AUTH: true, SYNC_FRESHNESS_MS: 0, TEMPORAL_AUTH_TIMEOUT_MS: 20_000 });
    const tenantId = uniqueId('record');
    const source = stack.deps.mongo.client.db(uniqueId('record-src').replace(/-/g, '_'));
    await source
      .collection('users')
      .insertMany(Array.from({ length: 3 }, (_, i) => ({ _id: `u-${i}` as never, n: i, updatedAt: new Date() })));
    await registerMongoTenant(app, stack.deps, {
      tenantId,
      database: source.databaseName,
      collections: rest ? ['users', 'orders'] : ['users'],
    });
    const res = await app.inject({
      method: 'POST',
      url: `/api/sync/tenants/${tenantId}/ensure`,
      headers: await stack.bearer(['sync:write'], [tenantId]),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ syncMethod: 'temporal', essentialReady: true });
    const { run, scheduled } = await recordCalls(tenantId);
    expect(scheduled).toBe(writes);
    expect(run.state).toBe('completed');
    const stored = await stack.deps.mongo.db.collection(Collections.syncRuns).findOne({ tenantId });
    expect(stored).toMatchObject({ state: 'completed', method: 'temporal' });
    expect(stored?.finishedAt).toBeInstanceOf(Date);
  });
});
