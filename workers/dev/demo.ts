import type { Db } from 'mongodb';
import { createTenantRepository } from '../../activities/tenant-sync/registry';
import type { FixtureUpstream } from '../../fixtures/upstream/server';
import type { Keyring } from '../../infra/secrets';

// Demo tenants for `make up`, served by the fixture upstream: one small, one large, one
// with a failing non-essential collection.

export const DEMO_TENANTS = [
  { tenantId: 'demo-small', name: 'Demo Small', sizes: { users: 200, roles: 20, settings: 10, audit: 500 }, failing: undefined },
  { tenantId: 'demo-large', name: 'Demo Large', sizes: { users: 20_000, roles: 500, settings: 50, audit: 50_000 }, failing: undefined },
  { tenantId: 'demo-flaky', name: 'Demo Flaky', sizes: { users: 300, roles: 20, settings: 10, reports: 100 }, failing: 'reports' },
] as const;

const ESSENTIAL = new Set(['users', 'roles', 'settings']);

export async function registerDemoTenants(db: Db, upstream: FixtureUpstream, keyring: Keyring): Promise<string[]> {
  const repo = createTenantRepository(db, keyring);
  for (const t of DEMO_TENANTS) {
    const token = `demo-token-${t.tenantId}`;
    upstream.seedTenant(t.tenantId, { collections: { ...t.sizes }, token });
    if (t.failing) upstream.failCollection(t.tenantId, t.failing, 500);
    await repo.upsert({
      tenantId: t.tenantId,
      name: t.name,
      source: { kind: 'http', settings: { baseUrl: upstream.baseUrl(t.tenantId), token, timeoutMs: 10_000 } },
      collections: Object.keys(t.sizes).map((name) => ({ name, essential: ESSENTIAL.has(name) })),
    });
  }
  return DEMO_TENANTS.map((t) => t.tenantId);
}
