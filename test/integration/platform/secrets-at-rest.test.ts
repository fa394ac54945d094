import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createBackupOps } from '../../../activities/migrations/backup';
import { createSecretsRotation } from '../../../activities/maintenance/secrets-rotation';
import { createTenantRepository, tenantSecretPlace, type TenantDoc } from '../../../activities/tenant-sync/registry';
import { createReconcileService } from '../../../api/services/reconcile/service';
import { Collections } from '../../../infra/mongo';
import { parseKeyring, SecretKeyUnknownError } from '../../../infra/secrets';
import { tenantDbName } from '../../../infra/tenant-db-name';
import { WorkflowIds } from '../../../shared/constants';
import { startFixtureUpstream, type FixtureUpstream } from '../../../fixtures/upstream/server';
import { buildTestApp } from '../../helpers/api';
import { cliRunner, lastJson } from '../../helpers/cli';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Secrets at rest on the real stack: what the API, the CLI and the worker write holds only
// ciphertext (tenant documents, reconcile batches, workflow history, migration backups); syncs
// still work; `secrets rotate` (through the API, which holds the keyring) moves every value to a
// new key, after which the old key can go; /api/secrets never answers a value.

const key = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;
const K1 = key('k1');
const K2 = key('k2');

/** Every string and byte array inside a value, as text (Temporal payloads are bytes). */
function textOf(v: unknown, out: string[] = []): string {
  if (typeof v === 'string') out.push(v);
  else if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
  else if (Array.isArray(v)) for (const x of v) textOf(x, out);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) textOf(x, out);
  return out.join('\n');
}

