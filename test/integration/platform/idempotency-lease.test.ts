import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotencyRedisKey, idempotencyScope, PENDING_LEASE_MS, requestFingerprint } from '../../../api/plugins/idempotency';
import { uniqueId } from '../../helpers/stack';
import { startLoginBench, type LoginBench } from '../../helpers/login';

// An Idempotency-Key's pending claim is a lease: renewed while its request runs, so a duplicate
// gets 409 for as long as the first is in flight, however long that is; left by a process killed
// mid-request, it frees the key within PENDING_LEASE_MS (it used to hold it for 120 s).

const COLLECTIONS = [
  { name: 'users', essential: true, size: 20 },
  { name: 'roles', essential: true, size: 5 },
];
const ROUTE = '/api/sync/tenants/:tenantId/ensure';

describe('idempotency: the pending claim is a lease', () => {
  let bench: LoginBench;
  beforeAll(async () => {
    bench = await startLoginBench();
  });
  afterAll(async () => bench?.close());

  const ensure = (app: Awaited<ReturnType<LoginBench['app']>>, tenantId: string, key: string) =>
    app.inject({ method: 'POST', url: `/api/sync/tenants/${tenantId}/ensure`, headers: { ...bench.syncer, 'idempotency-key': key } });

  it('a request running longer than the lease keeps its claim: the duplicate gets 409 until it answers, then the replay', async () => {
    // One collection at a time, each answering within the source's 5 s timeout: the request lasts
    // longer than the lease.
    const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: false, LOGIN_DEADLINE_MS: 30_000, SYNC_CONCURRENCY: 1 });
    const tenantId = await bench.registerTenant(a, COLLECTIONS);
    bench.upstream.setLatency(tenantId, 'users', 3_500);
    bench.upstream.setLatency(tenantId, 'roles', 3_500);
    const key = uniqueId('slow');
    const first = ensure(a, tenantId, key);
    await expect.poll(() => bench.upstream.requestCount(tenantId, 'users'), { timeout: 10_000, interval: 20 }).toBe(1);
    await new Promise((r) => setTimeout(r, PENDING_LEASE_MS + 300));
    const dup = await ensure(a, tenantId, key);
    expect(dup.statusCode).toBe(409);
    expect(dup.headers['retry-after']).toBe('1');
    const one = await first;
    expect(one.statusCode).toBe(200);
    const replay = await ensure(a, tenantId, key);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual(one.json());
    expect(bench.upstream.requestCount(tenantId, 'users')).toBe(1);
    expect(bench.upstream.requestCount(tenantId, 'roles')).toBe(1);
  }, 30_000);

  it("a killed process's claim (nobody renews it) frees the key within the lease", async () => {
    const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: false });
    const tenantId = await bench.registerTenant(a, COLLECTIONS);
    const key = uniqueId('dead');
    // What a process killed mid-request leaves: its claim, with its own token, never renewed.
    const redisKey = idempotencyRedisKey(idempotencyScope({ sub: 'test-user', tenants: '*' } as never), 'POST', ROUTE, key);
    const fingerprint = requestFingerprint({ method: 'POST', routeUrl: ROUTE, params: { tenantId }, body: null });
    await bench.deps.redis.set(redisKey, JSON.stringify({ state: 'pending', fingerprint, claim: 'dead' }), 'PX', PENDING_LEASE_MS);
    const t0 = Date.now();
    expect((await ensure(a, tenantId, key)).statusCode).toBe(409);
    let res = await ensure(a, tenantId, key);
    while (res.statusCode === 409 && Date.now() - t0 < PENDING_LEASE_MS + 3_000) {
      await new Promise((r) => setTimeout(r, 200));
      res = await ensure(a, tenantId, key);
    }
    expect(res.statusCode).toBe(200);
    expect(Date.now() - t0).toBeLessThan(PENDING_LEASE_MS + 2_000);
    expect(bench.upstream.requestCount(tenantId, 'users')).toBe(1);
  }, 30_000);
});
