import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createBackupOps } from '../../../activities/migrations/backup';
import { createSecretsRotation } from '../../../activities/maintenance/secrets-rotation';
import { createTenantRepository, tenantSecretPlace, type TenantDoc } from '../../../activities/tenant-sync/registry';
import { createReconcileService } from '../../../api/services/reconcile/service';
import { REPO_ROOT } from '../../../infra/dev/ensure-tools';
import { Collections } from '../../../infra/mongo';
import { parseKeyring, SecretKeyUnknownError } from '../../../infra/secrets';
import { tenantDbName } from '../../../infra/tenant-db-name';
import { WorkflowIds } from '../../../shared/constants';
import { startFixtureUpstream, type FixtureUpstream } from '../../../fixtures/upstream/server';
import { buildTestApp } from '../../helpers/api';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Secrets at rest on the real stack: what the API, the CLI and the worker write holds only
// ciphertext (tenant documents, reconcile batches, workflow history, migration backups); syncs
// still work; `secrets rotate` moves every value to a new key, after which the old key can go.

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

    const cli = (args: string[], secretsKey: string) => {
      const res = spawnSync(path.join(REPO_ROOT, 'node_modules/.bin/tsx'), [path.join(REPO_ROOT, 'cli/index.ts'), ...args], {
        env: {
          ...process.env,
          NODE_ENV: 'test',
          LOG_LEVEL: 'silent',
          MONGODB_URI: stack.deps.config.MONGODB_URI,
          MONGODB_DB: stack.deps.config.MONGODB_DB,
          SECRETS_KEY: secretsKey,
        },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(res.stderr).not.toContain(token);
      expect(res.stdout).not.toContain(token);
      return { status: res.status, json: JSON.parse(res.stdout.trim().split('\n').at(-1)!) };
    };

    const before = cli(['secrets', 'status', '--json'], `${K2},${K1}`);
    expect(before.status).toBe(0);
    expect(before.json.plaintext).toBe(1);
    expect(before.json.byKey.k1).toBeGreaterThanOrEqual(2);
    expect(before.json.byKey.k2).toBeUndefined();

    const first = cli(['secrets', 'rotate', '--json'], `${K2},${K1}`);
    expect(first.status).toBe(0);
    expect(first.json).toMatchObject({ primaryKeyId: 'k2', failed: [], current: 0 });
    expect(first.json.resealed).toBe(before.json.total);
    const again = cli(['secrets', 'rotate', '--json'], `${K2},${K1}`);
    expect(again.json).toMatchObject({ resealed: 0, current: before.json.total, failed: [] });

    // Only the new key from now on.
    const after = cli(['secrets', 'status', '--json'], K2);
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
});
