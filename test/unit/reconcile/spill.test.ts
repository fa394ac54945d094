import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ObjectId } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { compareSpilled } from '../../../activities/reconcile/compare';
import { keyId } from '../../../activities/reconcile/keys';
import {
  bucketOf,
  findSpill,
  keyFromId,
  newSpillDir,
  pairBucket,
  parseSpillLine,
  spillBoth,
  spillBucketsFor,
  spillLine,
  spillRootOf,
  SpillStopped,
} from '../../../activities/reconcile/spill';
import { fakeCursor } from '../../helpers/fake-cursor';
import { resolveReconcileOptions, scanModeFor, scanProgressOf, summarizeProgress, zeroCounters } from '../../../shared/reconcile';

// The hashed scan's pure parts: key IDs and their inverse, bucket choice, spill lines, pairing a
// bucket's two sides, and the scan chosen for a server.

const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'spill-test-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('hashed scan spill', () => {
  it('keyFromId inverts keyId for every key type', () => {
    const oid = new ObjectId();
    for (const k of ['a\tb\nc "quoted"', '', 42, -1.5, 1e21, oid, new Date('2024-05-01T10:00:00.000Z')]) {
      const back = keyFromId(keyId(k));
      expect(keyId(back)).toBe(keyId(k));
      expect(typeof back).toBe(typeof k);
    }
    expect(keyFromId(keyId(oid))).toBeInstanceOf(ObjectId);
    expect(() => keyFromId('x:1')).toThrow(/not a key ID/);
  });

  it('buckets are stable, in range and spread keys evenly', () => {
    expect(bucketOf('s:r000000001', 97)).toBe(bucketOf('s:r000000001', 97));
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[bucketOf(`s:r${String(i).padStart(9, '0')}`, 16)]! += 1;
    expect(Math.min(...counts)).toBeGreaterThan(800);
    expect(Math.max(...counts)).toBeLessThan(1200);
    expect(spillBucketsFor(0)).toBe(1);
    expect(spillBucketsFor(200_000)).toBe(4);
    expect(spillBucketsFor(10_000_000)).toBe(200);
    expect(spillBucketsFor(1e12)).toBe(4096);
  });

  it('a spill line keeps key, content hash and a typed version; _id and _sync are not hashed', () => {
    const at = new Date('2024-01-01T00:00:00.000Z');
    const a = parseSpillLine(spillLine({ _id: 'k1', v: 1, version: at }).line);
    const b = parseSpillLine(spillLine({ _id: 'k2', v: 1, version: at, _sync: { hash: 'x' } }).line);
    expect(a).toEqual({ id: 's:k1', hash: b.hash, version: at });
    expect(a.version).toBeInstanceOf(Date);
    expect(parseSpillLine(spillLine({ _id: 3, v: 2 }).line)).toEqual({ id: 'n:3', hash: expect.any(String) });
    expect(parseSpillLine(spillLine({ _id: 'k1', v: 2 }).line).hash).not.toBe(a.hash);
    expect(() => spillLine({ _id: { a: 1 } })).toThrow(/not a number, string, ObjectId or Date/);
  });

  it('spills both sides and pairs each bucket: every key once, outcomes as a merge would give', async () => {
    const source = Array.from({ length: 500 }, (_, i) => ({ _id: `r${String(i).padStart(4, '0')}`, n: i, version: 1 }));
    // Target: 0..19 missing, 20..39 changed, 40..44 newer version and changed, 10 extras.
    const target = [
      ...source.slice(20).map((d, i) => (i < 20 ? { ...d, n: -1 } : i < 25 ? { ...d, n: -2, version: 2 } : d)),
      ...Array.from({ length: 10 }, (_, i) => ({ _id: `x${i}`, n: 0 })),
    ].reverse();
    const pDir = spillRootOf(scratch(), 'b/1', 0);
    const reads: number[] = [];
    const m = await spillBoth({
      dir: await newSpillDir(pDir, 1),
      batchId: 'b/1',
      partition: 0,
      buckets: 3,
      source: fakeCursor(source),
      target: fakeCursor(target),
      onRead: (n) => reads.push(n),
    });
    expect(m.records).toEqual({ source: 500, target: 490 });
    expect(reads.at(-1)).toBe(990);
    expect((await findSpill(pDir, 'b/1', 3))?.dir).toBe(m.dir);
    expect(await findSpill(pDir, 'b/1', 4)).toBeNull();
    expect(await findSpill(pDir, 'other', 3)).toBeNull();

    const o = { dryRun: false, extras: 'delete' as const, batchId: 'b/1', tenantMode: false, now: new Date() };
    const seen: string[] = [];
    const tally: Record<string, number> = {};
    for (let b = 0; b < 3; b++) {
      const rows = await pairBucket(m.dir, b);
      const ids = rows.map((r) => r.id);
      expect(ids).toEqual([...ids].sort());
      for (const r of rows) {
        expect(bucketOf(r.id, 3)).toBe(b);
        seen.push(r.id);
        const res = compareSpilled(r, o);
        const kind = res.repair?.op ?? res.finding?.action ?? res.outcome;
        tally[kind] = (tally[kind] ?? 0) + 1;
        if (res.repair) expect(res.repair.doc).toBeUndefined();
      }
    }
    expect(new Set(seen).size).toBe(510);
    expect(tally).toEqual({ matched: 455, insert: 20, replace: 20, conflict: 5, delete: 10 });
  });

  it('a spill stopped by a cancel leaves no manifest, so nothing reuses it', async () => {
    const pDir = spillRootOf(scratch(), 'b2', 0);
    const stop = new AbortController();
    stop.abort();
    await expect(
      spillBoth({
        dir: await newSpillDir(pDir, 1),
        batchId: 'b2',
        partition: 0,
        buckets: 2,
        source: fakeCursor([{ _id: 1 }]),
        target: fakeCursor([{ _id: 1 }]),
        onRead: () => undefined,
        stop: stop.signal,
      }),
    ).rejects.toBeInstanceOf(SpillStopped);
    expect(await findSpill(pDir, 'b2', 2)).toBeNull();
    expect(readdirSync(pDir)).toHaveLength(1);
  });
});

