import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient, type Db, type Document } from 'mongodb';
import { SYNC_STATE_COLLECTION, type CollectionSyncStateDoc } from '../../../activities/tenant-sync/state';
import { WATERMARK_SAFETY_MS } from '../../../activities/tenant-sync/activities';
import { stackInfo, uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// What incremental sync reads next: the boundary inclusively, rejected records again until they
// can be stored, and everything again when the target lost the data its watermark describes.
// Through the login hook (direct path) against MongoDB sources on the test stack's FerretDB,
// and an HTTP one where FerretDB could not hold the upstream's records.

const BASE = Date.parse('2024-06-01T00:00:00.000Z');
const at = (s: number) => new Date(BASE + s * 1000);

type Col = {
  name: string;
  essential: boolean;
  status: string;
  synced: number;
  unchanged: number;
  failed: number;
  mode: string;
  rejectedRecords?: unknown[];
};

describe('watermarks and retriable records', () => {
  const stack = useStack({ app: { config: { SYNC_FRESHNESS_MS: 0, USE_TEMPORAL_FOR_AUTH: false } } });
  let client: MongoClient;
  const sources: Db[] = [];
  const servers: Server[] = [];
  let admin: Record<string, string>;
  let syncer: Record<string, string>;
  const tenants: string[] = [];

  beforeAll(async () => {
    admin = await stack.bearer(['admin']);
    syncer = await stack.bearer(['sync:write', 'sync:read']);
    client = await new MongoClient(stackInfo().mongoUri).connect();
  });
  afterAll(async () => {
    await Promise.allSettled(tenants.map((t) => stack.deps.mongo.tenantDb(t).dropDatabase()));
    await Promise.allSettled(sources.map((d) => d.dropDatabase()));
    await client?.close();
    await Promise.allSettled(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  /** A tenant over its own source database with one essential collection. */
  async function tenantWith(collection: string, docs: Document[]): Promise<{ tenantId: string; source: Db }> {
    const src = client.db(`wm_${randomBytes(5).toString('hex')}`);
    sources.push(src);
    if (docs.length) await src.collection(collection).insertMany(docs);
    const tenantId = uniqueId('wm');
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: admin,
      payload: {
        tenantId,
        name: 'Watermarks',
        source: { kind: 'mongodb', settings: { uri: stackInfo().mongoUri, database: src.databaseName } },
        collections: [{ name: collection, essential: true }],
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    tenants.push(tenantId);
    return { tenantId, source: src };
  }
  /** A login, then the collection's result as the tenant's status tells it (mode, unchanged…). */
  async function ensure(tenantId: string, collection: string): Promise<Col> {
    const res = await stack.app.inject({ method: 'POST', url: `/api/sync/tenants/${tenantId}/ensure`, headers: syncer });
    expect(res.statusCode, res.body).toBe(200);
    const status = await stack.app.inject({ method: 'GET', url: `/api/sync/tenants/${tenantId}/status`, headers: syncer });
    return (status.json().collections as Col[]).find((c) => c.name === collection)!;
  }
  /** A tenant over a one-page HTTP upstream that answers with `page(changedSince)`. */
  async function httpTenant(collection: string, page: (since: string | null) => unknown[]): Promise<string> {
    const server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const body = u.pathname.endsWith('/records')
        ? { records: page(u.searchParams.get('changedSince')), nextCursor: null }
        : { collections: [collection] };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const tenantId = uniqueId('wm');
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: admin,
      payload: {
        tenantId,
        name: 'Watermarks',
        source: { kind: 'http', settings: { baseUrl } },
        collections: [{ name: collection, essential: true }],
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    tenants.push(tenantId);
    return tenantId;
  }
  const target = (tenantId: string, collection: string) => stack.deps.mongo.tenantDb(tenantId).collection(collection);

  it('two records sharing one updatedAt, committed across two syncs, both arrive (inclusive boundary)', async () => {
    const { tenantId, source } = await tenantWith('users', [
      { _id: 'u1', updatedAt: at(0), v: 1 },
      { _id: 'u2', updatedAt: at(10), v: 1 },
    ]);
    expect(await ensure(tenantId, 'users')).toMatchObject({ mode: 'full', synced: 2 });
    // Committed upstream after that read, stamped with the same time as the newest record read.
    await source.collection('users').insertOne({ _id: 'u3' as never, updatedAt: at(10), v: 1 });
    expect(await ensure(tenantId, 'users')).toMatchObject({ mode: 'incremental', synced: 1, unchanged: 1 });
    expect(await target(tenantId, 'users').countDocuments()).toBe(3);
  });

  it('rejected records hold the watermark, are listed in the status with key and reason, and arrive once fixed upstream', async () => {
    // FerretDB itself stores no dotted or $-prefixed names, so this upstream speaks HTTP.
    const records: Array<Record<string, unknown>> = [
      { id: 'o1', updatedAt: at(20).toISOString(), total: 1 },
      { id: 'o2', updatedAt: at(5).toISOString(), meta: { 'a.b': 1 } },
      { id: 'o3', updatedAt: at(6).toISOString(), lines: [{ $price: 3 }] },
    ];
    const tenantId = await httpTenant('orders', (since) => records.filter((r) => !since || (r.updatedAt as string) >= since));
    const first = await ensure(tenantId, 'orders');
    expect(first).toMatchObject({ status: 'failed', synced: 1, failed: 2 });
    const status = (await stack.app.inject({ method: 'GET', url: `/api/sync/tenants/${tenantId}/status`, headers: syncer })).json();
    expect(status.failedCollections).toEqual([
      expect.objectContaining({
        name: 'orders',
        errorType: 'VALIDATION_ERROR',
        rejectedRecords: [
          { key: 'o2', keyType: 'string', reason: expect.stringMatching(/meta › a\.b contains "\."/) },
          { key: 'o3', keyType: 'string', reason: expect.stringMatching(/lines › \[0\] › \$price starts with "\$"/) },
        ],
      }),
    ]);
    // Fixed upstream without a new updatedAt (a repair script, a relaxed rule): still read again.
    records[1] = { ...records[1], meta: { ab: 1 } };
    expect(await ensure(tenantId, 'orders')).toMatchObject({ mode: 'incremental', synced: 1, failed: 1 });
    expect(await target(tenantId, 'orders').findOne({ _id: 'o2' as never })).toMatchObject({ meta: { ab: 1 } });
    records[2] = { ...records[2], lines: [{ price: 3 }] };
    expect(await ensure(tenantId, 'orders')).toMatchObject({ status: 'synced', synced: 1, failed: 0 });
    const after = (await stack.app.inject({ method: 'GET', url: `/api/sync/tenants/${tenantId}/status`, headers: syncer })).json();
    expect(after.hasFailedCollections).toBe(false);
    expect(await target(tenantId, 'orders').countDocuments()).toBe(3);
  });

  it('a dropped target database is refilled: the next sync is full and every record is back', async () => {
    const docs = Array.from({ length: 60 }, (_, i) => ({ _id: `r${String(i).padStart(3, '0')}`, updatedAt: at(i), n: i }));
    const { tenantId } = await tenantWith('items', docs);
    expect(await ensure(tenantId, 'items')).toMatchObject({ mode: 'full', synced: 60 });
    expect(await ensure(tenantId, 'items')).toMatchObject({ mode: 'incremental', synced: 0 });
    await stack.deps.mongo.tenantDb(tenantId).dropDatabase();
    expect(await ensure(tenantId, 'items')).toMatchObject({ status: 'synced', mode: 'full', synced: 60 });
    expect(await target(tenantId, 'items').countDocuments()).toBe(60);
  });

  it('a target restored from an older copy brings its older watermark: what changed since is read again', async () => {
    const docs = Array.from({ length: 30 }, (_, i) => ({ _id: `r${String(i).padStart(3, '0')}`, updatedAt: at(i), version: 1 }));
    const { tenantId, source } = await tenantWith('items', docs);
    await ensure(tenantId, 'items');
    const db = stack.deps.mongo.tenantDb(tenantId);
    const backup = {
      items: await db.collection('items').find({}, { promoteValues: false }).toArray(),
      state: await db.collection(SYNC_STATE_COLLECTION).find({}).toArray(),
    };
    const changed = ['r003', 'r010', 'r029'];
    await source
      .collection('items')
      .updateMany({ _id: { $in: changed as never[] } }, { $set: { updatedAt: at(100) }, $inc: { version: 1 } });
    expect(await ensure(tenantId, 'items')).toMatchObject({ mode: 'incremental', synced: 3 });
    // Restore the older copy, its sync state with it.
    await db.dropDatabase();
    await db.collection('items').insertMany(backup.items);
    await db.collection(SYNC_STATE_COLLECTION).insertMany(backup.state);
    expect(await ensure(tenantId, 'items')).toMatchObject({ mode: 'incremental', synced: 3 });
    const versions = await db
      .collection('items')
      .find({ _id: { $in: changed as never[] } })
      .toArray();
    expect(versions.map((d) => d.version)).toEqual([2, 2, 2]);
  });

  it('records at the watermark come back and are not read again when unchanged; one changed in place (same updatedAt) is written', async () => {
    const records: Array<Record<string, unknown>> = [
      { id: 'b1', updatedAt: at(30).toISOString(), v: 1 },
      { id: 'b2', updatedAt: at(30).toISOString(), v: 1 },
      { id: 'b0', updatedAt: at(1).toISOString(), v: 1 },
    ];
    const tenantId = await httpTenant('boundary', (since) => records.filter((r) => !since || (r.updatedAt as string) >= since));
    expect(await ensure(tenantId, 'boundary')).toMatchObject({ mode: 'full', synced: 3 });
    const state = () =>
      stack.deps.mongo.tenantDb(tenantId).collection<CollectionSyncStateDoc>(SYNC_STATE_COLLECTION).findOne({ _id: 'boundary' });
    const first = await state();
    expect(first!.boundary).toMatchObject({ at: at(30).toISOString() });
    expect(first!.boundary!.keys.map((e) => e.k).sort()).toEqual(['"b1"', '"b2"']);
    // Both come back (inclusive read) unchanged: counted unchanged, the state stays as it was.
    expect(await ensure(tenantId, 'boundary')).toMatchObject({ mode: 'incremental', synced: 0, unchanged: 2 });
    expect((await state())!.lastRunId).toBe(first!.lastRunId);
    // Changed upstream without a new updatedAt: its hash differs, so it is written.
    records[1] = { ...records[1], v: 2 };
    expect(await ensure(tenantId, 'boundary')).toMatchObject({ mode: 'incremental', synced: 1, unchanged: 1 });
    expect(await target(tenantId, 'boundary').findOne({ _id: 'b2' as never })).toMatchObject({ v: 2 });
    expect((await state())!.boundary!.keys.find((e) => e.k === '"b2"')!.h).not.toBe(first!.boundary!.keys.find((e) => e.k === '"b2"')!.h);
    // More records at one time than a boundary keeps: none is kept, each is read as before.
    for (let i = 0; i < 70; i++) records.push({ id: `m${i}`, updatedAt: at(40).toISOString(), v: 1 });
    expect(await ensure(tenantId, 'boundary')).toMatchObject({ synced: 70 });
    expect((await state())!.boundary).toBeUndefined();
    expect(await ensure(tenantId, 'boundary')).toMatchObject({ synced: 0, unchanged: 70 });
    expect(await target(tenantId, 'boundary').countDocuments()).toBe(73);
  });

  it('the watermark is capped at the sync start minus 2 s: a record stamped in the future does not hide later ones', async () => {
    // A clock-skewed upstream: one record an hour ahead of us.
    const { tenantId, source } = await tenantWith('events', [
      { _id: 'e1', updatedAt: at(0), v: 1 },
      { _id: 'e2', updatedAt: new Date(Date.now() + 3_600_000), v: 1 },
    ]);
    const before = Date.now();
    expect(await ensure(tenantId, 'events')).toMatchObject({ mode: 'full', synced: 2 });
    const after = Date.now();
    const state = await stack.deps.mongo
      .tenantDb(tenantId)
      .collection<CollectionSyncStateDoc>(SYNC_STATE_COLLECTION)
      .findOne({ _id: 'events' });
    const watermark = Date.parse(state!.watermark!);
    expect(WATERMARK_SAFETY_MS).toBe(2_000);
    expect(watermark).toBeGreaterThanOrEqual(before - WATERMARK_SAFETY_MS);
    expect(watermark).toBeLessThanOrEqual(after - WATERMARK_SAFETY_MS);
    // Changed upstream after that sync, stamped now (before the future record): still read.
    await source.collection('events').insertOne({ _id: 'e3' as never, updatedAt: new Date(), v: 1 });
    expect(await ensure(tenantId, 'events')).toMatchObject({ mode: 'incremental', synced: 1, unchanged: 1 });
    expect(await target(tenantId, 'events').countDocuments()).toBe(3);
  });
});
