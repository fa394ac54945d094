import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Document } from 'mongodb';
import { writeRecords } from '../../activities/record-writer';
import type { SourceRecord } from '../../activities/sources/types';
import { connectTestDeps, uniqueId, type TestDeps } from '../helpers/stack';

// The guarded writer against the real FerretDB: idempotent, never regresses a version.

const recs = (n: number, version: number, prefix = 'r'): SourceRecord[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${String(i).padStart(5, '0')}`, version, updatedAt: new Date(1_700_000_000_000 + version * 1000).toISOString(), data: { name: `n${i}`, v: version } }));

describe('writeRecords', () => {
  let deps: TestDeps;
  const col = () => deps.mongo.db.collection<Document>(uniqueId('w'));
  beforeAll(async () => {
    deps = await connectTestDeps();
  });
  afterAll(async () => deps?.close());

  it('inserts, skips unchanged, replaces newer, never regresses', async () => {
    const c = col();
    expect(await writeRecords(c, recs(120, 1), 'run1', { assumeAbsent: true })).toMatchObject({ written: 120, unchanged: 0 });
    expect(await writeRecords(c, recs(120, 1), 'run2')).toMatchObject({ written: 0, unchanged: 120 });
    // 120 replaces: more than FerretDB takes in one update command, so batching is exercised.
    expect(await writeRecords(c, recs(120, 2), 'run3')).toMatchObject({ written: 120, unchanged: 0 });
    expect(await writeRecords(c, recs(120, 1), 'stale')).toMatchObject({ written: 0, unchanged: 120 });
    const docs = await c.find({}).toArray();
    expect(docs).toHaveLength(120);
    expect(docs.every((d) => d._sync.version === 2 && d.v === 2 && d._sync.runId === 'run3')).toBe(true);
  });

  it('two racing writers that both assume an empty collection end with the newest versions and no duplicates', async () => {
    const c = col();
    const [a, b] = await Promise.all([writeRecords(c, recs(300, 3), 'a', { assumeAbsent: true }), writeRecords(c, recs(300, 4), 'b', { assumeAbsent: true })]);
    expect(await c.countDocuments()).toBe(300);
    const docs = await c.find({}).toArray();
    expect(docs.every((d) => d._sync.version === 4)).toBe(true);
    expect(b.written).toBeGreaterThan(0);
    expect(a.written + a.unchanged).toBeGreaterThanOrEqual(300);
  });

  it('rejects records whose field names could act as operators', async () => {
    const c = col();
    const counts = await writeRecords(c, [{ id: 'x', version: 1, data: { $set: { admin: true } } }, { id: 'y', version: 1, data: { 'a.b': 1 } }, { id: 'z', version: 1, data: { ok: 1 } }], 'run');
    expect(counts).toMatchObject({ written: 1, rejected: 2 });
    expect(await c.countDocuments()).toBe(1);
  });
});