describe('secrets at rest', () => {
  const stack = useStack({
    env: { SECRETS_KEY: K1 },
    worker: true,
    app: { config: { SYNC_FRESHNESS_MS: 0, USE_TEMPORAL_FOR_AUTH: true } },
  });
  let upstream: FixtureUpstream;
  let admin: Record<string, string>;
  let syncer: Record<string, string>;
  const raw = (id: string) => stack.deps.mongo.db.collection(Collections.tenants).findOne({ _id: id } as never);
  /** A unique marker inside a MongoDB URI (the stack's server), so plaintext is easy to search for. */
  const markedUri = (marker: string) => `${stack.deps.config.MONGODB_URI.replace(/\/?$/, '/')}?appName=${marker}`;

  async function register(a: FastifyInstance, tenantId: string, token: string) {
    upstream.seedTenant(tenantId, { collections: { users: 120, roles: 10 }, token });
    return a.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: admin,
      payload: {
        tenantId,
        name: tenantId,
        source: { kind: 'http', settings: { baseUrl: upstream.baseUrl(tenantId), token, timeoutMs: 5_000 } },
        collections: [
          { name: 'users', essential: true },
          { name: 'roles', essential: true },
        ],
      },
    });
  }
  const ensure = (a: FastifyInstance, tenantId: string) =>
    a.inject({ method: 'POST', url: `/api/sync/tenants/${tenantId}/ensure`, headers: syncer });
  const users = (tenantId: string) => stack.deps.mongo.tenantDb(tenantId).collection('users').countDocuments();

  beforeAll(async () => {
    upstream = await startFixtureUpstream();
    admin = await stack.bearer(['admin']);
    syncer = await stack.bearer(['sync:write', 'sync:read']);
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it('stores tenant tokens and URIs sealed; the worker (Temporal) and the API (direct) still sync through them', async () => {
    const tenantId = uniqueId('sec');
    const token = `tok-${randomBytes(8).toString('hex')}`;
    expect((await register(stack.app, tenantId, token)).statusCode).toBe(201);
    const doc = await raw(tenantId);
    expect(JSON.stringify(doc)).not.toContain(token);
    expect(doc).toMatchObject({ source: { settings: { token: expect.stringMatching(/^enc:v1:k1:/) } }, dbName: tenantDbName(tenantId) });

    const marker = `uri-${randomBytes(6).toString('hex')}`;
    const mongoTenant = uniqueId('secm');
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: admin,
      payload: {
        tenantId: mongoTenant,
        name: 'm',
        source: { kind: 'mongodb', settings: { uri: markedUri(marker), database: 'unused' } },
        collections: [{ name: 'users', essential: true }],
      },
    });
    expect(res.statusCode).toBe(201);
    expect(res.body).not.toContain(marker);
    expect(JSON.stringify(await raw(mongoTenant))).not.toContain(marker);
    expect((await raw(mongoTenant))!.source.settings.uri).toMatch(/^enc:v1:k1:/);

    // Through Temporal: the worker decrypts; the token never enters history, memo or search attributes.
    const viaTemporal = await ensure(stack.app, tenantId);
    expect(viaTemporal.json()).toMatchObject({ syncMethod: 'temporal', essentialReady: true });
    expect(await users(tenantId)).toBe(120);
    const handle = stack.deps.temporal.client.workflow.getHandle(WorkflowIds.tenantSync(tenantId));
    await handle.result();
    const history = await handle.fetchHistory();
    const desc = await handle.describe();
    const seen = textOf([history, desc.memo, desc.searchAttributes]);
    expect(seen).toContain(tenantId);
    expect(seen).not.toContain(token);

    // Direct, in the API process.
    const directApp = await buildTestApp(stack.deps, { SYNC_FRESHNESS_MS: 0, USE_TEMPORAL_FOR_AUTH: false });
    try {
      const direct = await ensure(directApp, tenantId);
      expect(direct.json()).toMatchObject({ syncMethod: 'direct', essentialReady: true });
      expect(direct.json().collections.every((c: { status: string }) => c.status === 'synced')).toBe(true);
    } finally {
      await directApp.close();
    }
  });

  it('seals reconcile URIs in the batch document; the worker opens them; history holds neither', async () => {
    const marker = `rc-${randomBytes(6).toString('hex')}`;
    const srcDb = uniqueId('sec_src').replace(/-/g, '_');
    const dstDb = uniqueId('sec_dst').replace(/-/g, '_');
    await stack.deps.mongo.client
      .db(srcDb)
      .collection('items')
      .insertMany(Array.from({ length: 30 }, (_, i) => ({ _id: `i${i}`, n: i })) as never[]);
    // The stack's own server stands in for an external one the operator allows (RECONCILE_ALLOWED_URIS).
    const options = {
      mongo: stack.deps.mongo,
      temporal: stack.deps.temporal,
      taskQueue: stack.deps.config.TEMPORAL_TASK_QUEUE,
      log: stack.deps.log,
      secrets: stack.deps.secrets,
      allowedUris: [stack.deps.config.MONGODB_URI],
    };
    const svc = createReconcileService(options);
    try {
      const started = await svc.start(
        {
          source: { kind: 'namespace', uri: markedUri(`${marker}-s`), db: srcDb, collection: 'items' },
          target: { uri: markedUri(`${marker}-t`), db: dstDb, collection: 'items' },
        },
        uniqueId('corr'),
      );
      const batch = await stack.deps.mongo.db.collection(Collections.reconcileBatches).findOne({ _id: started.batchId } as never);
      expect(JSON.stringify(batch)).not.toContain(marker);
      expect(batch!.secrets).toEqual({ sourceUri: expect.stringMatching(/^enc:v1:k1:/), targetUri: expect.stringMatching(/^enc:v1:k1:/) });
      const handle = stack.deps.temporal.client.workflow.getHandle(started.workflowId);
      const result = await handle.result();
      expect(result).toMatchObject({ state: 'completed' });
      expect(await stack.deps.mongo.client.db(dstDb).collection('items').countDocuments()).toBe(30);
      const desc = await handle.describe();
      expect(textOf([await handle.fetchHistory(), desc.memo, desc.searchAttributes])).not.toContain(marker);
    } finally {
      await Promise.allSettled([stack.deps.mongo.client.db(srcDb).dropDatabase(), stack.deps.mongo.client.db(dstDb).dropDatabase()]);
    }
  });

  it('backs up the tenants collection as ciphertext only, and a restore keeps the secrets working', async () => {
    const tenantId = uniqueId('secb');
    const token = `tok-${randomBytes(8).toString('hex')}`;
    expect((await register(stack.app, tenantId, token)).statusCode).toBe(201);
    const ops = createBackupOps(stack.deps.mongo.db, { batchSize: 100 });
    const ref = await ops.backup(Collections.tenants);
    const backedUp = await stack.deps.mongo.db.collection(ref.backupId).find({}).toArray();
    expect(backedUp.map((d) => d._id)).toContain(tenantId);
    const text = JSON.stringify(backedUp);
    expect(text).not.toContain(token);
    expect(text).toContain('enc:v1:k1:');

    await stack.deps.mongo.db.collection(Collections.tenants).deleteOne({ _id: tenantId } as never);
    expect((await ops.restore(ref.backupId)).verified).toBe(true);
    const repo = createTenantRepository(stack.deps.mongo.db, stack.deps.secrets);
    expect(repo.revealSource((await repo.get(tenantId))!).settings).toMatchObject({ token });
    const directApp = await buildTestApp(stack.deps, { SYNC_FRESHNESS_MS: 0, USE_TEMPORAL_FOR_AUTH: false });
    try {
      expect((await ensure(directApp, tenantId)).json()).toMatchObject({ syncMethod: 'direct', essentialReady: true });
      expect(await users(tenantId)).toBe(120);
    } finally {
      await directApp.close();
    }
  });

  it('`secrets rotate` re-seals everything (plaintext leftovers too) under the new key, idempotently; then the old key can go', async () => {
    const tenantId = uniqueId('secr');
    const token = `tok-${randomBytes(8).toString('hex')}`;
    expect((await register(stack.app, tenantId, token)).statusCode).toBe(201);
    // A tenant written before encryption at rest: plaintext in the registry.
    const legacyId = uniqueId('secl');
    const legacyToken = `tok-${randomBytes(8).toString('hex')}`;
    upstream.seedTenant(legacyId, { collections: { users: 120, roles: 10 }, token: legacyToken });
    const now = new Date();
    await stack.deps.mongo.db.collection(Collections.tenants).insertOne({
      _id: legacyId,
      name: legacyId,
      source: { kind: 'http', settings: { baseUrl: upstream.baseUrl(legacyId), token: legacyToken } },
      collections: [{ name: 'users', essential: true }],
      createdAt: now,
      updatedAt: now,
    } as never);

    // The keys live in the API process: one API with the new key first and the old one after it,
    // then one with the new key only; the CLI talks to either over HTTP.
    const listening = async (spec: string) => {
      const a = await stack.buildApp({ SECRETS_KEY: spec }, { secrets: parseKeyring(spec) });
      return a.listen({ host: '127.0.0.1', port: 0 });
    };
    const urls = { [`${K2},${K1}`]: await listening(`${K2},${K1}`), [K2]: await listening(K2) };
    let apiUrl = '';
    const run = cliRunner(
      () => stack.deps.config,
      () => apiUrl,
    );
    const cli = async (args: string[], secretsKey: string) => {
      apiUrl = urls[secretsKey]!;
      const res = await run(...args);
      expect(res.stderr).not.toContain(token);
      expect(res.stdout).not.toContain(token);
      return { status: res.code, json: lastJson(res.stdout) as Record<string, any> };
    };

    const before = await cli(['secrets', 'status', '--json'], `${K2},${K1}`);
    expect(before.status).toBe(0);
    expect(before.json.plaintext).toBe(1);
    expect(before.json.byKey.k1).toBeGreaterThanOrEqual(2);
    expect(before.json.byKey.k2).toBeUndefined();

    const first = await cli(['secrets', 'rotate', '--json'], `${K2},${K1}`);
    expect(first.status).toBe(0);
    expect(first.json).toMatchObject({ primaryKeyId: 'k2', failed: [], current: 0 });
    expect(first.json.resealed).toBe(before.json.total);
    const again = await cli(['secrets', 'rotate', '--json'], `${K2},${K1}`);
    expect(again.json).toMatchObject({ resealed: 0, current: before.json.total, failed: [] });

    // Only the new key from now on.
    const after = await cli(['secrets', 'status', '--json'], K2);
    expect(after.json).toMatchObject({ primaryKeyId: 'k2', plaintext: 0, unknownKeys: [], byKey: { k2: before.json.total } });
    expect(JSON.stringify(await raw(legacyId))).not.toContain(legacyToken);
    const k2Only = parseKeyring(K2);
    const newApp = await buildTestApp(stack.deps, { SYNC_FRESHNESS_MS: 0, USE_TEMPORAL_FOR_AUTH: false }, { secrets: k2Only });
    try {
      for (const id of [tenantId, legacyId]) {
        expect((await ensure(newApp, id)).json(), id).toMatchObject({ syncMethod: 'direct', essentialReady: true });
        expect(await users(id)).toBe(120);
      }
    } finally {
      await newApp.close();
    }
    // A keyring without the new key fails clearly, naming the key and the place, not the value.
    const stored = (await raw(tenantId)) as unknown as TenantDoc;
    const sealed = (stored.source.settings as { token: string }).token;
    expect(() => parseKeyring(K1).reveal(sealed, tenantSecretPlace(tenantId, 'token'))).toThrow(SecretKeyUnknownError);
    const refused = (() => {
      try {
        createTenantRepository(stack.deps.mongo.db, parseKeyring(K1)).revealSource(stored);
      } catch (err) {
        return err as Error;
      }
    })();
    expect(refused?.message).toContain("key 'k2'");
    expect(refused?.message).not.toContain(sealed.split(':').at(-1));
    await expect(createSecretsRotation(stack.deps.mongo.db, parseKeyring(K1)).status()).resolves.toMatchObject({ unknownKeys: ['k2'] });
  });

  it('/api/secrets: status counts per key without a value; rotate re-seals bounded batches until none remain; bad input → 400', async () => {
    const K3 = key('k3');
    const spec = `${K3},${K2}`; // after the rotation above, everything is under k2
    const app = await stack.buildApp({ SECRETS_KEY: spec }, { secrets: parseKeyring(spec) });
    const headers = await stack.bearer(['admin']);
    const status = async () => {
      const res = await app.inject({ method: 'GET', url: '/api/secrets/status', headers });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.body).not.toContain('enc:v1:');
      return res.json() as { primaryKeyId: string; byKey: Record<string, number>; total: number; unknownKeys: string[] };
    };
    const rotate = (payload: object, withKey = true) =>
      app.inject({
        method: 'POST',
        url: '/api/secrets/rotate',
        headers: { ...headers, ...(withKey ? { 'idempotency-key': uniqueId('rot') } : {}) },
        payload,
      });
    // One secret under a key the keyring does not list: reported, never retried forever.
    const lost = uniqueId('secx');
    const now = new Date();
    const sealedElsewhere = parseKeyring(key('k9')).seal('tok-lost', tenantSecretPlace(lost, 'token'));
    await stack.deps.mongo.db.collection(Collections.tenants).insertOne({
      _id: lost,
      name: lost,
      source: { kind: 'http', settings: { baseUrl: 'http://127.0.0.1:9/x', token: sealedElsewhere } },
      collections: [{ name: 'users', essential: true }],
      createdAt: now,
      updatedAt: now,
    } as never);
    try {
      const start = await status();
      expect(start).toMatchObject({ primaryKeyId: 'k3', usingDevKey: false, unknownKeys: ['k9'] });
      expect(start.byKey.k2).toBeGreaterThanOrEqual(3);
      for (const [payload, withKey] of [
        [{ limit: 1 }, false],
        [{ limit: 0 }, true],
        [{ limit: 'all' }, true],
        [{ limit: 1, x: 1 }, true],
      ] as const) {
        const res = await rotate(payload, withKey);
        expect(res.statusCode, res.body).toBe(400);
        expect(res.json()).toMatchObject({ status: 400, type: expect.stringMatching(/^urn:sync-orchestrator:problem:/) });
      }
      expect(await status()).toEqual(start);

      const todo = start.byKey.k2!;
      const first = await rotate({ limit: 1 });
      expect(first.statusCode, first.body).toBe(200);
      const batch = first.json() as {
        rotated: number;
        skipped: number;
        remaining: number;
        failed: Array<{ where: string; message: string }>;
      };
      expect(batch.rotated).toBeGreaterThanOrEqual(1);
      expect(batch.rotated).toBeLessThanOrEqual(2); // one document: a tenant holds at most a token and a URI
      expect(batch.remaining).toBe(todo + 1 - batch.rotated); // the k9 one is still to try (it comes last)
      let remaining = batch.remaining;
      let last = batch;
      for (let i = 0; remaining > 0 && i < todo; i++) {
        last = (await rotate({ limit: 2 })).json();
        expect(last.rotated + last.skipped).toBeGreaterThan(0);
        expect(last.remaining).toBeLessThan(remaining);
        remaining = last.remaining;
      }
      expect(remaining).toBe(0);
      expect(last.failed).toEqual([{ where: tenantSecretPlace(lost, 'token'), message: expect.stringContaining("key 'k9'") }]);
      expect(JSON.stringify(last)).not.toContain('enc:v1:');
      expect(await status()).toMatchObject({ byKey: { k3: todo, k9: 1 }, total: todo + 1 });
    } finally {
      await stack.deps.mongo.db.collection(Collections.tenants).deleteOne({ _id: lost } as never);
    }
  });
});
