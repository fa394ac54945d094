import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { startFixtureUpstream, type FixtureUpstream } from '../../../fixtures/upstream/server';
import { Scopes } from '../../../infra/auth-token';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Idempotency-Key ordering and scope: the key is claimed after auth, validation and every rate
// limit; only executed requests (< 400) are stored; a record belongs to one subject + tenant set.

const WINDOW_MS = 4_000;

const tenantBody = (tenantId: string, baseUrl: string, extra: Record<string, unknown> = {}) => ({
  tenantId,
  name: `Tenant ${tenantId}`,
  source: { kind: 'http', settings: { baseUrl, token: `tok-${tenantId}` } },
  collections: [{ name: 'users', essential: true }],
  ...extra,
});

/** Sleeps until a fresh fixed rate-limit window has just begun. */
async function windowStart(): Promise<void> {
  await new Promise((r) => setTimeout(r, WINDOW_MS - (Date.now() % WINDOW_MS) + 20));
}

describe('Idempotency-Key: claimed last, stores only executed requests, scoped by token', () => {
  const stack = useStack();
  let upstream: FixtureUpstream;
  const app = (o: Parameters<typeof stack.buildApp>[0] = {}) =>
    stack.buildApp({ USE_TEMPORAL_FOR_AUTH: false, SYNC_FRESHNESS_MS: 0, ...o });
  const register = async (a: FastifyInstance, tenantId: string) => {
    upstream.seedTenant(tenantId, { collections: { users: 2 }, token: `tok-${tenantId}` });
    const res = await a.inject({
      method: 'POST',
      url: '/api/tenants',
      headers: await stack.bearer([Scopes.admin]),
      payload: tenantBody(tenantId, upstream.baseUrl(tenantId)),
    });
    expect(res.statusCode).toBe(201);
  };

  beforeAll(async () => {
    upstream = await startFixtureUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it('a 429 from the per-tenant limit is not stored: after the window the same key executes', async () => {
    const a = await app({ RATE_LIMIT_PER_TENANT: 1, RATE_LIMIT_WINDOW_MS: WINDOW_MS });
    const tenantId = uniqueId('rl');
    await register(a, tenantId);
    const syncer = await stack.bearer([Scopes.syncRead, Scopes.syncWrite], [tenantId]);
    const ensure = () =>
      a.inject({ method: 'POST', url: `/api/sync/tenants/${tenantId}/ensure`, headers: { ...syncer, 'idempotency-key': 'login-1' } });
    await windowStart();
    // The tenant's budget for this window goes to a status read; the ensure is refused.
    expect((await a.inject({ method: 'GET', url: `/api/sync/tenants/${tenantId}/status`, headers: syncer })).statusCode).toBe(200);
    const limited = await ensure();
    expect(limited.statusCode).toBe(429);
    await windowStart();
    const again = await ensure();
    expect(again.statusCode, again.body).toBe(200);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(again.json()).toMatchObject({ tenantId, essentialReady: true });
  });

  it('a refusal by the coverage check or by the handler is not stored: the key stays free', async () => {
    const a = await app();
    const [mine, theirs] = [uniqueId('own'), uniqueId('other')];
    const adminMine = await stack.bearer([Scopes.admin], [mine], 'ops');
    const post = (payload: Record<string, unknown>, key: string) =>
      a.inject({ method: 'POST', url: '/api/tenants', headers: { ...adminMine, 'idempotency-key': key }, payload });
    // 403: tenant not covered. The same key then runs a different, allowed payload (not 422).
    expect((await post(tenantBody(theirs, upstream.baseUrl(theirs)), 'k-403')).statusCode).toBe(403);
    const ok = await post(tenantBody(mine, upstream.baseUrl(mine)), 'k-403');
    expect(ok.statusCode, ok.body).toBe(201);
    // 400 thrown by the handler (duplicate collection names), then the corrected request.
    const dup = tenantBody(mine, upstream.baseUrl(mine), {
      name: 'Renamed',
      collections: [
        { name: 'users', essential: true },
        { name: 'users', essential: false },
      ],
    });
    expect((await post(dup, 'k-400')).statusCode).toBe(400);
    const fixed = await post(tenantBody(mine, upstream.baseUrl(mine), { name: 'Renamed' }), 'k-400');
    expect(fixed.statusCode, fixed.body).toBe(200);
    expect(fixed.headers['idempotent-replayed']).toBeUndefined();
    expect(fixed.json().name).toBe('Renamed');
    // An executed request is stored and replayed as before.
    const replay = await post(tenantBody(mine, upstream.baseUrl(mine), { name: 'Renamed' }), 'k-400');
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toBe(fixed.body);
  });

  it('one subject with two tenant sets: separate records; the same set in another order shares one', async () => {
    const a = await app();
    const [t1, t2] = [uniqueId('s1'), uniqueId('s2')];
    await register(a, t1);
    await register(a, t2);
    const send = async (tenants: string[] | '*') =>
      a.inject({
        method: 'POST',
        url: '/api/tenants',
        headers: { ...(await stack.bearer([Scopes.admin], tenants, 'same-sub')), 'idempotency-key': 'shared-key' },
        payload: tenantBody(t1, upstream.baseUrl(t1)),
      });
    const first = await send([t1, t2]);
    expect(first.statusCode).toBe(200);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect((await send([t2, t1])).headers['idempotent-replayed']).toBe('true');
    for (const other of [[t1], '*'] as const) {
      const res = await send(other === '*' ? '*' : [...other]);
      expect(res.statusCode).toBe(200);
      expect(res.headers['idempotent-replayed']).toBeUndefined();
    }
  });
});
