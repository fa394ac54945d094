import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { startFixtureUpstream, type FixtureUpstream } from '../../../fixtures/upstream/server';
import { Scopes } from '../../../infra/auth-token';
import { Collections, tenantDbName } from '../../../infra/mongo';
import { loadMigrations } from '../../../activities/migrations/registry';
import { encodeCursor } from '../../../shared/paging';
import type { RunMigrationsWorkflow } from '../../../shared/migrations';
import { useCli } from '../../helpers/cli';
import { mutableRegistry } from '../../helpers/migrations';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Paged lists (shared/paging.ts) over the real stack: every row exactly once across pages, also
// while rows are inserted meanwhile; tenant scoping of each list; bad cursors; audit fields from
// the token's subject; the schema-version migration on old-shaped documents; the CLI's list commands.

type Page<T = Record<string, unknown>> = {
  items: T[];
  page: { limit: number; nextCursor: string | null; hasNext: boolean; hasPrev: boolean; total?: number };
};

const LISTS = ['/api/tenants', '/api/sync/runs', '/api/reconcile', '/api/clients', '/api/migrations/runs'];

describe('paged lists', () => {
  let upstream: FixtureUpstream;
  const registry = mutableRegistry();
  const workflows = new Set<string>();
  const stack = useStack({
    worker: { settings: { tenantSync: { pageSize: 100 }, migrations: { registry } } },
    app: { extra: { migrations: registry } },
  });
  const cli = useCli(stack);
  const db = () => stack.deps.mongo.db;
  const token = (scopes: string[], tenants: string[] | '*', sub = 'pager') => stack.bearer(scopes, tenants, sub);
  const get = async (url: string, headers: Record<string, string>): Promise<LightMyRequestResponse> =>
    stack.app.inject({ method: 'GET', url, headers });
  const ok = async <T = Record<string, unknown>>(url: string, headers: Record<string, string>): Promise<Page<T>> => {
    const res = await get(url, headers);
    expect(res.statusCode, `${url}: ${res.body.slice(0, 300)}`).toBe(200);
    return res.json() as Page<T>;
  };
  /** Every page of `url`, checking the flags of each; `between` runs after each page. */
  async function walk<T>(url: string, headers: Record<string, string>, between?: (i: number) => Promise<void>): Promise<T[]> {
    const all: T[] = [];
    let cursor: string | null = null;
    for (let i = 0; ; i++) {
      const sep = url.includes('?') ? '&' : '?';
      const p: Page<T> = await ok<T>(cursor ? `${url}${sep}cursor=${cursor}` : url, headers);
      expect(p.page.hasPrev).toBe(i > 0);
      expect(p.page.hasNext).toBe(p.page.nextCursor !== null);
      all.push(...p.items);
      if (!p.page.hasNext) break;
      expect(p.items.length).toBe(p.page.limit);
      cursor = p.page.nextCursor;
      await between?.(i);
    }
    return all;
  }

  const a = uniqueId('pg-a');
  const b = uniqueId('pg-b');
  const tenantBody = (tenantId: string) => ({
    tenantId,
    name: `Tenant ${tenantId}`,
    source: { kind: 'http', settings: { baseUrl: upstream.baseUrl(tenantId), token: `tok-${tenantId}` } },
    collections: [{ name: 'users', essential: true }],
  });

  beforeAll(async () => {
    upstream = await startFixtureUpstream();
    for (const t of [a, b]) upstream.seedTenant(t, { collections: { users: 3 }, token: `tok-${t}` });
  });
  afterAll(async () => {
    const wf = stack.deps.temporal.client.workflow;
    await Promise.allSettled([...workflows].map((id) => wf.getHandle(id).terminate('paging test done')));
    await upstream?.close();
  });

  it('audit fields come from the token subject: tenants (createdBy/updatedBy), reconcile batches, client and migration runs', async () => {
    const post = async (sub: string, tenantId: string) =>
      stack.app.inject({
        method: 'POST',
        url: '/api/tenants',
        headers: await token([Scopes.admin], '*', sub),
        payload: tenantBody(tenantId),
      });
    expect((await post('alice', a)).statusCode).toBe(201);
    const again = await post('bob', a);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ tenantId: a, createdBy: 'alice', updatedBy: 'bob' });
    expect((await post('alice', b)).statusCode).toBe(201);
    const stored = await db()
      .collection(Collections.tenants)
      .findOne({ _id: a as never });
    expect(stored).toMatchObject({ createdBy: 'alice', updatedBy: 'bob', _schemaVersion: 1 });

    const rc = await stack.app.inject({
      method: 'POST',
      url: '/api/reconcile',
      headers: { ...(await token([Scopes.reconcileWrite], [a], 'carol')), 'idempotency-key': uniqueId('rc') },
      payload: { source: { kind: 'tenant', tenantId: a, collection: 'users' }, options: { dryRun: true } },
    });
    expect(rc.statusCode, rc.body).toBe(202);
    workflows.add(rc.json().workflowId);
    const batch = await db().collection(Collections.reconcileBatches).findOne({ _id: rc.json().batchId });
    expect(batch).toMatchObject({ createdBy: 'carol', _schemaVersion: 1 });
    const listed = await ok<{ batchId: string; createdBy: string }>(
      `/api/reconcile?tenantId=${a}`,
      await token([Scopes.reconcileRead], [a]),
    );
    expect(listed.items.find((x) => x.batchId === rc.json().batchId)?.createdBy).toBe('carol');

    const cs = await stack.app.inject({
      method: 'POST',
      url: '/api/clients/sync',
      headers: await token([Scopes.clientsWrite], [], 'dave'),
      payload: {
        keys: [
          uniqueId('client')
            .toLowerCase()
            .replace(/[^a-z0-9_-]/g, ''),
        ],
      },
    });
    expect(cs.statusCode, cs.body).toBe(202);
    workflows.add(cs.json().workflowId);
    const run = await ok(`/api/clients/runs/${encodeURIComponent(cs.json().workflowId)}`, await token([Scopes.clientsRead], []));
    expect(run).toMatchObject({ requestedBy: 'dave' });

    const mr = await stack.app.inject({
      method: 'POST',
      url: '/api/migrations/run',
      headers: { ...(await token([Scopes.admin], '*', 'erin')), 'idempotency-key': uniqueId('mr') },
      payload: { dryRun: true },
    });
    expect(mr.statusCode, mr.body).toBe(202);
    const workflowId = mr.json().workflowId as string;
    await stack.deps.temporal.client.workflow.getHandle<RunMigrationsWorkflow>(workflowId).result();
    const admin = await token([Scopes.admin], '*');
    expect(await ok(`/api/migrations/runs/${workflowId}`, admin)).toMatchObject({ requestedBy: 'erin', status: 'COMPLETED' });
    // Visibility lags a little behind the run.
    let row: Record<string, unknown> | undefined;
    for (let i = 0; i < 50 && !row?.closedAt; i++) {
      row = (await ok<Record<string, unknown>>('/api/migrations/runs?limit=200', admin)).items.find((x) => x.workflowId === workflowId);
      if (!row?.closedAt) await new Promise((r) => setTimeout(r, 200));
    }
    expect(row).toMatchObject({ workflowId, requestedBy: 'erin', dryRun: true, status: 'COMPLETED' });
  });

  it('1,050 tenants: each exactly once across pages, with hasNext/hasPrev and a total; a tenant token lists only its tenants', async () => {
    const now = new Date();
    const prefix = uniqueId('pgt');
    const docs = Array.from({ length: 1050 }, (_, i) => ({
      _id: `${prefix}-${String(i).padStart(4, '0')}`,
      name: `bulk ${i}`,
      source: { kind: 'http', settings: { baseUrl: 'http://127.0.0.1:9' } },
      collections: [{ name: 'users', essential: true }],
      createdAt: now,
      updatedAt: now,
      createdBy: 'seed',
      updatedBy: 'seed',
      _schemaVersion: 1,
    }));
    await db()
      .collection(Collections.tenants)
      .insertMany(docs as never[]);
    const admin = await token([Scopes.admin], '*');
    const expected = await db().collection(Collections.tenants).countDocuments({});
    const first = await ok('/api/tenants?limit=200', admin);
    expect(first.page).toMatchObject({ limit: 200, hasNext: true, hasPrev: false, total: expected });
    const all = await walk<{ tenantId: string }>('/api/tenants?limit=200', admin);
    const ids = all.map((t) => t.tenantId);
    expect(ids.length).toBe(expected);
    expect(new Set(ids).size).toBe(ids.length);
    for (const d of docs) expect(ids).toContain(d._id);
    expect([...ids].sort()).toEqual(ids);
    // Default limit 50.
    expect((await ok('/api/tenants', admin)).items).toHaveLength(50);

    const scoped = await ok<{ tenantId: string }>('/api/tenants', await token([Scopes.admin], [a, docs[7]!._id]));
    expect(scoped.items.map((t) => t.tenantId).sort()).toEqual([a, docs[7]!._id].sort());
    expect(scoped.page).toMatchObject({ total: 2, hasNext: false, hasPrev: false });
    expect((await ok('/api/tenants', await token([Scopes.admin], []))).items).toEqual([]);
    // Not the admin scope: refused.
    expect((await get('/api/tenants', await token([Scopes.syncRead], '*'))).statusCode).toBe(403);
  });

  it('sync runs: every run present from the start appears exactly once while runs are inserted concurrently; filters and scoping', async () => {
    const t0 = new Date(Date.now() - 3_600_000);
    const run = (id: string, tenantId: string, i: number) => ({
      _id: id,
      tenantId,
      method: i % 3 === 0 ? 'temporal' : 'direct',
      fallbackUsed: false,
      state: i % 5 === 0 ? 'failed' : 'completed',
      startedAt: new Date(t0.getTime() + i * 1000),
      finishedAt: new Date(t0.getTime() + i * 1000 + 500),
      collections: [],
      _schemaVersion: 1,
    });
    const ids = Array.from({ length: 1050 }, (_, i) => `pgrun-${String(i * 10).padStart(6, '0')}`);
    await db()
      .collection(Collections.syncRuns)
      .insertMany(ids.map((id, i) => run(id, i % 2 ? a : b, i)) as never[]);
    const reader = await token([Scopes.syncRead], '*');
    const present = new Set(
      (
        await db()
          .collection(Collections.syncRuns)
          .find({}, { projection: { _id: 1 } })
          .toArray()
      ).map((d) => String(d._id)),
    );
    let n = 0;
    // After each page: runs whose IDs fall before, inside and after the part already read.
    const added: string[] = [];
    const insertSome = async (i: number) => {
      const fresh = [
        `pgrun-${String(i * 1500 + 5).padStart(6, '0')}`,
        `pgrun-${String(10495 - i).padStart(6, '0')}x`,
        `pgrun-zz-${i}`,
        `a-early-${i}`,
      ];
      added.push(...fresh);
      await db()
        .collection(Collections.syncRuns)
        .insertMany(fresh.map((id) => run(id, a, 1050 + n++)) as never[]);
    };
    const all = await walk<{ runId: string; tenantId: string }>('/api/sync/runs?limit=200', reader, insertSome);
    const seen = all.map((r) => r.runId);
    expect(new Set(seen).size, 'no run twice').toBe(seen.length);
    for (const id of present) expect(seen.filter((s) => s === id).length, id).toBe(1);
    expect(added.length).toBeGreaterThan(0);
    expect(seen.filter((s) => !present.has(s) && !added.includes(s))).toEqual([]);
    // No total on sync runs (counting the big collection is a full scan).
    expect((await ok('/api/sync/runs', reader)).page.total).toBeUndefined();

    // A tenant token: only its runs; naming another tenant is refused.
    const onlyA = await walk<{ tenantId: string }>('/api/sync/runs?limit=200', await token([Scopes.syncRead], [a]));
    expect(onlyA.length).toBeGreaterThan(525);
    expect(onlyA.every((r) => r.tenantId === a)).toBe(true);
    expect((await get(`/api/sync/runs?tenantId=${b}`, await token([Scopes.syncRead], [a]))).statusCode).toBe(403);
    expect((await ok('/api/sync/runs', await token([Scopes.syncRead], []))).items).toEqual([]);

    // Filters.
    const failedB = await walk<{ tenantId: string; state: string }>(`/api/sync/runs?limit=200&tenantId=${b}&state=failed`, reader);
    expect(failedB.length).toBe(ids.filter((_, i) => i % 2 === 0 && i % 5 === 0).length);
    expect(failedB.every((r) => r.tenantId === b && r.state === 'failed')).toBe(true);
    const temporalRuns = await walk<{ method: string }>(`/api/sync/runs?limit=200&tenantId=${b}&method=temporal`, reader);
    expect(temporalRuns.length).toBe(ids.filter((_, i) => i % 2 === 0 && i % 3 === 0).length);
    const since = new Date(t0.getTime() + 1000 * 1000).toISOString();
    const late = await walk<{ startedAt: string }>(`/api/sync/runs?limit=200&tenantId=${b}&since=${encodeURIComponent(since)}`, reader);
    expect(late.length).toBe(ids.filter((_, i) => i % 2 === 0 && i >= 1000).length);
  });

  it('reconcile batches: a batch is listed only to a token that reaches everything it touches', async () => {
    const base = {
      correlationId: 'c',
      state: 'completed',
      options: { dryRun: true },
      specHash: 'h',
      createdAt: new Date(),
      createdBy: 'seed',
      _schemaVersion: 1,
    };
    const p = uniqueId('pgb');
    const batches = [
      {
        _id: `${p}-1-a-own`,
        source: { kind: 'tenant', tenantId: a, collection: 'users' },
        target: { db: tenantDbName(a), collection: 'users' },
      },
      {
        _id: `${p}-2-a-raw`,
        source: { kind: 'tenant', tenantId: a, collection: 'users' },
        target: { db: 'elsewhere', collection: 'users' },
      },
      {
        _id: `${p}-3-b-own`,
        source: { kind: 'tenant', tenantId: b, collection: 'users' },
        target: { db: tenantDbName(b), collection: 'users' },
      },
      { _id: `${p}-4-ns`, source: { kind: 'namespace', db: 'x', collection: 'y' }, target: { db: 'z', collection: 'y' }, state: 'failed' },
    ].map((x) => ({ ...base, workflowId: `reconcile:${x._id}`, ...x }));
    await db()
      .collection(Collections.reconcileBatches)
      .insertMany(batches as never[]);
    const ours = async (tenants: string[] | '*', scopes: string[] = [Scopes.reconcileRead], q = '') =>
      (await walk<{ batchId: string }>(`/api/reconcile?limit=2${q}`, await token(scopes, tenants)))
        .map((x) => x.batchId)
        .filter((id) => id.startsWith(p));
    expect(await ours([a])).toEqual([`${p}-1-a-own`]);
    expect(await ours([b])).toEqual([`${p}-3-b-own`]);
    expect(await ours([])).toEqual([]);
    expect(await ours('*')).toEqual([`${p}-1-a-own`, `${p}-3-b-own`]);
    expect(await ours('*', [Scopes.admin])).toEqual(batches.map((x) => x._id));
    expect(await ours('*', [Scopes.admin], '&state=failed')).toEqual([`${p}-4-ns`]);
    expect(await ours('*', [Scopes.admin], `&tenantId=${a}`)).toEqual([`${p}-1-a-own`, `${p}-2-a-raw`]);
    expect((await get(`/api/reconcile?tenantId=${b}`, await token([Scopes.reconcileRead], [a]))).statusCode).toBe(403);
    // Secrets never listed.
    const page = await ok('/api/reconcile?limit=200', await token([Scopes.admin], '*'));
    expect(JSON.stringify(page)).not.toContain('secrets');
  });

  it('clients: every client once, with a total; bad cursors and limits are 400 problems on every list', async () => {
    const now = new Date();
    const p = `pgc${Date.now().toString(36)}`;
    const keys = Array.from({ length: 30 }, (_, i) => `${p}-${String(i).padStart(2, '0')}`);
    await db()
      .collection(Collections.clientUpsertState)
      .insertMany(
        keys.map((k) => ({
          _id: k,
          lastHash: 'h',
          lastStatus: 'completed',
          lastResultId: 'none',
          lastFinishedAt: now,
          runs: 1,
          _schemaVersion: 1,
        })) as never[],
      );
    await db()
      .collection(Collections.clients)
      .insertMany(
        keys
          .slice(0, 10)
          .map((k) => ({ _id: k, name: `Client ${k}`, settings: {}, createdAt: now, updatedAt: now, _schemaVersion: 1 })) as never[],
      );
    const reader = await token([Scopes.clientsRead], []);
    const all = await walk<{ key: string; name: string | null }>('/api/clients?limit=7', reader);
    expect(all.map((c) => c.key).filter((k) => k.startsWith(p))).toEqual(keys);
    expect(all.find((c) => c.key === keys[3])?.name).toBe(`Client ${keys[3]}`);
    expect(all.find((c) => c.key === keys[20])?.name).toBeNull();
    expect((await ok('/api/clients', reader)).page.total).toBe(await db().collection(Collections.clientUpsertState).countDocuments({}));

    const admin = await token([Scopes.admin], '*');
    const forged = Buffer.from(JSON.stringify({ k: { $gt: '' }, d: 'next' })).toString('base64url');
    for (const url of LISTS) {
      for (const q of [
        'cursor=%25%25not-a-cursor',
        `cursor=${forged}`,
        `cursor=${encodeCursor('x').slice(0, -2)}`,
        'limit=0',
        'limit=201',
        'limit=abc',
      ]) {
        const res = await get(`${url}?${q}`, admin);
        expect(res.statusCode, `${url}?${q}: ${res.body}`).toBe(400);
        expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      }
    }
  });

  it('CLI: tenants list, runs list, reconcile list, clients list, migrate runs print tables and --json pages', async () => {
    const tl = await cli('tenants', 'list', '--limit', '5');
    expect(tl.code, tl.stderr).toBe(0);
    expect(tl.stdout).toMatch(/^TENANT\s+NAME\s+SOURCE/m);
    expect(tl.stdout).toMatch(/5 row\(s\) of \d+; next page: --cursor \S+/);
    const json = JSON.parse((await cli('tenants', 'list', '--limit', '3', '--json')).stdout) as Page<{ tenantId: string }>;
    expect(json.items).toHaveLength(3);
    const next = JSON.parse((await cli('tenants', 'list', '--limit', '3', '--cursor', json.page.nextCursor!, '--json')).stdout) as Page<{
      tenantId: string;
    }>;
    expect(next.page.hasPrev).toBe(true);
    expect(next.items[0]!.tenantId > json.items[2]!.tenantId).toBe(true);

    const rl = await cli('runs', 'list', '--tenant-id', b, '--state', 'failed', '--all', '--json');
    expect(rl.code, rl.stderr).toBe(0);
    const runs = JSON.parse(rl.stdout) as Page<{ tenantId: string; state: string }>;
    expect(runs.items.length).toBe(105);
    expect(runs.page.hasNext).toBe(false);
    const rt = await cli('runs', 'list', '--limit', '2');
    expect(rt.stdout).toMatch(/^RUN\s+TENANT\s+STATE\s+METHOD/m);

    const rc = await cli('reconcile', 'list', '--tenant-id', a);
    expect(rc.code, rc.stderr).toBe(0);
    expect(rc.stdout).toMatch(/^BATCH\s+STATE\s+SOURCE/m);
    expect(rc.stdout).toContain('carol');
    const cl = await cli('clients', 'list', '--limit', '3');
    expect(cl.code, cl.stderr).toBe(0);
    expect(cl.stdout).toMatch(/^KEY\s+NAME\s+STATUS/m);
    const mr = await cli('migrate', 'runs', '--json');
    expect(mr.code, mr.stderr).toBe(0);
    expect((JSON.parse(mr.stdout) as Page<{ requestedBy: string }>).items.map((r) => r.requestedBy)).toContain('erin');
    const bad = await cli('tenants', 'list', '--cursor', 'nope!');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/cursor/);
  });

  it('the schema-version migration upgrades old-shaped documents and a second run changes nothing', async () => {
    // Under a name of its own: its workflow ID (migration:{name}) is per Temporal namespace, which
    // the parallel migrations test shares when it runs the repository's migrations.
    const file = (await loadMigrations()).get('20261202000100-schema-version-audit')!;
    const real = { ...file, name: uniqueId('schema-version-audit') };
    registry.add(real);
    const old = new Date('2026-01-01T00:00:00Z');
    const id = uniqueId('old');
    await db()
      .collection(Collections.tenants)
      .insertOne({
        _id: `${id}-t`,
        name: 'old',
        source: { kind: 'http', settings: { baseUrl: 'http://127.0.0.1:9' } },
        collections: [],
        createdAt: old,
        updatedAt: old,
      } as never);
    await db()
      .collection(Collections.syncRuns)
      .insertOne({
        _id: `${id}-r`,
        tenantId: `${id}-t`,
        method: 'direct',
        fallbackUsed: false,
        state: 'completed',
        startedAt: old,
        collections: [],
      } as never);
    await db()
      .collection(Collections.tenantSyncStatus)
      .insertOne({
        _id: `${id}-t`,
        state: 'completed',
        method: 'direct',
        lastRunId: `${id}-r`,
        lastStartedAt: old,
        fallbackUsed: false,
        collections: [],
      } as never);
    await db()
      .collection(Collections.reconcileBatches)
      .insertOne({
        _id: `${id}-b`,
        correlationId: 'c',
        workflowId: `reconcile:${id}-b`,
        state: 'completed',
        source: { kind: 'namespace', db: 'x', collection: 'y' },
        target: { db: 'z', collection: 'y' },
        options: {},
        specHash: 'h',
        createdAt: old,
      } as never);
    await db()
      .collection(Collections.clients)
      .insertOne({ _id: `${id}-c`, name: 'old', settings: {}, createdAt: old, updatedAt: old } as never);
    await db()
      .collection(Collections.clientUpsertState)
      .insertOne({ _id: `${id}-c`, lastHash: 'h', lastStatus: 'completed', lastResultId: 'x', lastFinishedAt: old, runs: 1 } as never);

    const admin = { ...(await token([Scopes.admin], '*')) };
    const apply = async (force: boolean) => {
      const res = await stack.app.inject({
        method: 'POST',
        url: '/api/migrations/run',
        headers: { ...admin, 'idempotency-key': uniqueId('mv') },
        payload: { names: [real.name], force },
      });
      expect(res.statusCode, res.body).toBe(202);
      return stack.deps.temporal.client.workflow.getHandle<RunMigrationsWorkflow>(res.json().workflowId).result();
    };
    const first = await apply(false);
    expect(first.results[0]).toMatchObject({ name: real.name, outcome: 'completed', verify: { ok: true } });
    expect(first.results[0]!.changes).toEqual(
      expect.arrayContaining([
        'set createdBy on 1 tenants document(s)',
        'set updatedBy on 1 tenants document(s)',
        'set createdBy on 1 reconcile_batches document(s)',
        'set _schemaVersion 1 on 1 sync_runs document(s)',
        'set _schemaVersion 1 on 1 tenant_sync_status document(s)',
        'set _schemaVersion 1 on 1 clients document(s)',
        'set _schemaVersion 1 on 1 client_upsert_state document(s)',
      ]),
    );
    const pick = async () => ({
      tenant: await db()
        .collection(Collections.tenants)
        .findOne({ _id: `${id}-t` as never }),
      run: await db()
        .collection(Collections.syncRuns)
        .findOne({ _id: `${id}-r` as never }),
      status: await db()
        .collection(Collections.tenantSyncStatus)
        .findOne({ _id: `${id}-t` as never }),
      batch: await db()
        .collection(Collections.reconcileBatches)
        .findOne({ _id: `${id}-b` as never }),
      client: await db()
        .collection(Collections.clients)
        .findOne({ _id: `${id}-c` as never }),
      state: await db()
        .collection(Collections.clientUpsertState)
        .findOne({ _id: `${id}-c` as never }),
    });
    const after = await pick();
    expect(after.tenant).toMatchObject({ _schemaVersion: 1, createdBy: 'unknown', updatedBy: 'unknown', createdAt: old });
    expect(after.batch).toMatchObject({ _schemaVersion: 1, createdBy: 'unknown' });
    for (const d of [after.run, after.status, after.client, after.state]) expect(d).toMatchObject({ _schemaVersion: 1 });
    // The documents written by this code earlier in the file were versioned already: untouched.
    expect(await db().collection(Collections.tenants).countDocuments({ createdBy: 'unknown' })).toBe(1);
    // The upgraded tenant reads with its audit fields.
    expect(await ok(`/api/tenants/${id}-t`, admin)).toMatchObject({ createdBy: 'unknown', updatedBy: 'unknown' });

    const second = await apply(true);
    expect(second.results[0]).toMatchObject({ outcome: 'completed', changes: ['every document already versioned'], verify: { ok: true } });
    expect(await pick()).toEqual(after);
  });
});
