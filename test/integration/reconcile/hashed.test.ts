import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Collection, Db, Document } from 'mongodb';
import type { BatchDoc, ChunkDoc } from '../../../activities/reconcile/store';
import { hashOf, keyId, viewOf, type Key } from '../../../activities/reconcile/keys';
import { spillBucketsFor } from '../../../activities/reconcile/spill';
import { createReconcileService, type ReconcileService } from '../../../api/services/reconcile/service';
import { Collections } from '../../../infra/mongo';
import type { ReconcileProgress } from '../../../shared/reconcile';
import { driftOf, generatePair } from '../../../fixtures/reconcile-data';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';
import { spawnReconcileWorker } from '../../helpers/reconcile-worker-process';

// The hashed scan on FerretDB at a size where its sorted scans hurt (200k keys): chosen by
// `auto`, exact counts on a dry run, then a repairing run (repairMode 'rewrite', the linear one
// on FerretDB; guarded repairs of the hashed scan run in reconcile.test.ts and resilience.test.ts)
// whose worker process is SIGKILLed mid-compare — the next worker reuses the spill on this host
// and resumes after the last recorded chunk — ending with the target equal to the source. Equality is checked with
// natural-order reads (a key-ordered read would make FerretDB hold 200k documents at once).

const FINAL = ['completed', 'partial', 'failed', 'cancelled'];
const N = 200_000;

/** keyId → content hash of every record, read in natural order. */
async function contents(col: Collection<Document>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const d of col.find({}).batchSize(5_000)) out.set(keyId(d._id as Key), hashOf(viewOf(d)));
  return out;
}