describe('scan choice and its progress', () => {
  const o = (scan: 'auto' | 'ordered' | 'hashed', partitions = 0) => resolveReconcileOptions({ scan, partitions });
  it('auto is hashed on FerretDB for a namespace with planner-chosen partitions, ordered elsewhere', () => {
    expect(scanModeFor(o('auto'), 'ferretdb', 'namespace')).toBe('hashed');
    expect(scanModeFor(o('auto'), 'mongodb', 'namespace')).toBe('ordered');
    expect(scanModeFor(o('auto'), 'ferretdb', 'tenant')).toBe('ordered');
    expect(scanModeFor(o('auto', 3), 'ferretdb', 'namespace')).toBe('ordered');
    expect(scanModeFor(o('hashed'), 'mongodb', 'namespace')).toBe('hashed');
    expect(scanModeFor(o('ordered'), 'ferretdb', 'namespace')).toBe('ordered');
    expect(() => resolveReconcileOptions({ scan: 'sorted' as never })).toThrow(/scan must be one of auto, ordered, hashed/);
    expect(resolveReconcileOptions({}).repairMode).toBe('guarded');
    expect(() => resolveReconcileOptions({ repairMode: 'bulk' as never })).toThrow(/repairMode must be one of guarded, rewrite/);
  });

  it('while the spill reads, the ETA is the read’s; once it is done, the compare’s', () => {
    const cp = { seq: 0, lastKey: null, counters: zeroCounters(), flushedAt: -1, finished: false };
    const scan = scanProgressOf([{ ...cp, scan: { read: 250, of: 1000, done: false } }, null]);
    expect(scan).toEqual({ phase: 'scanning', read: 250, of: 1000 });
    expect(scanProgressOf([cp])).toBeUndefined();
    const base = {
      batchId: 'b',
      workflowId: 'w',
      correlationId: 'c',
      state: 'running' as const,
      options: { dryRun: true, extras: 'flag' as const },
      startedAt: new Date(0).toISOString(),
      runs: 1,
      totalEstimate: 500,
    };
    const parts = { total: 1, done: 0, running: 1, failed: 0 };
    // 250 of 1000 read in 10 s: 30 s to go.
    expect(summarizeProgress(base, zeroCounters(), parts, 10_000, scan)).toMatchObject({ etaSeconds: 30, scan });
    const done = scanProgressOf([{ ...cp, scan: { read: 1000, of: 1000, done: true } }]);
    expect(done?.phase).toBe('comparing');
    expect(summarizeProgress(base, { ...zeroCounters(), processed: 100 }, parts, 10_000, done).etaSeconds).toBe(40);
  });
});
