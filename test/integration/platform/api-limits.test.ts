import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../infra/dev/servers';
import { Collections } from '../../../infra/mongo';
import { createRedis, type Redis } from '../../../infra/redis';
import { uniqueId } from '../../helpers/stack';
import { useStack } from '../../helpers/use-stack';

// Limits the README promises at the edge: rate limits shared by every API process (two apps on
// one Redis) and passing when Redis is down, the 256 kB body limit, and CORS only for
// CORS_ORIGINS.

// One long window, so no window boundary falls inside a test.
const DAY_MS = 86_400_000;

describe('API limits: shared rate limits, body size, CORS', () => {
  const redises: Redis[] = [];
  afterAll(() => redises.forEach((r) => r.disconnect())); // after the stack's apps closed (hooks run in reverse)
  const stack = useStack();
  const app = stack.buildApp;

  it('the per-subject limit is shared by two API processes', async () => {
    const limits = { RATE_LIMIT_PER_SUBJECT: 4, RATE_LIMIT_WINDOW_MS: DAY_MS };
    const [a, b] = [await app(limits), await app(limits)];
    const h = await stack.bearer(['sync:read'], '*', uniqueId('shared-sub'));
    const codes: number[] = [];
    for (let i = 0; i < 6; i++)
      codes.push((await (i % 2 ? b : a).inject({ method: 'GET', url: '/api/sync/method-stats', headers: h })).statusCode);
    expect(codes).toEqual([200, 200, 200, 200, 429, 429]);
  });

  it('the per-tenant limit is shared by two API processes and many subjects', async () => {
    const limits = { RATE_LIMIT_PER_TENANT: 3, RATE_LIMIT_WINDOW_MS: DAY_MS };
    const [a, b] = [await app(limits), await app(limits)];
    const tenant = uniqueId('shared-t');
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const h = await stack.bearer(['sync:read'], [tenant], uniqueId('s'));
      codes.push((await (i % 2 ? b : a).inject({ method: 'GET', url: `/api/sync/tenants/${tenant}/status`, headers: h })).statusCode);
    }
    expect(codes).toEqual([200, 200, 200, 429, 429]);
  });

  it('with Redis down, requests pass both limits', async () => {
    const dead = createRedis({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    redises.push(dead);
    const a = await app({ RATE_LIMIT_PER_SUBJECT: 1, RATE_LIMIT_PER_TENANT: 1, RATE_LIMIT_WINDOW_MS: DAY_MS }, { redis: dead });
    const tenant = uniqueId('nored');
    const h = await stack.bearer(['sync:read'], [tenant], uniqueId('nored-sub'));
    // Two requests against limits of one (each waits out the client's Redis retries: seconds).
    const codes: number[] = [];
    for (let i = 0; i < 2; i++)
      codes.push((await a.inject({ method: 'GET', url: `/api/sync/tenants/${tenant}/status`, headers: h })).statusCode);
    expect(codes).toEqual([200, 200]);
  });

  it('a body over 256 kB is refused with 413 problem+json and writes nothing; one under it reaches validation', async () => {
    const a = await app();
    const admin = await stack.bearer(['admin']);
    const tenantId = uniqueId('big');
    const body = (bytes: number) =>
      JSON.stringify({
        tenantId,
        name: 'x'.repeat(bytes),
        source: { kind: 'http', settings: { baseUrl: 'http://127.0.0.1:9/t' } },
        collections: [{ name: 'users', essential: true }],
      });
    const post = (payload: string) =>
      a.inject({ method: 'POST', url: '/api/tenants', headers: { ...admin, 'content-type': 'application/json' }, payload });
    const over = await post(body(256 * 1024));
    expect(over.statusCode).toBe(413);
    expect(over.headers['content-type']).toContain('application/problem+json');
    const under = await post(body(250 * 1024));
    expect(under.statusCode).toBe(400);
    expect(under.json().detail).toMatch(/name/);
    expect(await stack.deps.mongo.db.collection(Collections.tenants).countDocuments({ _id: tenantId } as never)).toBe(0);
  });

  it('CORS answers only the origins CORS_ORIGINS lists', async () => {
    const allowed = 'https://console.example';
    const a = await app({ CORS_ORIGINS: [allowed] });
    const ok = await a.inject({ method: 'GET', url: '/health', headers: { origin: allowed } });
    expect(ok.headers['access-control-allow-origin']).toBe(allowed);
    const other = await a.inject({ method: 'GET', url: '/health', headers: { origin: 'https://evil.example' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await a.inject({
      method: 'OPTIONS',
      url: '/api/sync/method-stats',
      headers: { origin: allowed, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(allowed);
    // Without the setting, CORS is off.
    expect(
      (await (await app()).inject({ method: 'GET', url: '/health', headers: { origin: allowed } })).headers['access-control-allow-origin'],
    ).toBeUndefined();
  });
});
