import { describe, expect, it } from 'vitest';
import { coversTenant, hasScope, InvalidTokenError, mintToken, verifyToken } from '../../../infra/auth-token';

const secret = 'unit-secret-0123456789abcdef0123456789';

describe('auth tokens', () => {
  it('round-trips claims', async () => {
    const token = await mintToken(secret, { sub: 'svc-auth', scopes: ['sync:write'], tenants: ['acme'], ttlSeconds: 60 });
    const p = await verifyToken(secret, token);
    expect(p.sub).toBe('svc-auth');
    expect(hasScope(p, 'sync:write')).toBe(true);
    expect(hasScope(p, 'admin')).toBe(false);
    expect(coversTenant(p, 'acme')).toBe(true);
    expect(coversTenant(p, 'globex')).toBe(false);
  });

  it('treats admin as every scope and * as every tenant', async () => {
    const p = await verifyToken(secret, await mintToken(secret, { sub: 'op', scopes: ['admin'], tenants: '*', ttlSeconds: 60 }));
    expect(hasScope(p, 'reconcile:write')).toBe(true);
    expect(coversTenant(p, 'anything')).toBe(true);
  });

  it('rejects a wrong signature and an expired token with distinct reasons', async () => {
    const token = await mintToken(secret, { sub: 'x', scopes: [], tenants: '*', ttlSeconds: 60 });
    await expect(verifyToken('another-secret-0123456789abcdef01234', token)).rejects.toMatchObject({ reason: 'invalid' });
    const expired = await mintToken(secret, { sub: 'x', scopes: [], tenants: '*', ttlSeconds: -10 });
    await expect(verifyToken(secret, expired)).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(verifyToken(secret, expired)).rejects.toMatchObject({ reason: 'expired' });
  });
});
