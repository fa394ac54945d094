import { beforeAll, describe, expect, it } from 'vitest';
import { createTenantSyncActivities } from '../../../activities/tenant-sync/activities';
import { Collections } from '../../../infra/mongo';
import { tenantDbName } from '../../../infra/tenant-db-name';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Tenant databases never shared: IDs differing only in case or punctuation get their own, and a
// registration whose database would clash with an existing tenant's (or an existing database
// differing only in case, as MongoDB compares them) is refused with 409 and writes nothing.

describe('tenant database names at registration', () => {
  const stack = useStack({ app: true });
  let admin: Record<string, string>;
  const tenants = () => stack.deps.mongo.db.collection(Collections.tenants);
  const body = (tenantId: string) => ({
    tenantId,
    name: tenantId,
    source: { kind: 'http', settings: { baseUrl: 'http://127.0.0.1:9/x', token: 'tok' } },
    collections: [{ name: 'users', essential: true }],
  });
  const post = (tenantId: string, headers = admin) =>
    stack.app.inject({ method: 'POST', url: '/api/tenants', headers, payload: body(tenantId) });

  beforeAll(async () => {
    admin = await stack.bearer(['admin']);
  });

  it('gives IDs that differ only in case, `_` or `.` databases that differ case-insensitively', async () => {
    const u = uniqueId('x').slice(2);
    const ids = [`Acme-${u}`, `acme-${u}`, `a.b-${u}`, `a_b-${u}`];
    for (const id of ids) expect((await post(id)).statusCode, id).toBe(201);
    const stored = await tenants()
      .find({ _id: { $in: ids } } as never)
      .toArray();
    const names = stored.map((t) => String(t.dbName).toLowerCase());
    expect(names).toHaveLength(4);
    expect(new Set(names).size).toBe(4);
    expect(stored.find((t) => t._id === (`acme-${u}` as never))?.dbName).toBe(`tenant_acme-${u}`);
    // Registering the same ID again updates it: no clash with itself.
    expect((await post(`Acme-${u}`)).statusCode).toBe(200);
  });

  it('refuses a new ID whose database another tenant already has (as a hash collision would): 409, nothing written', async () => {
    const longId = `long-${uniqueId('h')}-${'x'.repeat(48)}`.slice(0, 64);
    const dbName = tenantDbName(longId);
    expect(dbName).toMatch(/_1[0-9a-f]{16}$/);
    const holder = uniqueId('holder');
    const now = new Date();
    await tenants().insertOne({
      _id: holder,
      name: holder,
      source: { kind: 'http', settings: { baseUrl: 'http://127.0.0.1:9/' } },
      collections: [],
      dbName,
      createdAt: now,
      updatedAt: now,
    } as never);
    const before = await tenants().countDocuments();

    const res = await post(longId);
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 409, database: dbName, clashesWith: holder });
    expect(res.json().detail).toContain(`database '${dbName}'`);
    expect(res.json().detail).toContain(`tenant '${holder}'`);
    expect(await tenants().findOne({ _id: longId } as never)).toBeNull();
    expect(await tenants().countDocuments()).toBe(before);

    // An admin limited to the new ID learns that it clashes, not which tenant holds the name.
    const limited = await post(longId, await stack.bearer(['admin'], [longId]));
    expect(limited.statusCode).toBe(409);
    expect(limited.body).not.toContain(holder);
    expect(limited.json().detail).toContain('another tenant');
  });

  it('refuses an ID whose database exists under another case (MongoDB would refuse to create it)', async () => {
    const u = uniqueId('c').slice(2);
    const cased = `tenant_Legacy-${u}`;
    await stack.deps.mongo.client
      .db(cased)
      .collection('users')
      .insertOne({ _id: 'u1' } as never);
    try {
      const res = await post(`legacy-${u}`);
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ database: `tenant_legacy-${u}` });
      expect(res.json().detail).toContain('differs only in case');
      expect(await tenants().findOne({ _id: `legacy-${u}` } as never)).toBeNull();
    } finally {
      await stack.deps.mongo.client.db(cased).dropDatabase();
    }
  });

  it('refuses a MongoDB source naming the platform database or a tenant target database (403, nothing written), on any URI', async () => {
    const mongoBody = (tenantId: string, database: string, uri = 'mongodb://127.0.0.1:27017/') => ({
      ...body(tenantId),
      source: { kind: 'mongodb', settings: { uri, database } },
    });
    const platform = stack.deps.mongo.db.databaseName;
    const cases = [platform, platform.toUpperCase(), tenantDbName('demo-acme'), 'TENANT_other'];
    for (const database of cases) {
      for (const uri of ['mongodb://127.0.0.1:27017/', 'mongodb://elsewhere.example:27017/']) {
        const id = uniqueId('src');
        const res = await stack.app.inject({ method: 'POST', url: '/api/tenants', headers: admin, payload: mongoBody(id, database, uri) });
        expect(res.statusCode, `${database} @ ${uri}`).toBe(403);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.json().detail).toMatch(/cannot be a source/);
        expect(await tenants().findOne({ _id: id } as never)).toBeNull();
      }
    }
    // An ordinary upstream database is fine.
    const ok = await stack.app.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: admin,
      payload: mongoBody(uniqueId('src'), 'upstream_crm'),
    });
    expect(ok.statusCode).toBe(201);
  });

  it('the sync activity refuses a registration that names the platform database (written before the API checked)', async () => {
    const id = uniqueId('legacy');
    const now = new Date();
    await tenants().insertOne({
      _id: id,
      name: id,
      source: { kind: 'mongodb', settings: { uri: stack.deps.config.MONGODB_URI, database: stack.deps.mongo.db.databaseName } },
      collections: [{ name: 'tenants', essential: true }],
      createdAt: now,
      updatedAt: now,
    } as never);
    const activities = createTenantSyncActivities(stack.deps);
    const err = await activities
      .syncCollection({ tenantId: id, collection: 'tenants', essential: true, correlationId: id })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'VALIDATION_ERROR', nonRetryable: true });
    expect(String((err as Error).message)).toMatch(/platform database and cannot be a source/);
    expect(await stack.deps.mongo.tenantDb(id).collection('tenants').countDocuments()).toBe(0);
  });
});