describe('hashed reconcile scan (FerretDB)', () => {
  const stack = useStack();
  let data: Db;
  let svc: ReconcileService;
  const children: ChildProcess[] = [];
  const spillDir = mkdtempSync(path.join(tmpdir(), 'rc-spill-'));
  const taskQueue = uniqueId('tq-hashed');
  const ns = (collection: string) => ({ db: data.databaseName, collection });
  const chunks = () => stack.deps.mongo.db.collection<ChunkDoc>(Collections.reconcileChunks);
  const batch = (batchId: string) => stack.deps.mongo.db.collection<BatchDoc>(Collections.reconcileBatches).findOne({ _id: batchId });
  const worker = (workerId: string, chunkDelayMs: number) =>
    spawnReconcileWorker(stack.deps.config, { taskQueue, workerId, chunkDelayMs, spillDir }, (c) => children.push(c));
  const waitFinished = async (batchId: string, timeout: number): Promise<ReconcileProgress> => {
    const until = Date.now() + timeout;
    for (;;) {
      const p = await svc.progress(batchId);
      if (FINAL.includes(p.state) || Date.now() > until) return p;
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  let gen: Awaited<ReturnType<typeof generatePair>>;

  beforeAll(async () => {
    data = stack.deps.mongo.client.db(uniqueId('rchash').replace(/-/g, '_'));
    gen = await generatePair(data, { source: 'src', target: 'tgt' }, N, driftOf(N, 0.005), 20_000);
    svc = createReconcileService({
      mongo: stack.deps.mongo,
      temporal: stack.deps.temporal,
      taskQueue,
      log: stack.deps.log,
      secrets: stack.deps.secrets,
    });
  }, 240_000);
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await data?.dropDatabase().catch(() => undefined);
    rmSync(spillDir, { recursive: true, force: true });
  });

  it('auto picks the hashed scan on FerretDB: a dry run of 200k keys has exact counts and writes nothing', async () => {
    await worker('h-dry', 0);
    const { batchId } = await svc.start(
      { source: { kind: 'namespace', ...ns('src') }, target: ns('tgt'), options: { dryRun: true, progressIntervalMs: 500 } },
      'corr-hashed-dry',
    );
    const seenScanning: number[] = [];
    const until = Date.now() + 200_000;
    let p: ReconcileProgress;
    for (;;) {
      p = await svc.progress(batchId);
      if (p.scan?.phase === 'scanning') seenScanning.push(p.scan.read);
      if (FINAL.includes(p.state) || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    const { missing, extra, mismatched } = gen.drift;
    expect(p).toMatchObject({
      state: 'completed',
      processed: N + extra,
      failed: 0,
      repaired: 0,
      outcomes: { matched: N - missing - mismatched, missing_in_target: missing, extra_in_target: extra, mismatched },
      scan: { phase: 'comparing', read: N + gen.targetRecords },
    });
    // The read was seen moving with a count before the compare began.
    expect(seenScanning.length, JSON.stringify(seenScanning)).toBeGreaterThan(0);
    const doc = await batch(batchId);
    expect(doc?.plan).toMatchObject({ backend: 'ferretdb', scan: 'hashed', partitions: 1 });
    const last = await chunks().findOne({ batchId, kind: 'chunk' }, { sort: { seq: -1 } });
    expect(last?.checkpoint?.spill?.bucket).toBe(spillBucketsFor(Math.max(N, gen.targetRecords)) - 1);
    // Nothing written; the spill is gone once the partition finished.
    expect((await contents(data.collection('tgt'))).size).toBe(gen.targetRecords);
    expect(existsSync(path.join(spillDir, encodeURIComponent(batchId)))).toBe(false);
  }, 240_000);

  it('repairing run (by rewrite) with its worker SIGKILLed mid-compare: the next one reuses the spill, counts exact, target equals source', async () => {
    for (const c of children) c.kill('SIGKILL');
    const first = await worker('h-1', 40);
    const { batchId } = await svc.start(
      {
        source: { kind: 'namespace', ...ns('src') },
        target: ns('tgt'),
        options: { extras: 'delete', heartbeatTimeoutMs: 2_000, retryDelay: 100, progressIntervalMs: 0, repairMode: 'rewrite' },
      },
      'corr-hashed-kill',
    );
    await expect
      .poll(() => chunks().countDocuments({ batchId, kind: 'chunk' }), { timeout: 200_000, interval: 200 })
      .toBeGreaterThanOrEqual(10);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const recordedBeforeKill = await chunks().countDocuments({ batchId, kind: 'chunk' });
    // The dead worker's finished spill is on this host's disk: reused, not read again.
    const pDir = path.join(spillDir, encodeURIComponent(batchId), 'p0');
    expect(readdirSync(pDir).filter((d) => existsSync(path.join(pDir, d, 'manifest.json')))).toHaveLength(1);
    await worker('h-2', 0);

    const p = await waitFinished(batchId, 200_000);
    const { missing, extra, mismatched } = gen.drift;
    expect(p).toMatchObject({
      state: 'completed',
      processed: N + extra,
      failed: 0,
      conflicts: 0,
      repaired: missing + extra + mismatched,
      outcomes: { matched: N - missing - mismatched, missing_in_target: missing, extra_in_target: extra, mismatched },
    });
    const [src, tgt] = await Promise.all([contents(data.collection('src')), contents(data.collection('tgt'))]);
    expect(tgt.size).toBe(N);
    expect([...src].filter(([k, h]) => tgt.get(k) !== h)).toEqual([]);

    const docs = await chunks().find({ batchId, kind: 'chunk' }).sort({ seq: 1 }).toArray();
    expect(docs.map((d) => d.seq)).toEqual(docs.map((_, i) => i));
    const byFirst = docs.filter((d) => d.worker === 'h-1');
    const bySecond = docs.filter((d) => d.worker === 'h-2');
    expect(byFirst.length).toBe(recordedBeforeKill);
    expect(byFirst.length + bySecond.length).toBe(docs.length);
    // At most the chunk in flight at the kill was done twice: the second began right after the first's last.
    expect(bySecond[0]!.seq).toBe(byFirst.at(-1)!.seq + 1);
    expect(bySecond[0]!.resumed).toBe(true);
    const flushes = await chunks().find({ batchId, kind: 'flush' }).toArray();
    expect(flushes).toHaveLength(1);
    const sum = (k: string) => flushes.reduce((a, f) => a + ((f.delta as Record<string, number>)[k] ?? 0), 0);
    expect(sum('inserted')).toBe(missing + mismatched);
    expect(sum('deleted')).toBe(mismatched + extra);
    expect(sum('alreadyApplied')).toBe(0);
    expect(existsSync(path.join(spillDir, encodeURIComponent(batchId)))).toBe(false);
  }, 480_000);

  it("a tenant source refuses scan 'hashed' with a validation error; nothing is started", async () => {
    await expect(
      svc.start({ source: { kind: 'tenant', tenantId: 'any', collection: 'users' }, options: { scan: 'hashed' } }, 'corr-hashed-tenant'),
    ).rejects.toMatchObject({ code: 'validation-error', message: expect.stringMatching(/scan 'hashed' reads a namespace source/) });
  });
});
