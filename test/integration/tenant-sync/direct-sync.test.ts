import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collections } from '../../../infra/mongo';
import { createRedis } from '../../../infra/redis';
import { freePort } from '../../../infra/dev/servers';
import { uniqueId } from '../../helpers/stack';
import { KEEP_OLD_GENERATIONS, tryLease, waitForLease, type LeaseDoc } from '../../../infra/mongo-lease';
import { createDirectSync, LOCK_LEASE_MS } from '../../../api/services/tenant-sync/direct-sync';
import { createTenantSyncActivities } from '../../../activities/tenant-sync/activities';
import { createSyncStore } from '../../../activities/tenant-sync/store';
import type { Collection } from 'mongodb';
import { createTemporalClient, type TemporalHandle } from '../../../infra/temporal';
import { WorkflowIds } from '../../../shared/constants';
import { startLoginBench, type LoginBench } from '../../helpers/login';

// The direct path as the README describes it: a short retry loop for retryable errors, the
// MongoDB lease single-flighting direct syncs across API processes (a waiting process answers
// from the holder's result) with Redis up or down, and the fallback reason `error` when Temporal
// answers with an error.

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

  it('two API processes: one direct sync; the other waits on the lease and answers from its result', async () => {
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

  it('Redis down: two API processes still run one direct sync (the lease is in MongoDB)', async () => {
    const dead = createRedis(
      { ...bench.deps.config, REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_COMMAND_TIMEOUT_MS: 200 },
      undefined,
      'dead',
    );
    try {
      const off = { USE_TEMPORAL_FOR_AUTH: false };
      const [a, b] = [await bench.app(off, { redis: dead, cacheRedis: dead }), await bench.app(off, { redis: dead, cacheRedis: dead })];
      const tenantId = await bench.registerTenant(a, COLLECTIONS);
      bench.upstream.setLatency(tenantId, 'users', 1_000);
      const first = bench.ensure(a, tenantId);
      await expect.poll(() => bench.upstream.requestCount(tenantId, 'users'), { timeout: 10_000, interval: 10 }).toBe(1);
      const two = (await bench.ensure(b, tenantId)).json();
      const one = (await first).json();
      expect(one).toMatchObject({ syncMethod: 'direct', essentialReady: true });
      expect(two).toMatchObject({ syncMethod: 'direct', essentialReady: true, correlationId: one.correlationId });
      expect(bench.upstream.requestCount(tenantId, 'users')).toBe(1);
      await expect.poll(async () => (await runsOf(tenantId)).map((r) => r.state), { timeout: 10_000 }).toEqual(['completed']);
    } finally {
      dead.disconnect();
    }
  });

  it('racing takers: of 20 concurrent tryLease calls on one key exactly one holds it, however often it is taken', async () => {
    const leases = bench.deps.mongo.db.collection<LeaseDoc>(Collections.leases);
    const key = `race:${uniqueId('k')}`;
    const gens = async () => (await leases.find({ key }).toArray()).map((d) => d.gen).sort((x, y) => x - y);
    for (let round = 1; round <= KEEP_OLD_GENERATIONS + 2; round++) {
      const got = await Promise.all(Array.from({ length: 20 }, () => tryLease(leases, key, 5_000)));
      const held = got.filter((g) => g !== undefined);
      expect(held).toHaveLength(1);
      await held[0]!.release();
      // Old generations stand until there are more than KEEP_OLD_GENERATIONS, then one taking clears them.
      if (round === KEEP_OLD_GENERATIONS + 1) expect(await gens()).toEqual(Array.from({ length: round }, (_, i) => i + 1));
    }
    await expect.poll(gens).toEqual([KEEP_OLD_GENERATIONS + 2]);
    // An expired generation is taken over by exactly one of the racers too.
    await leases.deleteMany({ key });
    await leases.insertOne({ _id: `${key}#9`, key, gen: 9, token: 'dead', expiresAt: new Date(Date.now() - 1), _schemaVersion: 1 });
    const got = (await Promise.all(Array.from({ length: 20 }, () => tryLease(leases, key, 5_000)))).filter((g) => g !== undefined);
    expect(got).toHaveLength(1);
    expect(await gens()).toEqual([9, 10]);
    await got[0]!.release();
  });

  it('the lock covers the non-essential phase: a login meanwhile joins (essential ready) and the rest is synced once', async () => {
    const [a, b] = [await bench.app({ USE_TEMPORAL_FOR_AUTH: false }), await bench.app({ USE_TEMPORAL_FOR_AUTH: false })];
    const tenantId = await bench.registerTenant(a, COLLECTIONS);
    bench.upstream.setLatency(tenantId, 'audit', 1_500);
    const one = (await bench.ensure(a, tenantId)).json();
    expect(one).toMatchObject({ syncMethod: 'direct', essentialReady: true });
    // A is still reading `audit` in the background when B's login comes.
    await expect.poll(() => bench.upstream.requestCount(tenantId, 'audit'), { timeout: 10_000, interval: 10 }).toBe(1);
    const t0 = Date.now();
    const two = (await bench.ensure(b, tenantId)).json();
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(two).toMatchObject({ syncMethod: 'direct', essentialReady: true, correlationId: one.correlationId });
    await expect.poll(async () => (await runsOf(tenantId)).map((r) => r.state), { timeout: 10_000 }).toEqual(['completed']);
    expect(bench.upstream.requestCount(tenantId, 'audit')).toBe(1);
    expect(bench.upstream.requestCount(tenantId, 'users')).toBe(1);
    const [run] = await runsOf(tenantId);
    // essentialReadyAt stays the time the essential collections were ready, not the run's end.
    // (Stored as dates: compared in ms; Date.parse of a Date's string would drop them.)
    expect(new Date(run!.essentialReadyAt as Date).getTime()).toBeLessThan(new Date(run!.finishedAt as Date).getTime() - 1_000);
  });

  it("a killed holder's lease: the tenant is free again within LOCK_LEASE_MS, not DIRECT_SYNC_LOCK_TTL_MS", async () => {
    const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: false });
    const tenantId = await bench.registerTenant(a, COLLECTIONS);
    // What a process killed while holding the lease leaves: a lease nobody renews.
    const leases = bench.deps.mongo.db.collection<LeaseDoc>(Collections.leases);
    const lease = LOCK_LEASE_MS;
    await leases.insertOne({
      _id: `direct-sync:${tenantId}#1`,
      key: `direct-sync:${tenantId}`,
      gen: 1,
      token: 'dead',
      expiresAt: new Date(Date.now() + lease),
      _schemaVersion: 1,
    });
    const t0 = Date.now();
    await bench.ensure(a, tenantId);
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThan(lease - 1_000);
    expect(waited).toBeLessThan(lease + 5_000);
    // The run took the next generation over (marking the dead one released, taken over by 2), and
    // marks its own released once its rest is synced.
    await expect
      .poll(
        async () =>
          (await leases.find({ key: `direct-sync:${tenantId}` }).toArray())
            .map((d) => [d.gen, d.released === true, d.takenOverBy ?? null])
            .sort(),
        { timeout: 10_000 },
      )
      .toEqual([
        [1, true, 2],
        [2, true, null],
      ]);
    // A live holder keeps renewing past the lease for as long as its run lasts; the next taker waits.
    const key = `test:${tenantId}`;
    // (2 s, not less: on a loaded CI machine a renewal every few tens of ms can come late.)
    const held = await tryLease(leases, key, 2_000, { maxHoldMs: 20_000 });
    expect(held).toBeDefined();
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await tryLease(leases, key, 2_000)).toBeUndefined();
    expect(await waitForLease(leases, key, 200)).toBe('timeout');
    await held!.markReady('run-1');
    expect(await waitForLease(leases, key, 200)).toBe('ready');
    await held!.release();
    expect(await waitForLease(leases, key, 200)).toBe('released');
    // Generations only grow (a released one is kept), so a clean-up of older ones never deletes a newer taking.
    const next = await tryLease(leases, key, 300);
    expect(next).toBeDefined();
    expect((await leases.find({ key }).toArray()).map((d) => d.gen).sort()).toEqual([1, 2]);
    await next!.release();
  }, 45_000);

  /** The leases as a process whose database calls stall sees them (a frozen server, its backlog after): its updates land `stall.ms` late. */
  const stalledLeases = () => {
    const leases = bench.deps.mongo.db.collection<LeaseDoc>(Collections.leases);
    const stall = { ms: 0 };
    const col = new Proxy(leases, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (prop === 'updateOne')
          return async (...args: Parameters<typeof leases.updateOne>) => {
            if (stall.ms > 0) await new Promise((r) => setTimeout(r, stall.ms));
            return target.updateOne(...args);
          };
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as Collection<LeaseDoc>;
    return { leases, col, stall };
  };

  it('a holder stalled past its lease: the taker marks it released, and its next renewal finds the lease lost', async () => {
    const { leases, col: stalled, stall } = stalledLeases();
    const key = `stall:${uniqueId('k')}`;
    let lostCalls = 0;
    const a = await tryLease(stalled, key, 300, { maxHoldMs: 10_000, onLost: () => lostCalls++ });
    expect(a).toBeDefined();
    stall.ms = 1_000;
    // Past a's 300 ms lease, its first renewal still in flight: b takes over.
    await new Promise((r) => setTimeout(r, 500));
    const b = await tryLease(leases, key, 3_000, { maxHoldMs: 20_000 });
    expect(b).toBeDefined();
    expect(a!.lost()).toBe(false);
    stall.ms = 0;
    // a's late renewal matches nothing: it learns it lost the lease, once.
    await expect.poll(() => a!.lost(), { timeout: 3_000, interval: 20 }).toBe(true);
    expect(lostCalls).toBe(1);
    const docs = (await leases.find({ key }).toArray()).sort((x, y) => x.gen - y.gen);
    expect(docs.map((d) => [d.gen, d.released === true, d.takenOverBy ?? null])).toEqual([
      [1, true, 2],
      [2, false, null],
    ]);
    // b still holds the key (renewing), and a's release does not free it.
    await a!.release();
    expect(await tryLease(leases, key, 300)).toBeUndefined();
    expect(b!.lost()).toBe(false);
    await b!.release();
  });

  it('a direct run that lost its lease in a stall leaves the rest of its collections to the taker and records leaseLostAt', async () => {
    const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: false });
    const tenantId = await bench.registerTenant(a, [
      { name: 'users', essential: true, size: 5 },
      { name: 'audit', essential: false, size: 5 },
      { name: 'events', essential: false, size: 5 },
    ]);
    const { leases, col, stall } = stalledLeases();
    const store = createSyncStore(bench.deps.mongo.db);
    // A 1 s lease (lockTtlMs below LOCK_LEASE_MS), one collection at a time: audit, then events.
    const direct = createDirectSync({
      activities: createTenantSyncActivities(bench.deps),
      store,
      leases: col,
      log: bench.deps.log,
      concurrency: 1,
      lockTtlMs: 1_000,
    });
    bench.upstream.setLatency(tenantId, 'audit', 3_500);
    const plan = [
      { name: 'users', essential: true },
      { name: 'audit', essential: false },
      { name: 'events', essential: false },
    ];
    const out = await direct.run(tenantId, 'corr-stalled', plan, { includeRest: true });
    expect(out.essential.map((c) => c.status)).toEqual(['synced']);
    // While audit is read, this process's renewals stall past the lease; another takes the tenant.
    stall.ms = 2_000;
    await new Promise((r) => setTimeout(r, 1_600));
    const taker = await tryLease(leases, `direct-sync:${tenantId}`, 5_000);
    expect(taker).toBeDefined();
    stall.ms = 0;
    const run = await expect
      .poll(async () => (await store.runs.findOne({ _id: 'corr-stalled' }))?.finishedAt, { timeout: 10_000 })
      .toBeDefined()
      .then(() => store.runs.findOne({ _id: 'corr-stalled' }));
    expect(run!.leaseLostAt).toBeInstanceOf(Date);
    // audit was in flight and finished; events was never started (the taker's to sync).
    expect(run!.collections.map((c) => [c.name, c.status])).toEqual([
      ['users', 'synced'],
      ['audit', 'synced'],
      ['events', 'pending'],
    ]);
    expect(bench.upstream.requestCount(tenantId, 'events')).toBe(0);
    await taker!.release();
  });

  it("the login answers before the lease's release lands; the next run in this process waits for it and syncs (not joins)", async () => {
    const tenantId = await bench.registerTenant(await bench.app({ USE_TEMPORAL_FOR_AUTH: false }), [
      { name: 'users', essential: true, size: 5 },
    ]);
    const { leases, col, stall } = stalledLeases();
    const direct = createDirectSync({
      activities: createTenantSyncActivities(bench.deps),
      store: createSyncStore(bench.deps.mongo.db),
      leases: col,
      log: bench.deps.log,
      concurrency: 1,
      lockTtlMs: 10_000,
    });
    const plan = [{ name: 'users', essential: true }];
    // Every lease update (the release) lands 600 ms late: a database busy with other writes.
    stall.ms = 600;
    const t0 = Date.now();
    const first = await direct.run(tenantId, 'corr-handoff-1', plan, { includeRest: false });
    const answeredIn = Date.now() - t0;
    expect(first).toMatchObject({ joined: false });
    expect(answeredIn).toBeLessThan(600);
    // Its run is recorded before the answer; its lease is not released yet.
    expect(await createSyncStore(bench.deps.mongo.db).runs.findOne({ _id: 'corr-handoff-1' })).not.toBeNull();
    const key = `direct-sync:${tenantId}`;
    expect((await leases.find({ key }).toArray()).map((d) => d.released === true)).toEqual([false]);
    // The next run waits for the hand-off and syncs itself: it neither joins the first nor finds its lease held.
    const second = await direct.run(tenantId, 'corr-handoff-2', plan, { includeRest: false });
    expect(second).toMatchObject({ correlationId: 'corr-handoff-2', joined: false });
    stall.ms = 0;
    await direct.settle();
    expect((await leases.find({ key }).toArray()).map((d) => [d.gen, d.released === true]).sort()).toEqual([
      [1, true],
      [2, true],
    ]);
  });

  it('LOGIN_DEADLINE_MS: a login not answered in time gets a 503 with Retry-After; its sync goes on and the next login has it', async () => {
    const a = await bench.app({ USE_TEMPORAL_FOR_AUTH: false, LOGIN_DEADLINE_MS: 400 });
    const tenantId = await bench.registerTenant(a, COLLECTIONS);
    bench.upstream.setLatency(tenantId, 'users', 1_500);
    const t0 = Date.now();
    const late = await bench.ensure(a, tenantId);
    expect(Date.now() - t0).toBeLessThan(1_200);
    expect(late.statusCode).toBe(503);
    expect(late.headers['retry-after']).toBe('1');
    expect(late.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(late.json()).toMatchObject({ status: 503, dependency: 'login-deadline' });
    // The sync it started goes on to its end, its records in; then the next login answers.
    await expect.poll(async () => (await runsOf(tenantId)).map((r) => r.state), { timeout: 10_000 }).toEqual(['completed']);
    expect(bench.upstream.recordsServed(tenantId, 'users')).toBe(40);
    bench.upstream.setLatency(tenantId, 'users', 0);
    const next = await bench.ensure(a, tenantId);
    expect(next.statusCode).toBe(200);
    expect(next.json()).toMatchObject({ essentialReady: true });
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
