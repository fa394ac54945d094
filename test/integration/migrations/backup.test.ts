import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ObjectId } from 'mongodb';
import { createBackupOps, BackupError } from '../../../activities/migrations/backup';
import { createMigrationActivities, type MigrationBatchEvent } from '../../../activities/migrations/activities';
import type { CopyCheckpoint } from '../../../activities/migrations/copy';
import { defineMigration } from '../../../activities/migrations/registry';
import { createMigrationStore } from '../../../activities/migrations/store';
import { MigrationNames, type MigrationResult, type MigrationWorkflow } from '../../../shared/migrations';
import { WorkflowIds } from '../../../shared/constants';
import { gate, mutableRegistry, seed, stateOf } from '../../helpers/migrations';
import { startTestWorker, uniqueId, type TestWorker } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Backups and restores: resumable from a heartbeat checkpoint, exact (count + checksum), and
// retention. The worker's batch hook injects one-time failures. Then the same operations as
// /api/migrations/backups routes (what `migrate backup|restore|backups|prune` call).

const BATCH = 200;

describe('migration backups', () => {
  const stack = useStack();
  let worker: TestWorker; // its own, not the stack's: one test replaces it
  const registry = mutableRegistry();
  /** One-time faults: fail the first attempt of a copy (matched by ID prefix) after `batches` batches. */
  const faults = new Map<string, number>();
  const seen: MigrationBatchEvent[] = [];
  const onBatch = (e: MigrationBatchEvent) => {
    seen.push(e);
    for (const [prefix, batches] of faults) {
      if (e.id.startsWith(prefix) && e.batches === batches && e.attempt === 1)
        throw new Error(`injected failure after ${batches} batches of ${e.id}`);
    }
  };
  const db = () => stack.deps.mongo.db;
  const coll = (p: string) => uniqueId(p).replace(/-/g, '_');

  async function runMigration(name: string): Promise<MigrationResult> {
    const handle = await stack.deps.temporal.client.workflow.start<MigrationWorkflow>(MigrationNames.workflow, {
      taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
      workflowId: WorkflowIds.migration(name),
      args: [{ name }],
    });
    try {
      return await handle.result();
    } catch (err) {
      const details = (err as { cause?: { details?: unknown[] } }).cause?.details?.[0];
      if (details) return details as MigrationResult;
      throw err;
    }
  }

  beforeAll(async () => {
    worker = await startTestWorker(stack.deps, {
      settings: { tenantSync: { pageSize: 500 }, migrations: { registry, batchSize: BATCH, onBatch } },
    });
  });
  afterAll(async () => {
    await worker?.stop();
  });

  it('a backup that fails after some batches resumes from its heartbeat checkpoint: no duplicates, exact checksum', async () => {
    const col = coll('big');
    await seed(db(), col, 1600);
    const before = await stateOf(db(), [col]);
    faults.set(`backup__${col}__`, 4);
    const name = `${uniqueId('m')}-resume-backup`;
    registry.add(
      defineMigration({
        name,
        description: 'touch one doc',
        collections: [col],
        up: async (ctx) => void (await ctx.db.collection(col).updateOne({ _id: 'd0000000' } as never, { $set: { touched: true } })),
        verify: async () => ({ ok: true, message: '' }),
      }),
    );

    const r = await runMigration(name);
    expect(r.outcome).toBe('completed');
    const ref = r.backups![0]!;
    // Batch 4 was written before the failure; the checkpoint that reached the server is an earlier batch.
    expect(ref.resumedFrom).toBeGreaterThanOrEqual(BATCH);
    expect(ref.resumedFrom! % BATCH).toBe(0);
    expect(ref.resumedFrom).toBeLessThan(4 * BATCH + 1);
    expect(seen.some((e) => e.id === ref.backupId && e.attempt === 2)).toBe(true);
    expect(ref).toMatchObject({ count: 1600, checksum: before[col]!.snapshot.checksum });
    expect((await stateOf(db(), [ref.backupId]))[ref.backupId]!.snapshot).toEqual(before[col]!.snapshot);
    expect(await createMigrationStore(db()).backups.findOne({ _id: ref.backupId })).toMatchObject({
      status: 'complete',
      count: 1600,
      migration: name,
    });
  });

  it('a restore that fails midway resumes and still ends identical to the data before', async () => {
    const col = coll('rs');
    await seed(db(), col, 1000);
    await db().collection(col).createIndex({ n: 1, at: -1 }, { name: 'n_at' });
    const before = await stateOf(db(), [col]);
    faults.set(`backup__${col}__`, 3);
    const name = `${uniqueId('m')}-resume-restore`;
    registry.add(
      defineMigration({
        name,
        description: 'drops the collection, then fails verify',
        collections: [col],
        up: async (ctx) => void (await ctx.db.collection(col).drop()),
        verify: async () => ({ ok: false, message: 'nope' }),
      }),
    );
    const r = await runMigration(name);
    expect(r).toMatchObject({ outcome: 'failed', error: { step: 'verify' } });
    expect(r.restored).toEqual([
      expect.objectContaining({ collection: col, verified: true, count: 1000, checksum: before[col]!.snapshot.checksum }),
    ]);
    expect(seen.filter((e) => e.op === 'restore' && e.id === r.backups![0]!.backupId && e.attempt === 2).length).toBeGreaterThan(0);
    expect(await stateOf(db(), [col])).toEqual(before);
  });

  it('copies resume correctly across _id types (numbers, strings, ObjectIds) and restore into another collection', async () => {
    const col = coll('mixed');
    const docs = [
      ...Array.from({ length: 120 }, (_, i) => ({ _id: i * 2, kind: 'n' })),
      ...Array.from({ length: 120 }, (_, i) => ({ _id: `s${String(i).padStart(4, '0')}`, kind: 's' })),
      ...Array.from({ length: 120 }, (_, i) => ({ _id: new ObjectId(i.toString(16).padStart(24, '0')), kind: 'o' })),
    ];
    await db()
      .collection(col)
      .insertMany([...docs].reverse() as never[]);
    const before = await stateOf(db(), [col]);
    const ops = createBackupOps(db(), { batchSize: 50 });
    for (const stopAfter of [2, 4]) {
      // First attempt stops after `stopAfter` batches; the second resumes from the last checkpoint.
      const backupId = `backup__${col}__t${stopAfter}`;
      let checkpoint: CopyCheckpoint | undefined;
      await expect(
        ops.backup(col, {
          backupId,
          onBatch: (cp) => {
            if (cp.batches === stopAfter + 1) throw new Error('stop');
            checkpoint = cp;
          },
        }),
      ).rejects.toThrow('stop');
      expect(checkpoint!.count).toBe(stopAfter * 50);
      const ref = await ops.backup(col, { backupId, from: checkpoint! });
      expect(ref).toMatchObject({ count: 360, checksum: before[col]!.snapshot.checksum });
      expect(await db().collection(backupId).countDocuments()).toBe(360);
    }
    const into = `${col}_copy`;
    const restored = await ops.restore(`backup__${col}__t4`, { into });
    expect(restored).toMatchObject({ collection: into, count: 360, verified: true });
    expect((await stateOf(db(), [into]))[into]!.snapshot).toEqual(before[col]!.snapshot);
  });

  it('refuses to restore a backup whose collection no longer matches its record', async () => {
    const col = coll('tamper');
    await seed(db(), col, 100);
    const ops = createBackupOps(db(), { batchSize: 50 });
    const ref = await ops.backup(col);
    await db()
      .collection(ref.backupId)
      .deleteOne({ _id: 'd0000001' } as never);
    await expect(ops.restore(ref.backupId)).rejects.toBeInstanceOf(BackupError);
    expect(await db().collection(col).countDocuments()).toBe(100);
    await expect(ops.restore('backup__nope__x')).rejects.toThrow(/does not exist/);
  });

  it('retention removes only backups older than the cutoff (and none of a running migration)', async () => {
    const store = createMigrationStore(db());
    const ops = createBackupOps(db(), { batchSize: 100 });
    const col = coll('ret');
    await seed(db(), col, 50);
    const [oldA, oldB, fresh, oldRunning] = [
      await ops.backup(col),
      await ops.backup(col),
      await ops.backup(col),
      await ops.backup(col, { migration: 'still-running' }),
    ];
    const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000);
    await store.backups.updateOne({ _id: oldA.backupId }, { $set: { createdAt: daysAgo(10) } });
    await store.backups.updateOne({ _id: oldB.backupId }, { $set: { createdAt: daysAgo(8) } });
    await store.backups.updateOne({ _id: fresh.backupId }, { $set: { createdAt: daysAgo(6) } });
    await store.backups.updateOne({ _id: oldRunning.backupId }, { $set: { createdAt: daysAgo(30) } });
    await store.state.insertOne({ _id: 'still-running', status: 'running' } as never);

    const activities = createMigrationActivities(stack.deps, { retentionMs: 7 * 86_400_000 });
    const r = await activities.pruneMigrationBackups();
    expect(r.expired.sort()).toEqual([oldA.backupId, oldB.backupId].sort());
    const exists = async (id: string) => (await db().listCollections({ name: id }).toArray()).length > 0;
    expect(await exists(oldA.backupId)).toBe(false);
    expect(await exists(oldB.backupId)).toBe(false);
    expect(await exists(fresh.backupId)).toBe(true);
    expect(await exists(oldRunning.backupId)).toBe(true);
    expect(await store.backups.findOne({ _id: oldA.backupId })).toMatchObject({ status: 'expired', expiredAt: expect.any(Date) });
    expect(await store.backups.findOne({ _id: fresh.backupId })).toMatchObject({ status: 'complete' });
    // An explicit age overrides the configured one; expired backups are not counted twice.
    expect((await activities.pruneMigrationBackups({ olderThanMs: 5 * 86_400_000 })).expired).toEqual([fresh.backupId]);
  });

  it('the worker goes away during apply: the next worker restores, nothing is left half-applied', async () => {
    const col = coll('crash');
    await seed(db(), col, 500);
    const before = await stateOf(db(), [col]);
    const entered = gate();
    const name = `${uniqueId('m')}-worker-lost`;
    registry.add(
      defineMigration({
        name,
        description: 'half-applies, then its worker shuts down',
        collections: [col],
        async up(ctx) {
          await ctx.db.collection(col).updateMany({ n: { $lt: 10 } }, { $set: { half: true } });
          entered.open();
          await new Promise((_, reject) =>
            ctx.signal.addEventListener('abort', () => reject(new Error('cancelled: worker shutting down'))),
          );
        },
        verify: async () => ({ ok: true, message: '' }),
      }),
    );
    const handle = await stack.deps.temporal.client.workflow.start<MigrationWorkflow>(MigrationNames.workflow, {
      taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
      workflowId: WorkflowIds.migration(name),
      args: [{ name }],
    });
    await entered.wait;
    expect(await db().collection(col).countDocuments({ half: true })).toBe(10);
    await worker.stop();
    worker = await startTestWorker(stack.deps, {
      settings: { tenantSync: { pageSize: 500 }, migrations: { registry, batchSize: BATCH, onBatch } },
    });
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    const r = (err as { cause?: { details?: MigrationResult[] } }).cause?.details?.[0];
    expect(r).toMatchObject({ outcome: 'failed', error: { step: 'apply' }, restored: [expect.objectContaining({ verified: true })] });
    expect(await stateOf(db(), [col])).toEqual(before);
    expect(await createMigrationStore(db()).get(name)).toMatchObject({ status: 'failed' });
  });
});

