import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { Db } from 'mongodb';
import { createActivities } from '../../../activities';
import { workflowSinks } from '../../../workers/telemetry';
import type { ChunkDoc } from '../../../activities/reconcile/store';
import { createReconcileService, type ReconcileService } from '../../../api/services/reconcile/service';
import { Collections } from '../../../infra/mongo';
import { WorkflowIds } from '../../../shared/constants';
import { reconcileHistoryBound, resolveReconcileOptions, type ReconcileProgress } from '../../../shared/reconcile';
import { driftOf, generatePair, rawCompare } from '../../../fixtures/reconcile-data';
import { stackInfo, uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';
import { spawnReconcileWorker } from '../../helpers/reconcile-worker-process';

// A worker process killed mid-run, and a run of thousands of chunks spread over two workers
// and several continue-as-new runs.

const FINAL = ['completed', 'partial', 'failed', 'cancelled'];

describe('reconcile resilience', () => {
  const stack = useStack();
  let data: Db;
  const children: ChildProcess[] = [];
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    data = stack.deps.mongo.client.db(uniqueId('rcres').replace(/-/g, '_'));
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.allSettled(stops.map((s) => s()));
    await data?.dropDatabase().catch(() => undefined);
  });

  const spawnWorker = (taskQueue: string, workerId: string, chunkDelayMs: number) =>
    spawnReconcileWorker(stack.deps.config, { taskQueue, workerId, chunkDelayMs }, (c) => children.push(c));

  const waitFinished = async (svc: ReconcileService, batchId: string, timeout = 80_000): Promise<ReconcileProgress> => {
    const until = Date.now() + timeout;
    for (;;) {
      const p = await svc.progress(batchId);
      if (FINAL.includes(p.state) || Date.now() > until) return p;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const chunks = () => stack.deps.mongo.db.collection<ChunkDoc>(Collections.reconcileChunks);
  const ns = (collection: string) => ({ db: data.databaseName, collection });

  it('SIGKILL of the worker process mid-run: a new worker resumes after the last recorded chunk, counts exact, no duplicate writes', async () => {
    const taskQueue = uniqueId('tq-kill');
    const n = 6_000;
    const gen = await generatePair(data, { source: 'ksrc', target: 'ktgt' }, n, driftOf(n, 0.03));
    const svc = createReconcileService({
      mongo: stack.deps.mongo,
      temporal: stack.deps.temporal,
      taskQueue,
      log: stack.deps.log,
      secrets: stack.deps.secrets,
    });
    const first = await spawnWorker(taskQueue, 'child-1', 60);
    const { batchId } = await svc.start(
      {
        source: { kind: 'namespace', ...ns('ksrc') },
        target: ns('ktgt'),
        options: { chunkSize: 200, extras: 'delete', heartbeatTimeoutMs: 2_000, retryDelay: 100, progressIntervalMs: 0 },
      },
      'corr-kill',
    );
    await expect
      .poll(() => chunks().countDocuments({ batchId, kind: 'chunk' }), { timeout: 40_000, interval: 50 })
      .toBeGreaterThanOrEqual(8);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const recordedBeforeKill = await chunks().countDocuments({ batchId, kind: 'chunk' });
    expect(recordedBeforeKill).toBeLessThan(Math.ceil((n + gen.drift.extra) / 200));
    await spawnWorker(taskQueue, 'child-2', 0);

    const p = await waitFinished(svc, batchId);
    const { missing, extra, mismatched } = gen.drift;
    expect(p).toMatchObject({
      state: 'completed',
      processed: n + extra,
      failed: 0,
      conflicts: 0,
      repaired: missing + extra + mismatched,
      outcomes: { matched: n - missing - mismatched, missing_in_target: missing, extra_in_target: extra, mismatched },
    });
    expect(await rawCompare(data.collection('ksrc'), data.collection('ktgt'))).toEqual({
      processed: n,
      matched: n,
      missing: 0,
      extra: 0,
      mismatched: 0,
    });

    const docs = await chunks().find({ batchId, kind: 'chunk' }).sort({ _id: 1 }).toArray();
    expect(docs.map((d) => d.seq)).toEqual(docs.map((_, i) => i));
    const byFirst = docs.filter((d) => d.worker === 'child-1');
    const bySecond = docs.filter((d) => d.worker === 'child-2');
    expect(byFirst.length).toBe(recordedBeforeKill);
    expect(byFirst.length + bySecond.length).toBe(docs.length);
    // The second worker started right after the last chunk the first one recorded: at most the
    // chunk in flight at the kill was done twice.
    expect(bySecond[0]!.seq).toBe(byFirst.at(-1)!.seq + 1);
    expect(bySecond[0]!.resumed).toBe(true);
    // Every repair written once: inserts = missing + mismatched, deletes = mismatched + extras.
    const flushes = await chunks().find({ batchId, kind: 'flush' }).toArray();
    const sum = (k: string) => flushes.reduce((a, f) => a + ((f.delta as Record<string, number>)[k] ?? 0), 0);
    expect(sum('inserted')).toBe(missing + mismatched);
    expect(sum('alreadyApplied')).toBe(0);
    expect(sum('deleted')).toBe(mismatched + extra);
  }, 120_000);

  it('thousands of chunks over two workers: every continue-as-new run stays under the stated history bound', async () => {
    const taskQueue = uniqueId('tq-hist');
    const n = 4_000;
    const gen = await generatePair(data, { source: 'hsrc', target: 'htgt' }, n, driftOf(n, 0.03));
    const code = readFileSync(stackInfo().bundlePath, 'utf8');
    try {
      Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
    } catch {
      // installed already in this process
    }
    for (const workerId of ['wa', 'wb']) {
      const connection = await NativeConnection.connect({ address: stack.deps.config.TEMPORAL_ADDRESS });
      const w = await Worker.create({
        connection,
        namespace: stack.deps.config.TEMPORAL_NAMESPACE,
        taskQueue,
        workflowBundle: { code },
        activities: createActivities(stack.deps, { reconcile: { workerId } }),
        // The bundle's telemetry interceptors report through these sinks (no-ops without telemetry).
        sinks: workflowSinks(undefined),
        // One partition each at a time: the run's two partitions land on both workers.
        maxConcurrentActivityTaskExecutions: 1,
        shutdownGraceTime: '1 second',
      });
      const running = w.run();
      stops.push(async () => {
        w.shutdown();
        await running;
        await connection.close();
      });
    }
    const svc = createReconcileService({
      mongo: stack.deps.mongo,
      temporal: stack.deps.temporal,
      taskQueue,
      log: stack.deps.log,
      secrets: stack.deps.secrets,
    });
    const options = {
      dryRun: true,
      chunkSize: 2,
      partitions: 2,
      maxConcurrency: 2,
      progressIntervalMs: 0,
      historyLimit: 600,
      heartbeatTimeoutMs: 2_000,
    };
    const { batchId } = await svc.start({ source: { kind: 'namespace', ...ns('hsrc') }, target: ns('htgt'), options }, 'corr-hist');
    const p = await waitFinished(svc, batchId, 100_000);
    const { missing, extra, mismatched } = gen.drift;
    const keys = n + extra;
    expect(p).toMatchObject({
      state: 'completed',
      processed: keys,
      failed: 0,
      outcomes: { matched: n - missing - mismatched, missing_in_target: missing, extra_in_target: extra, mismatched },
    });
    expect(p.chunks.done).toBeGreaterThanOrEqual(Math.ceil(keys / 2));
    expect(p.runs).toBeGreaterThan(1);

    const bound = reconcileHistoryBound(resolveReconcileOptions(options));
    const lengths: number[] = [];
    for await (const e of stack.deps.temporal.client.workflow.list({ query: `WorkflowId = '${WorkflowIds.reconcile(batchId)}'` })) {
      lengths.push((await stack.deps.temporal.client.workflow.getHandle(e.workflowId, e.runId).fetchHistory()).events?.length ?? 0);
    }
    expect(lengths.length).toBe(p.runs);
    // Runs ended because their history reached the limit, and none went past the bound.
    expect(Math.max(...lengths)).toBeGreaterThanOrEqual(options.historyLimit);
    for (const len of lengths) expect(len).toBeLessThanOrEqual(bound);
    const workers = new Set(
      (
        await chunks()
          .find({ batchId, kind: 'chunk' }, { projection: { worker: 1 } })
          .toArray()
      ).map((d) => d.worker),
    );
    expect([...workers].sort()).toEqual(['wa', 'wb']);
  }, 120_000);
});
