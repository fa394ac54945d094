import { describe, expect, it } from 'vitest';
import type { Document } from 'mongodb';
import { Collections } from '../../../infra/mongo';
import { CleanupNames, CleanupTargets, type CleanupInput, type CleanupResult } from '../../../shared/cleanup';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Each retention cleanup, run as the schedules run it (cleanupWorkflow on a real worker), over
// documents seeded on both sides of its boundary: exactly the expired ones go, counts match.

const HOUR = 3_600_000;
const RETENTION = HOUR;
const old = () => new Date(Date.now() - 2 * HOUR);
const recent = () => new Date(Date.now() - 10 * 60_000);

describe('retention cleanups', () => {
  const stack = useStack({ worker: true });
  const col = (name: string) => stack.deps.mongo.db.collection<{ _id: string | number } & Document>(name);
  const ids = async (name: string) =>
    (
      await col(name)
        .find({}, { projection: { _id: 1 } })
        .toArray()
    )
      .map((d) => String(d._id))
      .sort();
  const run = (input: CleanupInput) =>
    stack.deps.temporal.client.workflow.execute<(i: CleanupInput) => Promise<CleanupResult>>(CleanupNames.cleanupWorkflow, {
      taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
      workflowId: uniqueId('cleanup-test'),
      args: [input],
      workflowExecutionTimeout: '1 minute',
    });

  it('sync runs: removes finished runs and closed findings past retention, never a running run', async () => {
    await col(Collections.syncRuns).insertMany([
      ...['old-1', 'old-2', 'old-3'].map((_id, i) => ({
        _id,
        tenantId: 't',
        state: i === 2 ? 'failed' : 'completed',
        startedAt: old(),
        collections: [],
      })),
      { _id: 'old-running', tenantId: 't', state: 'running', startedAt: old(), collections: [] },
      { _id: 'new-1', tenantId: 't', state: 'completed', startedAt: recent(), collections: [] },
      { _id: 'new-2', tenantId: 't', state: 'partial', startedAt: recent(), collections: [] },
    ]);
    await col(Collections.stuckSyncs).insertMany([
      { _id: 'old-closed', open: false, detectedAt: old() },
      { _id: 'old-open', open: true, detectedAt: old() },
      { _id: 'new-closed', open: false, detectedAt: recent() },
    ]);
    const r = await run({ target: CleanupTargets.syncRuns, retentionMs: RETENTION, batchSize: 2 });
    expect(r).toMatchObject({ target: 'sync-runs', deleted: { sync_runs: 3, stuck_syncs: 1 }, total: 4, batches: 3 });
    expect(Date.parse(r.cutoff)).toBeGreaterThan(Date.now() - RETENTION - 60_000);
    expect(await ids(Collections.syncRuns)).toEqual(['new-1', 'new-2', 'old-running']);
    expect(await ids(Collections.stuckSyncs)).toEqual(['new-closed', 'old-open']);
    // Nothing left past retention: a second run removes nothing.
    expect((await run({ target: CleanupTargets.syncRuns, retentionMs: RETENTION })).total).toBe(0);
  });

  it('reconcile: removes finished batches past retention with their chunks, errors and staged repairs', async () => {
    const batch = (_id: string, state: string, finishedAt?: Date) => ({
      _id,
      state,
      createdAt: old(),
      ...(finishedAt ? { finishedAt } : {}),
    });
    await col(Collections.reconcileBatches).insertMany([
      batch('b-old-done', 'completed', old()),
      batch('b-old-failed', 'failed', old()),
      batch('b-old-running', 'running'),
      batch('b-new-done', 'completed', recent()),
    ]);
    const children = (batchId: string, n: number, at: Date) =>
      Array.from({ length: n }, (_, i) => ({ _id: `${batchId}|${i}`, batchId, at }));
    await col(Collections.reconcileErrors).insertMany([
      ...children('b-old-done', 5, old()),
      ...children('b-old-running', 2, old()),
      ...children('b-new-done', 2, recent()),
    ]);
    await col(Collections.reconcileChunks).insertMany([...children('b-old-done', 3, old()), ...children('b-old-running', 1, old())]);
    await col(Collections.reconcilePending).insertMany([...children('b-old-done', 2, old()), ...children('b-old-running', 1, old())]);

    const r = await run({ target: CleanupTargets.reconcile, retentionMs: RETENTION, batchSize: 2 });
    expect(r.deleted).toEqual({ reconcile_errors: 5, reconcile_chunks: 3, reconcile_pending: 2, reconcile_batches: 2 });
    expect(r.total).toBe(12);
    expect(await ids(Collections.reconcileBatches)).toEqual(['b-new-done', 'b-old-running']);
    expect(await ids(Collections.reconcileErrors)).toEqual(['b-new-done|0', 'b-new-done|1', 'b-old-running|0', 'b-old-running|1']);
    expect(await ids(Collections.reconcileChunks)).toEqual(['b-old-running|0']);
    expect(await ids(Collections.reconcilePending)).toEqual(['b-old-running|0']);
  });

  it("client-upsert results: removes old history but keeps each client's latest result", async () => {
    await col(Collections.clientUpsertState).insertMany([
      { _id: 'c1', lastResultId: 'c1:old-2' },
      { _id: 'c2', lastResultId: 'c2:new-1' },
    ]);
    const result = (_id: string, at: Date) => ({ _id, startedAt: at.toISOString(), finishedAt: at.toISOString() });
    await col(Collections.clientUpsertResults).insertMany([
      result('c1:old-1', old()),
      result('c1:old-2', old()),
      result('c2:old-1', old()),
      result('c2:new-1', recent()),
      result('c1:new-0', recent()),
    ]);
    const r = await run({ target: CleanupTargets.clientUpsertResults, retentionMs: RETENTION });
    expect(r).toMatchObject({ deleted: { client_upsert_results: 2 }, total: 2, batches: 1 });
    expect(await ids(Collections.clientUpsertResults)).toEqual(['c1:new-0', 'c1:old-2', 'c2:new-1']);
  });

  it("migration backups: drops backups past retention through the migrations' prune, sparing a running migration's", async () => {
    const backup = async (_id: string, createdAt: Date, migration?: string) => {
      await col(_id).insertMany([{ _id: 1 }, { _id: 2 }, { _id: 3 }]);
      await col(Collections.migrationBackups).insertOne({
        _id,
        collection: 'things',
        ...(migration ? { migration } : {}),
        status: 'complete',
        existed: true,
        indexes: [],
        createdAt,
        count: 3,
      });
    };
    await col(Collections.migrations).insertOne({ _id: 'm-running', status: 'running' });
    await backup('backup__things__old', old());
    await backup('backup__things__oldrunning', old(), 'm-running');
    await backup('backup__things__new', recent());
    const r = await run({ target: CleanupTargets.migrationBackups, retentionMs: RETENTION });
    expect(r).toMatchObject({ target: 'migration-backups', deleted: { migration_backups: 1 }, total: 1 });
    const names = (await stack.deps.mongo.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    expect(names).not.toContain('backup__things__old');
    expect(names).toEqual(expect.arrayContaining(['backup__things__oldrunning', 'backup__things__new']));
    expect((await col(Collections.migrationBackups).findOne({ _id: 'backup__things__old' }))?.status).toBe('expired');
  });

  it('rejects an unknown target or a non-positive retention without retrying', async () => {
    // WorkflowFailedError → ActivityFailure → ApplicationFailure (the activity's message).
    const rootMessage = (p: Promise<unknown>) =>
      p.then(
        () => 'succeeded',
        (e: { cause?: { cause?: Error } }) => e.cause?.cause?.message ?? String(e),
      );
    expect(await rootMessage(run({ target: 'everything' as never, retentionMs: RETENTION }))).toMatch(
      /unknown cleanup target 'everything'/,
    );
    expect(await rootMessage(run({ target: CleanupTargets.syncRuns, retentionMs: 0 }))).toMatch(/retentionMs must be a positive number/);
  });
});