describe('backup routes (/api/migrations/backups)', () => {
  const stack = useStack({ app: true });
  let admin: Record<string, string>;
  const db = () => stack.deps.mongo.db;
  const coll = (p: string) => uniqueId(p).replace(/-/g, '_');
  const backupRecords = () => createMigrationStore(db()).backups.countDocuments();
  /** A POST with a fresh Idempotency-Key (none when `withKey` is false). */
  const post = (app: FastifyInstance, url: string, payload: object, withKey = true) =>
    app.inject({ method: 'POST', url, headers: { ...admin, ...(withKey ? { 'idempotency-key': uniqueId('k') } : {}) }, payload });

  beforeAll(async () => {
    admin = await stack.bearer(['admin']);
  });

  it('backs up (201), lists newest first, restores into another collection verified, prunes by age', async () => {
    const app = stack.app;
    const col = coll('api');
    await seed(db(), col, 300);
    const before = await stateOf(db(), [col]);
    const first = await post(app, '/api/migrations/backups', { collection: col });
    expect(first.statusCode, first.body).toBe(201);
    const second = await post(app, '/api/migrations/backups', { collection: col });
    const [a, b] = [first.json(), second.json()];
    expect(a).toMatchObject({ collection: col, existed: true, count: 300, checksum: before[col]!.snapshot.checksum });
    expect(a.backupId).toMatch(new RegExp(`^backup__${col}__`));

    const list = await app.inject({ method: 'GET', url: '/api/migrations/backups', headers: admin });
    expect(list.statusCode).toBe(200);
    const mine = list.json().backups.filter((x: { collection: string }) => x.collection === col);
    expect(mine.map((x: { backupId: string }) => x.backupId)).toEqual([b.backupId, a.backupId]);
    expect(mine[0]).toMatchObject({ status: 'complete', count: 300, createdAt: expect.any(String) });
    expect(mine[0].indexes).toBeUndefined();

    const into = `${col}_back`;
    const restored = await post(app, `/api/migrations/backups/${a.backupId}/restore`, { into });
    expect(restored.statusCode, restored.body).toBe(200);
    expect(restored.json()).toMatchObject({ backupId: a.backupId, collection: into, count: 300, verified: true });
    expect((await stateOf(db(), [into]))[into]!.snapshot).toEqual(before[col]!.snapshot);

    await createMigrationStore(db()).backups.updateOne(
      { _id: a.backupId },
      { $set: { createdAt: new Date(Date.now() - 400 * 86_400_000) } },
    );
    const pruned = await post(app, '/api/migrations/backups/prune', { olderThanMs: 365 * 86_400_000 });
    expect(pruned.statusCode, pruned.body).toBe(200);
    expect(pruned.json()).toMatchObject({ expired: [a.backupId], cutoff: expect.any(String) });
    expect((await db().listCollections({ name: a.backupId }).toArray()).length).toBe(0);
    expect((await db().listCollections({ name: b.backupId }).toArray()).length).toBe(1);
  });

  it('bad names and bodies → 400, a missing collection or backup → 404; nothing is written', async () => {
    const app = stack.app;
    const col = coll('bad');
    await seed(db(), col, 10);
    const ref = (await post(app, '/api/migrations/backups', { collection: col })).json() as { backupId: string };
    const records = await backupRecords();
    const cases: Array<[string, object, number, boolean?]> = [
      ['/api/migrations/backups', { collection: 'system.users' }, 400],
      ['/api/migrations/backups', { collection: 'a$b' }, 400],
      ['/api/migrations/backups', { collection: col, extra: 1 }, 400],
      ['/api/migrations/backups', { collection: col }, 400, false], // no Idempotency-Key
      ['/api/migrations/backups', { collection: coll('missing') }, 404],
      ['/api/migrations/backups/not-a-backup/restore', {}, 400],
      [`/api/migrations/backups/${ref.backupId}/restore`, { into: 'backup__other__x' }, 400],
      [`/api/migrations/backups/${ref.backupId}/restore`, { into: '$x' }, 400],
      ['/api/migrations/backups/backup__nope__x/restore', {}, 404],
      ['/api/migrations/backups/prune', { olderThanMs: -1 }, 400],
    ];
    for (const [url, payload, status, withKey] of cases) {
      const res = await post(app, url, payload, withKey);
      expect(res.statusCode, `${url} ${JSON.stringify(payload)}: ${res.body}`).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status, type: expect.stringMatching(/^urn:sync-orchestrator:problem:/) });
    }
    expect(await backupRecords()).toBe(records);
    expect((await stateOf(db(), [col]))[col]!.snapshot.count).toBe(10);
  });

  it('an unfinished or damaged backup, or a running migration, → 409 with the reason; force passes the last', async () => {
    const app = stack.app;
    const store = createMigrationStore(db());
    const col = coll('conf');
    await seed(db(), col, 50);
    const ref = (await post(app, '/api/migrations/backups', { collection: col })).json() as { backupId: string };

    await store.state.insertOne({ _id: 'api-running', status: 'running' } as never);
    const busy = await post(app, `/api/migrations/backups/${ref.backupId}/restore`, {});
    expect(busy.statusCode).toBe(409);
    expect(busy.json()).toMatchObject({ detail: expect.stringContaining('api-running'), running: ['api-running'] });
    const forced = await post(app, `/api/migrations/backups/${ref.backupId}/restore`, { force: true });
    expect(forced.statusCode, forced.body).toBe(200);
    await store.state.deleteOne({ _id: 'api-running' });

    await db()
      .collection(ref.backupId)
      .deleteOne({ _id: 'd0000001' } as never);
    const damaged = await post(app, `/api/migrations/backups/${ref.backupId}/restore`, {});
    expect(damaged.statusCode).toBe(409);
    expect(damaged.json().detail).toMatch(/no longer matches its record/);
    expect(await db().collection(col).countDocuments()).toBe(50);

    await store.backups.updateOne({ _id: ref.backupId }, { $set: { status: 'in_progress' } });
    const unfinished = await post(app, `/api/migrations/backups/${ref.backupId}/restore`, {});
    expect(unfinished.statusCode).toBe(409);
    expect(unfinished.json().detail).toMatch(/in_progress, not complete/);
  });
});
