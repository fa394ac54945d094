import { describe, expect, it } from 'vitest';
import { ObjectId, type Document, type FindCursor } from 'mongodb';
import { compareChunk } from '../../../activities/reconcile/compare';
import { compareKeys, decodeKey, encodeKey, keyId, rangeFilter, type Key } from '../../../activities/reconcile/keys';
import { CursorStream, DocSourceStream, readChunk } from '../../../activities/reconcile/stream';
import { recordHash } from '../../../activities/records/hash';
import {
  finalStateOf,
  reconcileHistoryBound,
  refreshRates,
  resolveReconcileOptions,
  summarizeProgress,
  zeroCounters,
} from '../../../shared/reconcile';
import { fakeCursor } from '../../helpers/fake-cursor';

// Pure pieces of the reconcile: key order, checkpoint keys, range filters, the merge of two
// ordered streams into chunks, per-key outcomes, options and progress math.

/** A FindCursor stand-in over sorted documents, served in batches like the driver. */

const settings = { dryRun: false, extras: 'flag' as const, batchId: 'b1', tenantMode: false, now: new Date(0) };

describe('reconcile keys', () => {
  it('orders keys like the server: numbers < strings < ObjectIds < Dates, strings by UTF-8 bytes', () => {
    const keys: Key[] = [
      new Date(5),
      'b',
      new ObjectId('000000000000000000000002'),
      10,
      'a',
      2,
      new ObjectId('000000000000000000000001'),
      '\u{1F600}',
      '\uFFFD',
    ];
    const sorted = [...keys].sort(compareKeys);
    expect(sorted.slice(0, 2)).toEqual([2, 10]);
    expect(sorted.slice(2, 6)).toEqual(['a', 'b', '\uFFFD', '\u{1F600}']);
    expect((sorted[6] as ObjectId).toHexString()).toBe('000000000000000000000001');
    expect(sorted[8]).toBeInstanceOf(Date);
    expect(() => compareKeys({} as never, 'a')).toThrow(/unsupported _id type/);
  });

  it('round-trips keys through their JSON form and gives each type a distinct ID', () => {
    for (const k of ['x', 42, 1.5, new ObjectId(), new Date(1_700_000_000_000)] as Key[]) {
      const back = decodeKey(JSON.parse(JSON.stringify(encodeKey(k))));
      expect(compareKeys(back, k)).toBe(0);
    }
    expect(new Set([keyId('1'), keyId(1)]).size).toBe(2);
  });

  it('builds type-aware (lo, hi] filters', () => {
    expect(rangeFilter(null, null)).toEqual({});
    expect(rangeFilter('m', null)).toEqual({ $or: [{ _id: { $gt: 'm' } }, { _id: { $type: ['objectId', 'date'] } }] });
    expect(rangeFilter(null, new Date(0))).toEqual({
      $or: [{ _id: { $lte: new Date(0) } }, { _id: { $type: ['double', 'int', 'long', 'string', 'objectId'] } }],
    });
    expect(Object.keys(rangeFilter(1, 'z'))).toEqual(['$and']);
  });
});

