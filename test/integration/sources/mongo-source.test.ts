import { randomBytes } from 'node:crypto';
import { Int32, MongoClient, ObjectId, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMongoSource, SourceError, type SourceConnector, type SourceRecord } from '../../../activities/sources';
import { keyOf } from '../../../activities/records/key-order';
import { freePort } from '../../../infra/dev/servers';
import { stackInfo } from '../../helpers/stack';

// The MongoDB source against the real FerretDB of the test stack: key-ordered paging, the
// changed-since filter over Date and ISO-string timestamps, and error mapping.

const BASE_MS = Date.parse('2024-03-01T00:00:00.000Z');
const at = (i: number) => new Date(BASE_MS + i * 1000);

async function readAll(source: SourceConnector, collection: string, limit: number, changedSince?: string) {
  const records: SourceRecord[] = [];
  const cursors: Array<string | null> = [];
  let after: string | null = null;
  do {
    const page = await source.readPage(collection, { after, limit, changedSince });
    records.push(...page.records);
    after = page.nextCursor;
    cursors.push(after);
  } while (after);
  return { records, cursors };
}

describe('mongodb source (real FerretDB)', () => {
  let client: MongoClient;
  let db: Db;
  let source: SourceConnector;
  const dbName = `src_${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    const { mongoUri } = stackInfo();
    client = await new MongoClient(mongoUri).connect();
    db = client.db(dbName);
    const docs = Array.from({ length: 1_200 }, (_, i) => ({
      _id: `doc-${String(i + 1).padStart(5, '0')}`,
      version: 1,
      updatedAt: at(i),
      name: `n${i + 1}`,
      nested: { k: i },
    }));
    await db.collection<{ _id: string }>('users').insertMany(docs);
    await db.collection<{ _id: string }>('roles').insertMany(
      Array.from({ length: 30 }, (_, i) => ({
        _id: `role-${String(i + 1).padStart(3, '0')}`,
        version: `v${i}`,
        updatedAt: at(i).toISOString(),
      })),
    );
    await db.collection('oids').insertMany(Array.from({ length: 5 }, (_, i) => ({ _id: new ObjectId(), i })));
    source = createMongoSource({ uri: mongoUri, database: dbName });
  });
  afterAll(async () => {
    await source?.close();
    await db?.dropDatabase().catch(() => undefined);
    await client?.close();
  });

  it('lists the collections by name', async () => {
    expect(await source.listCollections()).toEqual(['oids', 'roles', 'users']);
  });

  it('pages 1,200 documents in _id order, each once and whole (BSON types kept), version and updatedAt read', async () => {
    const { records, cursors } = await readAll(source, 'users', 500);
    expect(cursors).toEqual(['doc-00500', 'doc-01000', null]);
    expect(records.map((r) => r.id)).toEqual(Array.from({ length: 1_200 }, (_, i) => `doc-${String(i + 1).padStart(5, '0')}`));
    expect(records[7]).toEqual({
      id: 'doc-00008',
      version: new Int32(1),
      updatedAt: at(7).toISOString(),
      data: { version: new Int32(1), updatedAt: at(7), name: 'n8', nested: { k: new Int32(7) } },
    });
    // A cursor handed out earlier still works when its scan is gone: a fresh query resumes after it.
    const again = await source.readPage('users', { after: 'doc-00500', limit: 3 });
    expect(again.records.map((r) => r.id)).toEqual(['doc-00501', 'doc-00502', 'doc-00503']);
    const exact = await source.readPage('users', { after: 'doc-01100', limit: 100 });
    expect(exact.records).toHaveLength(100);
    expect(exact.nextCursor).toBeNull();
  });

  it('reads only documents changed at or after the watermark (inclusive), for Date and ISO-string timestamps', async () => {
    const watermark = at(5_000).toISOString();
    const changed = ['doc-00003', 'doc-00250', 'doc-00251', 'doc-00777', 'doc-01200'];
    const ids = [...changed.slice(0, 1), 'doc-00004', ...changed.slice(1)];
    await db
      .collection<{ _id: string }>('users')
      .updateMany({ _id: { $in: changed } }, { $set: { updatedAt: at(6_000) }, $inc: { version: 1 } });
    await db.collection<{ _id: string }>('users').updateOne({ _id: 'doc-00004' }, { $set: { updatedAt: at(5_000) } });
    await db.collection<{ _id: string }>('roles').updateOne({ _id: 'role-007' }, { $set: { updatedAt: at(7_000).toISOString() } });
    const { records, cursors } = await readAll(source, 'users', 2, watermark);
    expect(records.map((r) => r.id)).toEqual(ids);
    expect(cursors).toHaveLength(3);
    const changedRecords = records.filter((r) => r.id !== 'doc-00004');
    expect(changedRecords.every((r) => Number(r.version) === 2 && r.updatedAt === at(6_000).toISOString())).toBe(true);
    // The boundary itself: a record whose updatedAt equals the watermark is read too.
    expect(records.find((r) => r.id === 'doc-00004')?.updatedAt).toBe(watermark);
    const roles = await readAll(source, 'roles', 10, watermark);
    expect(roles.records).toEqual([
      { id: 'role-007', version: 'v6', updatedAt: at(7_000).toISOString(), data: { version: 'v6', updatedAt: at(7_000).toISOString() } },
    ]);
  });

  it('pages ObjectId keys through tagged cursors', async () => {
    const expected = (await db.collection('oids').find().sort({ _id: 1 }).toArray()).map((d) => String(d._id));
    const { records, cursors } = await readAll(source, 'oids', 2);
    expect(records.every((r) => r.id instanceof ObjectId)).toBe(true);
    expect(records.map((r) => String(r.id))).toEqual(expected);
    expect(cursors[0]).toBe(`oid:${expected[1]}`);
    const fresh = await source.readPage('oids', { after: `oid:${expected[0]}`, limit: 10 });
    expect(fresh.records.map((r) => String(r.id))).toEqual(expected.slice(1));
  });

  it('pages mixed number, string, ObjectId and Date keys in BSON order, also from a fresh query per page', async () => {
    const oids = [new ObjectId('00000000000000000000000a'), new ObjectId('00000000000000000000000b')];
    const keys = [3, 10.5, 'a', 'oid:look-alike', 'z', oids[0]!, oids[1]!, new Date(5)];
    await db.collection('mixed').insertMany([...keys].reverse().map((k, i) => ({ _id: k as never, i })));
    const viaScan = await readAll(source, 'mixed', 2);
    // Raw keys: numbers stay Int32/Double (their BSON types), compared here by value.
    expect(viaScan.records.map((r) => keyOf(r.id))).toEqual(keys);
    expect(viaScan.records[0]!.id).toBeInstanceOf(Int32);
    // A cursor whose scan is gone (another connector, a retried activity) still reaches the later types.
    const ids: unknown[] = [];
    for (let after: string | null = null; ;) {
      const fresh = createMongoSource({ uri: stackInfo().mongoUri, database: dbName });
      const page = await fresh.readPage('mixed', { after, limit: 2 });
      await fresh.close();
      ids.push(...page.records.map((r) => keyOf(r.id)));
      if (!(after = page.nextCursor)) break;
    }
    expect(ids).toEqual(keys);
  });

  it('keeps the caller abort reason, and maps an unreachable server to NETWORK_ERROR', async () => {
    const reason = new Error('cancelled');
    const ctrl = new AbortController();
    ctrl.abort(reason);
    await expect(source.readPage('users', { limit: 10, signal: ctrl.signal })).rejects.toBe(reason);
    const dead = createMongoSource({
      uri: `mongodb://user:pw-Secret@127.0.0.1:${await freePort()}/?serverSelectionTimeoutMS=300`,
      database: dbName,
    });
    const err = await dead.readPage('users', { limit: 10 }).catch((e: unknown) => e);
    await dead.close();
    expect(err).toBeInstanceOf(SourceError);
    expect((err as SourceError).errorType).toBe('NETWORK_ERROR');
    expect((err as SourceError).message).not.toContain('pw-Secret');
  });

  it('rejects a bad URI, page limit or cursor as VALIDATION_ERROR', async () => {
    const badUri = createMongoSource({ uri: 'mongo://nowhere', database: dbName });
    await expect(badUri.listCollections()).rejects.toMatchObject({ errorType: 'VALIDATION_ERROR' });
    await expect(source.readPage('users', { limit: 0 })).rejects.toMatchObject({ errorType: 'VALIDATION_ERROR' });
    await expect(source.readPage('oids', { limit: 5, after: 'oid:not-hex' })).rejects.toMatchObject({
      errorType: 'VALIDATION_ERROR',
      details: { collection: 'oids' },
    });
  });
});
