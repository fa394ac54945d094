import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Db } from 'mongodb';
import { createReconcileStore } from '../../../activities/reconcile/store';
import { idempotencyScope } from '../../../api/plugins/idempotency';
import { registerMongoTenant } from '../../helpers/api';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Delayed and bulk starts (issue: logins first): `delayMs`/`startAt` become the workflow's
// startDelay — the run exists at once (its ID is taken, it is listed) but its first task is not
// dispatched before the time — and one bulk request starts one batch per collection, each
// idempotent under the request's key, even when the stored answer is gone.

describe('delayed and bulk reconcile starts', () => {
  const stack = useStack({ worker: true, app: true });
  let data: Db;
  let tenantId: string;
  let headers: Record<string, string>;

  const setup = async () => {
    if (data) return;
    data = stack.deps.mongo.client.db(uniqueId('dbulk').replace(/-/g, '_'));
    for (const c of ['users', 'roles', 'groups'])
      await data.collection(c).insertMany([1, 2, 3].map((n) => ({ _id: `${c}-${n}` as never, n, updatedAt: new Date(0) })));
    tenantId = uniqueId('db');
    await registerMongoTenant(stack.app, stack.deps, { tenantId, database: data.databaseName, collections: ['users', 'roles', 'groups'] });
    headers = await stack.bearer(['reconcile:write', 'reconcile:read'], [tenantId]);
  };
  const post = (url: string, payload: object, key = uniqueId('k')) =>
    stack.app.inject({ method: 'POST', url, headers: { ...headers, 'idempotency-key': key }, payload });

  it('a delayed reconcile exists at once but its first task is not dispatched before its time', async () => {
    await setup();
    const delayMs = 2_500;
    const t0 = Date.now();
    const res = await post('/api/reconcile', {
      source: { kind: 'tenant', tenantId, collection: 'users' },
      options: { dryRun: true },
      delayMs,
    });
    expect(res.statusCode, res.body).toBe(202);
    const { workflowId, batchId, notBefore } = res.json() as { workflowId: string; batchId: string; notBefore: string };
    expect(Date.parse(notBefore)).toBeGreaterThanOrEqual(t0 + delayMs);
    const handle = stack.deps.temporal.client.workflow.getHandle(workflowId);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect((await createReconcileStore(stack.deps.mongo.db).getBatch(batchId))?.notBefore?.toISOString()).toBe(notBefore);
    await handle.result();
    // Ordering from the server's own history: the first workflow task came after the delay.
    const events = (await handle.fetchHistory()).events ?? [];
    const started = events[0]!;
    const backoff = started.workflowExecutionStartedEventAttributes?.firstWorkflowTaskBackoff;
    expect(Number(backoff?.seconds ?? 0) * 1000 + Math.round((backoff?.nanos ?? 0) / 1e6)).toBeGreaterThanOrEqual(delayMs - 50);
    const firstTask = events.find((e) => e.workflowTaskScheduledEventAttributes)!;
    const ms = (e: typeof started) => Number(e.eventTime?.seconds ?? 0) * 1000 + Math.round((e.eventTime?.nanos ?? 0) / 1e6);
    expect(ms(firstTask) - ms(started)).toBeGreaterThanOrEqual(delayMs - 50);
    expect((await handle.result()) as { state: string }).toMatchObject({ state: 'completed' });
  });

  it('a bad delay is a 400 and starts nothing: past startAt, both given, beyond 7 days, not a time', async () => {
    await setup();
    const source = { kind: 'tenant', tenantId, collection: 'users' };
    const store = createReconcileStore(stack.deps.mongo.db);
    for (const delay of [
      { startAt: new Date(Date.now() - 60_000).toISOString() },
      { startAt: new Date(Date.now() + 60_000).toISOString(), delayMs: 10 },
      { delayMs: 8 * 24 * 3_600_000 },
      { startAt: 'tomorrow' },
    ]) {
      const batchId = uniqueId('bad');
      const res = await post('/api/reconcile', { batchId, source, ...delay });
      expect(res.statusCode, `${JSON.stringify(delay)} ${res.body}`).toBe(400);
      expect(await store.getBatch(batchId)).toBeNull();
    }
  });

  it('a bulk request starts one batch per collection; repeated, even with its stored answer gone, it starts nothing twice', async () => {
    await setup();
    const key = uniqueId('bulk');
    const body = { source: { kind: 'tenant', tenantId, collections: ['users', 'roles', 'groups'] }, options: { dryRun: true } };
    const first = await post('/api/reconcile/bulk', body, key);
    expect(first.statusCode, first.body).toBe(202);
    const batches = first.json().batches as Array<{ collection: string; batchId: string; workflowId: string; created: boolean }>;
    expect(batches.map((b) => b.collection)).toEqual(['users', 'roles', 'groups']);
    expect(new Set(batches.map((b) => b.batchId)).size).toBe(3);
    expect(batches.every((b) => b.created)).toBe(true);
    const runIds = await Promise.all(
      batches.map(async (b) => (await stack.deps.temporal.client.workflow.getHandle(b.workflowId).describe()).runId),
    );

    // The same request again: the stored answer.
    const replay = await post('/api/reconcile/bulk', body, key);
    expect(replay.json()).toEqual(first.json());
    // The stored answer lost (expired, Redis restarted): the same key derives the same batches.
    const principal = { sub: 'test-user', tenants: [tenantId] } as unknown as Parameters<typeof idempotencyScope>[0];
    const recordKey = `idem:${createHash('sha256')
      .update(`${idempotencyScope(principal)}\nPOST /api/reconcile/bulk\n${key}`)
      .digest('hex')}`;
    expect(await stack.deps.redis.del(recordKey)).toBe(1);
    const again = await post('/api/reconcile/bulk', body, key);
    expect(again.statusCode, again.body).toBe(202);
    const repeated = again.json().batches as typeof batches;
    expect(repeated.map((b) => b.batchId)).toEqual(batches.map((b) => b.batchId));
    expect(repeated.every((b) => !b.created)).toBe(true);
    for (const [i, b] of batches.entries()) {
      const h = stack.deps.temporal.client.workflow.getHandle(b.workflowId);
      expect((await h.describe()).runId).toBe(runIds[i]);
      expect(await h.result()).toMatchObject({ state: 'completed' });
    }
  });

  it('a bulk request with one unreachable collection starts none of them', async () => {
    await setup();
    const other = await stack.bearer(['reconcile:write'], [uniqueId('not-mine')]);
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/reconcile/bulk',
      headers: { ...other, 'idempotency-key': uniqueId('k') },
      payload: { source: { kind: 'tenant', tenantId, collections: ['users'] } },
    });
    expect(res.statusCode).toBe(403);
    const missing = await post('/api/reconcile/bulk', {
      source: {
        kind: 'namespaces',
        pairs: [
          {
            source: { kind: 'namespace', db: data.databaseName, collection: 'users' },
            target: { db: data.databaseName, collection: 'users' },
          },
        ],
      },
    });
    expect(missing.statusCode, missing.body).toBe(403); // a tenant token may not name raw namespaces
  });
});
