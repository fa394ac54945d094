import { beforeAll, describe, expect, it } from 'vitest';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { defineMigration, loadMigrations, type Migration } from '../../../activities/migrations/registry';
import { rewriteCollection } from '../../../activities/migrations/rewrite';
import { createMigrationStore } from '../../../activities/migrations/store';
import { Collections } from '../../../infra/mongo';
import { WorkflowIds } from '../../../shared/constants';
import {
  MigrationNames,
  type MigrationResult,
  type MigrationWorkflow,
  type RunMigrationsResult,
  type RunMigrationsWorkflow,
} from '../../../shared/migrations';
import { gate, mutableRegistry, seed, stateOf } from '../../helpers/migrations';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Migrations end to end: API → RunMigrationsWorkflow → MigrationWorkflow children → activities
// → FerretDB. Each test defines its own migrations (unique names) over its own collections.

describe('migrations', () => {
  let admin: Record<string, string>;
  const registry = mutableRegistry();
  const db = () => stack.deps.mongo.db;
  const store = () => createMigrationStore(stack.deps.mongo.db);
  const coll = (p: string) => uniqueId(p).replace(/-/g, '_');
  const ok = { ok: true, message: 'fine' };

  const post = (payload: object) =>
    stack.app.inject({ method: 'POST', url: '/api/migrations/run', headers: { ...admin, 'idempotency-key': uniqueId('mk') }, payload });
  async function run(payload: object): Promise<RunMigrationsResult> {
    const res = await post(payload);
    expect(res.statusCode, res.body).toBe(202);
    return stack.deps.temporal.client.workflow.getHandle<RunMigrationsWorkflow>(res.json().workflowId).result();
  }
  const status = async () => (await stack.app.inject({ method: 'GET', url: '/api/migrations/status', headers: admin })).json();
  const names = (list: Array<{ name: string }>) => list.map((m) => m.name);

  const stack = useStack({
    worker: { settings: { tenantSync: { pageSize: 500 }, migrations: { registry, batchSize: 250 } } },
    app: { extra: { migrations: registry } },
  });
  beforeAll(async () => {
    admin = await stack.bearer(['admin']);
  });

  it('backs up, applies and verifies; records the state; does not run a completed migration again unless forced', async () => {
    const col = coll('items');
    await seed(db(), col, 600);
    const before = await stateOf(db(), [col]);
    let ups = 0;
    const name = `${uniqueId('m')}-flag-items`;
    registry.add(
      defineMigration({
        name,
        description: 'flag every item, index n',
        collections: [col],
        async up(ctx) {
          ups += 1;
          const r = await rewriteCollection(ctx, col, (d) => ({ ...d, flag: true }));
          await ctx.db.collection(col).createIndex({ n: 1 }, { name: 'n_1' });
          ctx.changes.push(`flagged ${r.changed} items`);
        },
        async verify(ctx) {
          const missing = await ctx.db.collection(col).countDocuments({ flag: { $ne: true } });
          return { ok: missing === 0, message: `${missing} unflagged` };
        },
      }),
    );

    const r = await run({ names: [name] });
    expect(r).toMatchObject({
      state: 'completed',
      results: [{ name, outcome: 'completed', changes: ['flagged 600 items'], verify: { ok: true } }],
    });
    expect(await db().collection(col).countDocuments({ flag: true })).toBe(600);
    const doc = await store().get(name);
    expect(doc).toMatchObject({ status: 'completed', step: 'done', attempts: 1, changes: ['flagged 600 items'] });
    expect(doc!.durationMs).toBeGreaterThanOrEqual(0);
    expect(doc!.finishedAt!.getTime()).toBeGreaterThanOrEqual(doc!.startedAt.getTime());
    const [backup] = doc!.backups;
    expect(backup).toMatchObject({ collection: col, existed: true, ...before[col]!.snapshot });
    // The backup collection holds exactly what was there before.
    expect((await stateOf(db(), [backup!.backupId]))[backup!.backupId]!.snapshot).toEqual(before[col]!.snapshot);
    expect(names((await status()).completed)).toContain(name);

    const again = await run({ names: [name] });
    expect(again.results[0]).toMatchObject({ name, outcome: 'skipped' });
    expect(ups).toBe(1);
    const forced = await run({ names: [name], force: true });
    expect(forced.results[0]).toMatchObject({ name, outcome: 'completed' });
    expect(ups).toBe(2);
    expect((await store().get(name))!.attempts).toBe(2);
  });

  it('dry run: up + verify against a scratch copy, reports the changes, writes nothing', async () => {
    const col = coll('dry');
    const side = coll('side');
    await seed(db(), col, 300);
    const before = await stateOf(db(), [col, side]);
    const name = `${uniqueId('m')}-dry`;
    registry.add(
      defineMigration({
        name,
        description: 'would change things',
        collections: [col],
        async up(ctx) {
          const r = await ctx.db.collection(col).updateMany({ n: { $lt: 20 } }, { $set: { x: 1 } });
          await ctx.db.collection(col).createIndex({ x: 1 }, { name: 'x_1' });
          await ctx.db.collection(side).insertOne({ note: 'undeclared write' });
          ctx.changes.push(`set x on ${r.modifiedCount}`, `dryRun=${ctx.dryRun}`);
        },
        verify: async (ctx) => ({ ok: (await ctx.db.collection(col).countDocuments({ x: 1 })) === 20, message: 'x set' }),
      }),
    );
    const r = await run({ names: [name], dryRun: true });
    const result = r.results[0] as MigrationResult;
    expect(result).toMatchObject({ name, outcome: 'dry-run', verify: { ok: true } });
    expect(result.workflowId).toMatch(/^migration-dry-run:/);
    expect(result.dryRun).toMatchObject({ changes: ['set x on 20', 'dryRun=true'], undeclared: [side] });
    expect(result.dryRun!.collections).toEqual([
      { name: col, before: before[col]!.snapshot, after: expect.any(Object), changed: true, indexesAdded: ['x_1'], indexesRemoved: [] },
    ]);
    expect(await stateOf(db(), [col, side])).toEqual(before);
    expect(await store().get(name)).toBeNull();
    expect(await store().backups.countDocuments({ migration: name })).toBe(0);
    expect(
      (await stack.deps.mongo.client.db().admin().listDatabases({ nameOnly: true })).databases
        .map((d) => d.name)
        .filter((n) => n.startsWith(`${db().databaseName}_dry_`)),
    ).toEqual([]);
    expect(names((await status()).pending)).toContain(name);
  });

  it('up throws halfway → every declared collection restored (count, checksum, indexes); state failed', async () => {
    const [a, b, c] = [coll('a'), coll('b'), coll('c')];
    await seed(db(), a, 400);
    await seed(db(), b, 100);
    await db().collection(b).createIndex({ n: -1 }, { name: 'n_desc' });
    const before = await stateOf(db(), [a, b, c]);
    const name = `${uniqueId('m')}-halfway`;
    registry.add(
      defineMigration({
        name,
        description: 'breaks halfway',
        collections: [a, b, c],
        async up(ctx) {
          await ctx.db.collection(a).updateMany({ n: { $lt: 25 } }, { $set: { score: 'broken' } });
          await ctx.db.collection(a).insertOne({ _id: 'extra' } as never);
          await ctx.db.collection(b).drop();
          await ctx.db.collection(c).insertMany([{ x: 1 }, { x: 2 }]);
          ctx.changes.push('changed a, dropped b, created c');
          throw new Error('boom halfway');
        },
        verify: async () => ok,
      }),
    );
    const r = await run({ names: [name] });
    const result = r.results[0] as MigrationResult;
    expect(r.state).toBe('failed');
    expect(result).toMatchObject({ name, outcome: 'failed', error: { step: 'apply' }, changes: ['changed a, dropped b, created c'] });
    expect(result.error!.message).toContain('boom halfway');
    expect(result.restored).toHaveLength(3);
    expect(result.restored!.every((x) => x.verified)).toBe(true);
    expect(await stateOf(db(), [a, b, c])).toEqual(before);
    const doc = await store().get(name);
    expect(doc).toMatchObject({ status: 'failed', error: { step: 'apply' } });
    expect(doc!.backups.map((x) => x.collection)).toEqual([a, b, c]);
    expect(doc!.restored).toHaveLength(3);
    const failed = (await status()).failed.find((m: { name: string }) => m.name === name);
    expect(failed).toMatchObject({ error: { step: 'apply' }, restoreFailed: null });
  });

  it('verify fails → restored to the exact data before', async () => {
    const col = coll('v');
    await seed(db(), col, 400);
    const before = await stateOf(db(), [col]);
    const name = `${uniqueId('m')}-bad-verify`;
    registry.add(
      defineMigration({
        name,
        description: 'verify says no',
        collections: [col],
        async up(ctx) {
          await rewriteCollection(ctx, col, (d) => (d.n % 2 === 0 ? { ...d, half: true } : undefined));
        },
        verify: async (ctx) => ({ ok: false, message: `${await ctx.db.collection(col).countDocuments({ half: true })} of 400 converted` }),
      }),
    );
    const r = await run({ names: [name] });
    expect(r.results[0]).toMatchObject({
      outcome: 'failed',
      error: { step: 'verify', message: 'verify failed: 200 of 400 converted' },
      verify: { ok: false },
    });
    expect(await stateOf(db(), [col])).toEqual(before);
  });

  it('one run at a time: a second start while it runs gets 409; the migration:{name} ID is the lock', async () => {
    const g = gate();
    const name = `${uniqueId('m')}-slow`;
    registry.add(defineMigration({ name, description: 'waits for the test', collections: [], up: () => g.wait, verify: async () => ok }));
    const first = await post({ names: [name] });
    expect(first.statusCode).toBe(202);
    await expect.poll(async () => (await store().get(name))?.step, { timeout: 15_000 }).toBe('apply');

    try {
      // The same migration: refused by its own lock; any other: refused by the batch lock.
      const second = await post({ names: [name] });
      expect(second.statusCode).toBe(409);
      expect(second.headers['content-type']).toContain('application/problem+json');
      expect(second.json()).toMatchObject({ status: 409, running: [WorkflowIds.migration(name)] });
      const idle = `${uniqueId('m')}-idle`;
      registry.add(
        defineMigration({ name: idle, description: 'idle', collections: [], up: async () => undefined, verify: async () => ok }),
      );
      const third = await post({ names: [idle] });
      expect(third.statusCode).toBe(409);
      expect(third.json()).toMatchObject({ status: 409, workflowId: first.json().workflowId });
      await expect(
        stack.deps.temporal.client.workflow.start<MigrationWorkflow>(MigrationNames.workflow, {
          taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
          workflowId: WorkflowIds.migration(name),
          args: [{ name }],
        }),
      ).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
      expect((await status()).running).toEqual([expect.objectContaining({ name, step: 'apply' })]);
    } finally {
      g.open();
    }
    const r = await stack.deps.temporal.client.workflow.getHandle<RunMigrationsWorkflow>(first.json().workflowId).result();
    expect(r.results[0]).toMatchObject({ name, outcome: 'completed' });

    // Started outside a batch (Temporal UI/CLI): the API still refuses to start it again.
    const g2 = gate();
    const other = `${uniqueId('m')}-slow2`;
    registry.add(defineMigration({ name: other, description: 'waits', collections: [], up: () => g2.wait, verify: async () => ok }));
    const direct = await stack.deps.temporal.client.workflow.start<MigrationWorkflow>(MigrationNames.workflow, {
      taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
      workflowId: WorkflowIds.migration(other),
      args: [{ name: other }],
    });
    await expect.poll(async () => (await store().get(other))?.step, { timeout: 15_000 }).toBe('apply');
    try {
      const refused = await post({ names: [other] });
      expect(refused.statusCode).toBe(409);
      expect(refused.json().detail).toContain(other);
    } finally {
      g2.open();
    }
    await direct.result();
  });

  it('batch with stopOnError stops at the first failure; later migrations stay pending', async () => {
    const p = uniqueId('m');
    const ran: string[] = [];
    const mk = (suffix: string, fail = false): Migration =>
      defineMigration({
        name: `${p}-${suffix}`,
        description: suffix,
        collections: [],
        async up() {
          ran.push(suffix);
          if (fail) throw new Error(`${suffix} fails`);
        },
        verify: async () => ok,
      });
    registry.add(mk('3-c'), mk('1-a'), mk('2-b', true));
    const r = await run({ names: [`${p}-3-c`, `${p}-1-a`, `${p}-2-b`], stopOnError: true });
    expect(ran).toEqual(['1-a', '2-b']);
    expect(r.results.map((x) => [x.name.slice(p.length + 1), x.outcome])).toEqual([
      ['1-a', 'completed'],
      ['2-b', 'failed'],
      ['3-c', 'pending'],
    ]);
    expect(r.results[2]!.reason).toMatch(/stopOnError/);
    const s = await status();
    expect(names(s.completed)).toContain(`${p}-1-a`);
    expect(names(s.failed)).toContain(`${p}-2-b`);
    expect(names(s.pending)).toContain(`${p}-3-c`);

    // Without stopOnError the rest still runs; the failed one runs again (it is not completed).
    const rest = await run({ names: [`${p}-2-b`, `${p}-3-c`] });
    expect(rest.results.map((x) => x.outcome)).toEqual(['failed', 'completed']);
  });

  it('rejects unknown names and non-admin tokens', async () => {
    const res = await post({ names: ['does-not-exist'] });
    expect(res.statusCode).toBe(400);
    expect(res.json().detail).toContain('does-not-exist');
    const reader = await stack.bearer(['sync:read']);
    expect((await stack.app.inject({ method: 'POST', url: '/api/migrations/run', headers: reader, payload: {} })).statusCode).toBe(403);
    expect((await stack.app.inject({ method: 'GET', url: '/api/migrations/status', headers: reader })).statusCode).toBe(403);
    expect((await post({ names: ['ok'], extra: 1 })).statusCode).toBe(400);
    // Running migrations requires an Idempotency-Key: without one nothing starts.
    const noKey = await stack.app.inject({ method: 'POST', url: '/api/migrations/run', headers: admin, payload: { names: ['ok'] } });
    expect(noKey.statusCode).toBe(400);
    expect(noKey.json().detail).toMatch(/Idempotency-Key header is required/);
  });

  it("the repository's own migrations: dry run, then apply (tenants get a status, sync_runs an index)", async () => {
    const real = await loadMigrations();
    registry.add(...real.list());
    const realNames = real.list().map((m) => m.name);
    const tenants = db().collection(Collections.tenants);
    await tenants.insertMany([
      { _id: 't1', name: 'one' },
      { _id: 't2', name: 'two' },
      { _id: 't3', name: 'three', status: 'suspended' },
    ] as never[]);
    const before = await stateOf(db(), [Collections.tenants, Collections.syncRuns]);

    const dry = await run({ names: realNames, dryRun: true });
    expect(dry.results.map((x) => x.outcome)).toEqual(realNames.map(() => 'dry-run'));
    expect(dry.results[0]!.dryRun!.changes).toEqual(["set status 'active' on 2 tenant(s)"]);
    expect(await stateOf(db(), [Collections.tenants, Collections.syncRuns])).toEqual(before);

    const r = await run({ names: realNames });
    expect(
      r.results.map((x) => x.outcome),
      JSON.stringify(r.results),
    ).toEqual(realNames.map(() => 'completed'));
    expect((await tenants.find({}, { sort: { _id: 1 } }).toArray()).map((t) => t.status)).toEqual(['active', 'active', 'suspended']);
    expect((await db().collection(Collections.syncRuns).listIndexes().toArray()).map((i) => i.name)).toContain('sync_runs_startedAt_desc');
  });
});
