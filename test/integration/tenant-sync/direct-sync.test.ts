import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collections } from '../../../infra/mongo';
import { createTemporalClient, type TemporalHandle } from '../../../infra/temporal';
import { WorkflowIds } from '../../../shared/constants';
import { startLoginBench, type LoginBench } from '../../helpers/login';

// The direct path as the README describes it: a short retry loop for retryable errors, the
// Redis lock single-flighting direct syncs across API processes (a waiting process answers from
// the holder's result), and the fallback reason `error` when Temporal answers with an error.

const COLLECTIONS = [
  { name: 'users', essential: true, size: 40 },
  { name: 'roles', essential: true, size: 5 },
  { name: 'audit', essential: false, size: 10 },
];

describe('direct sync: retries, cross-process lock, fallback on error', () => {
  let bench: LoginBench;
  const handles: TemporalHandle[] = [];
  const runsOf = (tenantId: string) => bench.deps.mongo.db.collection(Collections.syncRuns).find({ tenantId }).toArray();

  beforeAll(async () => {
    bench = await startLoginBench();
  });
  afterAll(async () => {
    await bench?.close();
    await Promise.allSettled(handles.map((h) => h.close()));
  });

  it('retries a retryable failure (3 attempts in all), never an AUTH_ERROR', async () => {
    const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: false });
    const flaky = await bench.registerTenant(a, COLLECTIONS);
    bench.upstream.failCollection(flaky, 'users', 500, 2);
    bench.upstream.failCollection(flaky, 'roles', 401);
    const body = (await bench.ensure(a, flaky)).json();
    expect(body).toMatchObject({ syncMethod: 'direct', essentialReady: false });
    const col = (name: string) => body.collections.find((c: { name: string }) => c.name === name);
    expect(col('users')).toMatchObject({ status: 'synced', synced: 40 });
    expect(bench.upstream.requestCount(flaky, 'users')).toBe(3);
    expect(col('roles')).toMatchObject({ status: 'failed', error: { errorType: 'AUTH_ERROR', retryable: false } });
    expect(bench.upstream.requestCount(flaky, 'roles')).toBe(1);

    // A failure that outlasts the loop: three attempts, then the collection is reported failed.
    const down = await bench.registerTenant(a, COLLECTIONS);
    bench.upstream.failCollection(down, 'roles', 500);
    const failed = (await bench.ensure(a, down)).json();
    expect(failed.collections.find((c: { name: string }) => c.name === 'roles')).toMatchObject({
      status: 'failed',
      error: { retryable: true },
    });
    expect(bench.upstream.requestCount(down, 'roles')).toBe(3);
  });

  it('two API processes: one direct sync; the other waits on the Redis lock and answers from its result', async () => {
    const [a, b] = [await bench.app({ USE_TEMPORAL_FOR_AUTH: false }), await bench.app({ USE_TEMPORAL_FOR_AUTH: false })];
    const tenantId = await bench.registerTenant(a, COLLECTIONS);
    bench.upstream.setLatency(tenantId, 'users', 1_500);
    const first = bench.ensure(a, tenantId);
    // A holds the lock while it reads the users page; only then does B ask.
    await expect.poll(() => bench.upstream.requestCount(tenantId, 'users'), { timeout: 10_000, interval: 10 }).toBe(1);
    const second = await bench.ensure(b, tenantId);
    const one = (await first).json();
    const two = second.json();
    expect(one).toMatchObject({ syncMethod: 'direct', essentialReady: true });
    expect(two).toMatchObject({ syncMethod: 'direct', essentialReady: true, correlationId: one.correlationId });
    expect(two.collections.find((c: { name: string }) => c.name === 'users')).toMatchObject({ status: 'synced', synced: 40 });
    expect(bench.upstream.requestCount(tenantId, 'users')).toBe(1);
    expect(bench.upstream.recordsServed(tenantId, 'users')).toBe(40);
    await expect.poll(async () => (await runsOf(tenantId)).map((r) => r.state), { timeout: 10_000 }).toEqual(['completed']);
  });

  it('Temporal answering with an error (not a timeout, not unreachable) → fallbackReason "error", direct sync', async () => {
    // A namespace the server does not know: it answers at once, with NOT_FOUND.
    const broken = createTemporalClient({ TEMPORAL_ADDRESS: bench.deps.config.TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE: 'no-such-namespace' });
    handles.push(broken);
    const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: true }, { temporal: broken });
    const tenantId = await bench.registerTenant(a, COLLECTIONS);
    const body = (await bench.ensure(a, tenantId)).json();
    expect(body).toMatchObject({
      syncMethod: 'direct',
      fallbackUsed: true,
      fallbackReason: 'error',
      essentialReady: true,
      workflowId: WorkflowIds.tenantSync(tenantId),
    });
    expect(bench.upstream.recordsServed(tenantId, 'users')).toBe(40);
    const [run] = await runsOf(tenantId);
    expect(run).toMatchObject({
      _id: `${body.correlationId}:fallback`,
      method: 'direct',
      fallbackUsed: true,
      fallbackReason: 'error',
      state: 'completed',
    });
    // Only the essential collections are synced on fallback: the workflow carries on with the rest.
    expect(bench.upstream.requestCount(tenantId, 'audit')).toBe(0);
  });
});
