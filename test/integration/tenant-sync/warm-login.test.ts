import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import type { FastifyInstance } from 'fastify';
import { SYNC_STATE_COLLECTION, type CollectionSyncStateDoc } from '../../../activities/tenant-sync/state';
import type { Mongo } from '../../../infra/mongo';
import { Collections, tenantDbName } from '../../../infra/mongo';
import { registerMongoTenant } from '../../helpers/api';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// What a warm direct login costs MongoDB (the login hook's own client, counted from the
// driver's command events): the sync states of all its collections in ONE read, and no state
// written when nothing changed — the stored watermark already says it. A change still moves
// the watermark of the collection it touched, and only of that one.

const HOUR_AGO = () => new Date(Date.now() - 3_600_000);
const COLLECTIONS = ['users', 'roles', 'settings'];

describe('a warm direct login', () => {
  const stack = useStack();
  let client: MongoClient;
  let app: FastifyInstance;
  const commands: CommandStartedEvent[] = [];

  beforeAll(async () => {
    client = new MongoClient(stack.deps.config.MONGODB_URI, { monitorCommands: true, appName: 'warm-login-test' });
    await client.connect();
    client.on('commandStarted', (e) => commands.push(e));
    const mongo: Mongo = {
      client,
      db: client.db(stack.deps.mongo.db.databaseName),
      tenantDb: (tenantId) => client.db(tenantDbName(tenantId)),
      close: () => client.close(),
    };
    app = await stack.buildApp({ USE_TEMPORAL_FOR_AUTH: false, SYNC_FRESHNESS_MS: 0 }, { mongo });
  });
  afterAll(async () => {
    await client?.close();
  });

  it('reads every collection state in one query and writes none when nothing changed', async () => {
    const tenantId = uniqueId('warm');
    const source = stack.deps.mongo.client.db(uniqueId('warm-src').replace(/-/g, '_'));
    // Records changed an hour ago: the first sync's watermark is their time, and stays so.
    for (const c of COLLECTIONS)
      await source.collection(c).insertMany([
        { _id: `${c}-1` as never, n: 1, updatedAt: HOUR_AGO() },
        { _id: `${c}-2` as never, n: 2, updatedAt: HOUR_AGO() },
      ]);
    await registerMongoTenant(app, stack.deps, {
      tenantId,
      database: source.databaseName,
      collections: COLLECTIONS.map((name) => ({ name, essential: true })),
    });
    const headers = await stack.bearer(['sync:write'], [tenantId]);
    const login = async () => {
      const res = await app.inject({ method: 'POST', url: `/api/sync/tenants/${tenantId}/ensure`, headers });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().essentialReady).toBe(true);
      return res.json<{ correlationId: string }>();
    };
    const states = () =>
      client.db(tenantDbName(tenantId)).collection<CollectionSyncStateDoc>(SYNC_STATE_COLLECTION).find().sort({ _id: 1 }).toArray();
    const stateCommands = () =>
      commands
        .filter((e) => e.databaseName === tenantDbName(tenantId) && e.command[e.commandName] === SYNC_STATE_COLLECTION)
        .map((e) => e.commandName);

    const first = await login();
    expect((await states()).map((s) => s.lastRunId)).toEqual([first.correlationId, first.correlationId, first.correlationId]);
    const before = await states();

    commands.length = 0;
    await login();
    expect(stateCommands()).toEqual(['find']); // one read for the three collections, no write
    const perLogin = commands.length;
    const seen = commands.map((e) => `${e.commandName} ${String(e.command[e.commandName])}`);
    expect(await states()).toEqual(before);
    // A collection sync that ends within the progress interval of its start writes no progress mark.
    expect(commands.filter((e) => e.command[e.commandName] === Collections.syncProgress).map((e) => e.commandName)).toEqual([]);

    // A change in one collection moves that collection's watermark only.
    await source.collection('roles').updateOne({ _id: 'roles-1' as never }, { $set: { n: 10, updatedAt: new Date(Date.now() - 60_000) } });
    commands.length = 0;
    const third = await login();
    expect(stateCommands().sort()).toEqual(['find', 'update']);
    const after = await states();
    expect(after.map((s) => [s._id, s.lastRunId])).toEqual([
      ['roles', third.correlationId],
      ['settings', first.correlationId],
      ['users', first.correlationId],
    ]);
    expect(after.find((s) => s._id === 'roles')!.watermark).not.toBe(before.find((s) => s._id === 'roles')!.watermark);
    expect(
      await stack.deps.mongo
        .tenantDb(tenantId)
        .collection('roles')
        .findOne({ _id: 'roles-1' as never }),
    ).toMatchObject({ n: 10 });
    // Every command of the warm login: the direct-sync lease's read, insert and release, 1 state
    // read, per collection 1 emptiness check, the run record and the status — nothing else (the
    // tenant comes from the cache, no progress mark, old lease generations cleared only every few
    // takings). The boundary record the incremental read returns again (at the watermark) is known
    // from the state with the same hash: no point read of it (on FerretDB one scans the collection).
    const leaseCommands = seen.filter((c) => c.endsWith(` ${Collections.leases}`));
    expect(leaseCommands).toEqual([`find ${Collections.leases}`, `insert ${Collections.leases}`, `update ${Collections.leases}`]);
    for (const c of COLLECTIONS) expect(seen.filter((k) => k === `find ${c}`).length, `${c}: ${seen.join('; ')}`).toBe(1);
    // One spare: the tenant read again when another test's invalidation reached this app's cache.
    expect(perLogin, seen.join('; ')).toBeLessThanOrEqual(3 + 1 + COLLECTIONS.length + 2 + 1);
    expect(
      before.every((s) => s.boundary?.at === s.watermark && (s.boundary?.keys.length ?? 0) >= 1),
      JSON.stringify(before),
    ).toBe(true);
  });
});