describe('reconcile merge and compare', () => {
  const doc = (id: Key, v: number) => ({ _id: id, v, tags: ['a'] });

  it('merges two ordered streams into chunks of at most `max` keys and classifies each key', async () => {
    const source = new DocSourceStream(new CursorStream(fakeCursor([doc('a', 1), doc('b', 2), doc('d', 4), doc('e', 5)]), 'source'));
    const target = new CursorStream(fakeCursor([doc('a', 1), doc('b', 9), doc('c', 3), doc('e', 5)]), 'target');
    const first = await readChunk(source, target, 3);
    const second = await readChunk(source, target, 3);
    expect(first.map((i) => i.key)).toEqual(['a', 'b', 'c']);
    expect(second.map((i) => i.key)).toEqual(['d', 'e']);
    expect(await readChunk(source, target, 3)).toEqual([]);
    const cmp = compareChunk([...first, ...second], settings);
    expect(cmp.counts).toMatchObject({ processed: 5, matched: 2, mismatched: 1, extra: 1, missing: 1, flagged: 1 });
    expect(cmp.repairs.map((r) => [r.key, r.op])).toEqual([
      ['b', 'replace'],
      ['d', 'insert'],
    ]);
    expect(cmp.repairs[0]).toMatchObject({
      observedHash: recordHash({ v: 9, tags: ['a'] }),
      sourceHash: recordHash({ v: 2, tags: ['a'] }),
    });
    expect(cmp.findings).toEqual([expect.objectContaining({ key: 'c', outcome: 'extra_in_target', action: 'flagged' })]);
  });

  it('refuses a stream that is not in key order', async () => {
    const source = new DocSourceStream(new CursorStream(fakeCursor([doc('b', 1), doc('a', 2)]), 'source'));
    const target = new CursorStream(fakeCursor([]), 'target');
    await expect(readChunk(source, target, 10)).rejects.toThrow(/not in ascending order/);
  });

  it('dry run reports, delete mode stages deletes, and a newer target is a conflict, never overwritten', () => {
    const items = [
      { key: 'm', source: { key: 'm', doc: { _id: 'm', v: 1, version: 2 } }, target: { _id: 'm', v: 0, version: 3 } },
      { key: 'x', target: { _id: 'x', v: 1 } },
      { key: 'y', source: { key: 'y', doc: { _id: 'y', v: 1 } } },
    ];
    const dry = compareChunk(items, { ...settings, dryRun: true });
    expect(dry.repairs).toEqual([]);
    expect(dry.findings.map((f) => f.action)).toEqual(['reported', 'reported', 'reported']);
    const del = compareChunk(items, { ...settings, extras: 'delete' });
    expect(del.counts).toMatchObject({ conflicts: 1, flagged: 0 });
    expect(del.findings[0]).toMatchObject({ key: 'm', action: 'conflict' });
    expect(del.repairs.map((r) => [r.key, r.op])).toEqual([
      ['x', 'delete'],
      ['y', 'insert'],
    ]);
  });

  it('compares a tenant record with what tenant sync wrote, and repairs in the same shape', () => {
    const record = {
      id: 'r1',
      version: 4,
      updatedAt: '2024-01-01T00:00:00.000Z',
      data: { name: 'n', n: 1, version: 4, updatedAt: new Date('2024-01-01T00:00:00.000Z') },
    };
    const synced = {
      _id: 'r1',
      name: 'n',
      n: 1,
      version: 4,
      updatedAt: new Date('2024-01-01T00:00:00.000Z'),
      _sync: { hash: 'whatever', version: 4 },
    };
    // The record's own updatedAt is a Date: a target holding its ISO string is not the same record.
    const asText = { ...synced, updatedAt: record.updatedAt };
    expect(
      compareChunk([{ key: 'r1', source: { key: 'r1', record }, target: asText }], { ...settings, tenantMode: true }).counts.mismatched,
    ).toBe(1);
    expect(
      compareChunk([{ key: 'r1', source: { key: 'r1', record }, target: synced }], { ...settings, tenantMode: true }).counts.matched,
    ).toBe(1);
    const missing = compareChunk([{ key: 'r1', source: { key: 'r1', record } }], { ...settings, tenantMode: true });
    expect(missing.repairs[0]!.doc).toEqual({
      _id: 'r1',
      ...record.data,
      _sync: { hash: recordHash(record.data), version: 4, readAt: new Date(0), syncedAt: new Date(0), runId: 'b1' },
    });
  });
});

describe('reconcile options and progress', () => {
  it('applies defaults in one place and names the first invalid option', () => {
    expect(resolveReconcileOptions()).toMatchObject({
      chunkSize: 1000,
      maxConcurrency: 5,
      retryAttempts: 3,
      retryDelay: 5000,
      timeoutPerChunk: 600_000,
      extras: 'flag',
      dryRun: false,
    });
    expect(() => resolveReconcileOptions({ chunkSize: 0 })).toThrow(/chunkSize/);
    expect(() => resolveReconcileOptions({ extras: 'keep' as never })).toThrow(/extras/);
    expect(reconcileHistoryBound({ historyLimit: 2000, maxConcurrency: 5 })).toBe(2130);
  });

  it('derives successful, rate and ETA from the counters', () => {
    const counters = { ...zeroCounters(), processed: 500, matched: 480, missing: 10, failed: 10, chunksDone: 5 };
    const base = {
      batchId: 'b',
      workflowId: 'reconcile:b',
      correlationId: 'c',
      state: 'running' as const,
      options: { dryRun: false, extras: 'flag' as const },
      startedAt: new Date(0).toISOString(),
      runs: 1,
      totalEstimate: 1000,
    };
    const p = summarizeProgress(base, counters, { total: 2, done: 1, running: 1, failed: 0 }, 10_000);
    expect(p).toMatchObject({
      processed: 500,
      total: 1000,
      successful: 490,
      failed: 10,
      ratePerSec: 50,
      etaSeconds: 10,
      chunks: { done: 5, inFlight: 1 },
    });
    expect(refreshRates(p, 20_000)).toMatchObject({ ratePerSec: 25, etaSeconds: 20 });
    expect(finalStateOf(counters, 0, 2, false)).toBe('partial');
    expect(finalStateOf(zeroCounters(), 0, 2, false)).toBe('completed');
    expect(finalStateOf(zeroCounters(), 2, 2, false)).toBe('failed');
    expect(finalStateOf(zeroCounters(), 0, 2, true)).toBe('cancelled');
  });
});
