import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Binary, BSON, Double, Int32, Long, MongoClient, ObjectId, UUID, type Db, type Document } from 'mongodb';
import { createTenantSyncActivities } from '../../../activities/tenant-sync/activities';
import { stackInfo, uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// A synced record is the upstream record: same _id value and BSON type, every field (its own
// version and updatedAt too), and our metadata only beside it under `_sync`. Compared byte for
// byte: BSON.serialize of each target document minus `_sync` against its source document.
// FerretDB v1.24 has no Decimal128, so the source holds every other type it stores.

const BIG = 'ø'.repeat(100_000); // 200 kB of UTF-8
const T = new Date('2024-02-01T00:00:00.000Z');

function sourceDocs(): Document[] {
  return [
    {
      _id: new ObjectId('65aa00000000000000000001'),
      version: new Int32(3),
      updatedAt: T,
      long: Long.fromString('9007199254740993'),
      smallLong: Long.fromNumber(7),
      int: new Int32(-5),
      double: new Double(2),
      fraction: 0.25,
      when: new Date('1999-12-31T23:59:59.999Z'),
      bin: new Binary(Buffer.from([0, 1, 2, 255]), 0),
      userBin: new Binary(Buffer.from('custom'), 0x80),
      uuid: new UUID('0f8fad5b-d9cb-469f-a165-70867728950e'),
      nested: { deep: { 'key with spaces': 'v', 'ünïcødé ключ 鍵 😀': [new Int32(1), 'two', { three: new Double(3) }] } },
      emptyArray: [],
      emptyObject: {},
      nothing: null,
      flag: false,
    },
    { _id: 'string-key', version: Long.fromNumber(5), updatedAt: '2024-02-01T00:00:01.000Z', big: BIG },
    // FerretDB v1.24 refuses an ObjectId and its own hex string as two _ids of one collection
    // (duplicate key; MongoDB keeps them apart), so the strings here are other values.
    { _id: '65aa00000000000000000009', note: 'a string that looks like an ObjectId' },
    // No arrays directly inside arrays: FerretDB v1.24 refuses nested arrays.
    { _id: new Int32(42), version: '10', updatedAt: T, arr: [{}, { inner: [new Date(0), {}] }] },
    { _id: new Double(2.5), plain: true },
    { _id: Long.fromNumber(1_000_000_000_000), plain: 'long key' },
    { _id: new ObjectId('65aa00000000000000000002') },
  ];
}

describe('records arrive whole', () => {
  const stack = useStack({ app: true });
  let client: MongoClient;
  let src: Db;
  let server: Server;
  let admin: Record<string, string>;
  const tenants: string[] = [];

  beforeAll(async () => {
    admin = await stack.bearer(['admin']);
    client = await new MongoClient(stackInfo().mongoUri).connect();
    src = client.db(`fid_${randomBytes(5).toString('hex')}`);
    await src.collection('things').insertMany(sourceDocs());
  });
  afterAll(async () => {
    await Promise.allSettled(tenants.map((t) => stack.deps.mongo.tenantDb(t).dropDatabase()));
    await src?.dropDatabase().catch(() => undefined);
    await client?.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function register(source: unknown, collection: string): Promise<string> {
    const tenantId = uniqueId('fid');
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: admin,
      payload: { tenantId, name: 'Fidelity', source, collections: [{ name: collection, essential: true }] },
    });
    expect(res.statusCode, res.body).toBe(201);
    tenants.push(tenantId);
    return tenantId;
  }
  const sync = (tenantId: string, collection: string, full = false) =>
    createTenantSyncActivities(stack.deps, { pageSize: 3 }).syncCollection({
      tenantId,
      collection,
      essential: true,
      correlationId: uniqueId('c'),
      full,
    });
  const all = (db: Db, name: string) => db.collection(name).find({}, { promoteValues: false }).sort({ _id: 1 }).toArray();

  it('a MongoDB source: the same _id values and BSON types, every field, byte for byte; _sync beside', async () => {
    const tenantId = await register({ kind: 'mongodb', settings: { uri: stackInfo().mongoUri, database: src.databaseName } }, 'things');
    const result = await sync(tenantId, 'things');
    expect(result).toMatchObject({ status: 'synced', synced: 7, failed: 0, conflicts: 0, mode: 'full' });

    const source = await all(src, 'things');
    const target = await all(stack.deps.mongo.tenantDb(tenantId), 'things');
    expect(target).toHaveLength(source.length);
    for (const [i, s] of source.entries()) {
      const { _sync, ...copy } = target[i]!;
      expect(Buffer.compare(BSON.serialize(copy), BSON.serialize(s)), `document ${i} (${String(s._id)})`).toBe(0);
      expect(_sync).toEqual({
        hash: expect.any(String),
        readAt: expect.any(Date),
        syncedAt: expect.any(Date),
        runId: expect.any(String),
        ...(s.version !== undefined || s.updatedAt !== undefined ? { version: expect.anything() } : {}),
      });
    }
    // Spelled out for the key types: ObjectIds and a look-alike string, Int32, Double, Int64.
    const ids = target.map((d) => d._id as unknown);
    expect(ids.map((k) => (k as { constructor: { name: string } }).constructor.name)).toEqual([
      'Double',
      'Int32',
      'Long',
      'String',
      'String',
      'ObjectId',
      'ObjectId',
    ]);
    const oidDoc = target.find((d) => d._id instanceof ObjectId && d.version !== undefined)!;
    expect(oidDoc.version).toEqual(new Int32(3));
    expect(oidDoc.updatedAt).toEqual(T);
    expect((oidDoc.long as Long).toString()).toBe('9007199254740993');
    expect(target.find((d) => (d._id as unknown) === 'string-key')!.big).toHaveLength(BIG.length);

    // Read again, the whole record hashes the same: nothing is rewritten.
    expect(await sync(tenantId, 'things', true)).toMatchObject({ synced: 0, unchanged: 7, conflicts: 0 });
  });

  it('an HTTP source keeps every field it received: id, version, updatedAt as sent, and fields it does not know', async () => {
    const records = [
      {
        id: 'h1',
        version: '7',
        updatedAt: '2024-01-01T01:00:00+01:00',
        'odd key ✓': { inner: [1, 2.5, 'x'] },
        nothing: null,
        emptyArray: [],
        emptyObject: {},
      },
      { id: 'h2', version: 2, updatedAt: '2024-01-01T00:00:00Z', extra: { deeper: { still: true } } },
    ];
    server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(req.url?.startsWith('/collections/items/records') ? { records, nextCursor: null } : { collections: ['items'] }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const tenantId = await register({ kind: 'http', settings: { baseUrl } }, 'items');
    expect(await sync(tenantId, 'items')).toMatchObject({ status: 'synced', synced: 2 });
    const target = await stack.deps.mongo.tenantDb(tenantId).collection('items').find({}).sort({ _id: 1 }).toArray();
    expect(target.map(({ _sync, ...rest }) => rest)).toEqual(records.map((r) => ({ _id: r.id, ...r })));
    expect(target[0]!._sync).toMatchObject({ version: '7' });
  });
});
