import { describe, expect, it, vi } from 'vitest';
import { createTenantRepository } from '../../../activities/tenant-sync/registry';
import { createSyncStore } from '../../../activities/tenant-sync/store';
import { connectMongo, pingMongo } from '../../../infra/mongo';
import { createRedis, pingRedis } from '../../../infra/redis';
import { createTemporalClient } from '../../../infra/temporal';
import { useStack } from '../../helpers/use-stack';

// Wiring built once (issue 13 item 3): one tenant registry and one sync store per app, and the
// resource plugins close only the clients handed over to them.

vi.mock('../../../activities/tenant-sync/registry', async (original) => {
  const m = await original<typeof import('../../../activities/tenant-sync/registry')>();
  return { ...m, createTenantRepository: vi.fn(m.createTenantRepository) };
});
vi.mock('../../../activities/tenant-sync/store', async (original) => {
  const m = await original<typeof import('../../../activities/tenant-sync/store')>();
  return { ...m, createSyncStore: vi.fn(m.createSyncStore) };
});

describe('buildApp wiring', () => {
  const stack = useStack();

  it('makes one tenant registry and one sync store, shared by every route and service', async () => {
    vi.mocked(createTenantRepository).mockClear();
    vi.mocked(createSyncStore).mockClear();
    const app = await stack.buildApp();
    expect(vi.mocked(createTenantRepository)).toHaveBeenCalledTimes(1);
    expect(vi.mocked(createSyncStore)).toHaveBeenCalledTimes(1);
    expect(app.tenants).toBe(vi.mocked(createTenantRepository).mock.results[0]?.value);
    expect(app.syncStore).toBe(vi.mocked(createSyncStore).mock.results[0]?.value);
  });

  it('decorates the instance with the clients it was given, and leaves them open on close by default', async () => {
    const app = await stack.buildApp();
    expect(app.mongo).toBe(stack.deps.mongo);
    expect(app.redis).toBe(stack.deps.redis);
    expect(app.temporal).toBe(stack.deps.temporal);
    await app.close();
    await pingMongo(stack.deps.mongo, 5_000);
    await pingRedis(stack.deps.redis);
  });

  it('closes mongo, redis and temporal with the app when they are handed over (closeClients)', async () => {
    const { config } = stack.deps;
    const mongo = await connectMongo(config);
    const redis = createRedis(config);
    const temporal = createTemporalClient(config);
    const closes = [vi.spyOn(mongo, 'close'), vi.spyOn(redis, 'quit'), vi.spyOn(temporal, 'close')];
    const app = await stack.buildApp({}, { mongo, redis, temporal, closeClients: true });
    expect(app.mongo).toBe(mongo);
    for (const close of closes) expect(close).not.toHaveBeenCalled();
    await app.close();
    for (const close of closes) expect(close).toHaveBeenCalledTimes(1);
    await vi.waitFor(() => expect(redis.status).toBe('end'));
  });
});
