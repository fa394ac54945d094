import type { Db } from 'mongodb';
import { createTenantRepository } from '../../activities/tenant-sync/registry';
import type { FixtureUpstream } from '../../fixtures/upstream/server';
import { mintToken } from '../../infra/auth-token';
import type { Keyring } from '../../infra/secrets';

// Demo tenants for `make up`, served by the fixture upstream: one small, one large, one
// with a failing non-essential collection. `loginAtStart`: logged in once when it has never
// synced, so the README's status example has something to show; demo-small and demo-large are
// left for the README's first direct and first Temporal login.

export const DEMO_TENANTS = [
  {
    tenantId: 'demo-small',
    name: 'Demo Small',
    sizes: { users: 200, roles: 20, settings: 10, audit: 500 },
    failing: undefined,
    loginAtStart: false,
  },
  {
    tenantId: 'demo-large',
    name: 'Demo Large',
    sizes: { users: 20_000, roles: 500, settings: 50, audit: 50_000 },
    failing: undefined,
    loginAtStart: false,
  },
  {
    tenantId: 'demo-flaky',
    name: 'Demo Flaky',
    sizes: { users: 300, roles: 20, settings: 10, reports: 100 },
    failing: 'reports',
    loginAtStart: true,
  },
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

export interface DemoLoginOptions {
  /** The API's base URL, e.g. http://127.0.0.1:3000. */
  apiUrl: string;
  /** AUTH_JWT_SECRET of that API. */
  jwtSecret: string;
  /** How long to wait for a login's non-essential collections to settle. @default 30000 */
  settleMs?: number;
}

export interface DemoLogin {
  tenantId: string;
  /** The status state afterwards (completed, partial, failed), or `already synced` (nothing done). */
  outcome: string;
  syncMethod?: string;
  failedCollections: string[];
}

interface StatusBody {
  state?: string;
  syncMethod?: string | null;
  failedCollections?: Array<{ name: string }>;
}

/**
 * Logs in (POST …/ensure, as the auth service does) every `loginAtStart` demo tenant that has
 * never synced, then waits until its run settles (non-essential collections included). Tenants
 * synced before are left alone, so a restart starts no run of its own.
 */
export async function loginDemoTenants(o: DemoLoginOptions): Promise<DemoLogin[]> {
  const ids = DEMO_TENANTS.filter((t) => t.loginAtStart).map((t) => t.tenantId);
  const token = await mintToken(o.jwtSecret, { sub: 'make-up', scopes: ['sync:write', 'sync:read'], tenants: ids, ttlSeconds: 300 });
  const call = async (path: string, method: 'GET' | 'POST'): Promise<StatusBody> => {
    const res = await fetch(`${o.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(90_000),
    });
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as StatusBody;
  };
  const out: DemoLogin[] = [];
  for (const tenantId of ids) {
    const statusPath = `/api/sync/tenants/${tenantId}/status`;
    if ((await call(statusPath, 'GET')).state !== 'never_synced') {
      out.push({ tenantId, outcome: 'already synced', failedCollections: [] });
      continue;
    }
    await call(`/api/sync/tenants/${tenantId}/ensure`, 'POST');
    const deadline = Date.now() + (o.settleMs ?? 30_000);
    let s = await call(statusPath, 'GET');
    while (s.state === 'running' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      s = await call(statusPath, 'GET');
    }
    out.push({
      tenantId,
      outcome: s.state ?? 'unknown',
      ...(s.syncMethod ? { syncMethod: s.syncMethod } : {}),
      failedCollections: (s.failedCollections ?? []).map((c) => c.name),
    });
  }
  return out;
}

/** One line for the log: `demo-flaky partial (direct; failed: reports)`. */
export function describeDemoLogins(logins: readonly DemoLogin[]): string {
  return logins
    .map((l) => {
      const details = [l.syncMethod, l.failedCollections.length ? `failed: ${l.failedCollections.join(', ')}` : undefined].filter(Boolean);
      return `${l.tenantId} ${l.outcome}${details.length ? ` (${details.join('; ')})` : ''}`;
    })
    .join(', ');
}
