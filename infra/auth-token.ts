import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { AuthenticationError } from '../shared/errors';

// HS256 bearer tokens: claims sub, scope (space-separated), tenants (list or "*"), exp.

export const Scopes = {
  admin: 'admin',
  syncWrite: 'sync:write',
  syncRead: 'sync:read',
  reconcileWrite: 'reconcile:write',
  reconcileRead: 'reconcile:read',
  clientsWrite: 'clients:write',
  clientsRead: 'clients:read',
  /** The operator's work view (GET /api/ops/work). */
  opsRead: 'ops:read',
} as const;
export type Scope = (typeof Scopes)[keyof typeof Scopes];

export interface Principal {
  sub: string;
  scopes: ReadonlySet<string>;
  tenants: readonly string[] | '*';
}

export interface MintOptions {
  sub: string;
  scopes: readonly string[];
  tenants: readonly string[] | '*';
  ttlSeconds: number;
}

const key = (secret: string) => new TextEncoder().encode(secret);

export async function mintToken(secret: string, o: MintOptions): Promise<string> {
  return new SignJWT({ scope: o.scopes.join(' '), tenants: o.tenants === '*' ? '*' : [...o.tenants] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(o.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + o.ttlSeconds)
    .sign(key(secret));
}

/** Thrown when a token is missing, malformed, badly signed or expired. */
export class InvalidTokenError extends AuthenticationError {
  constructor(readonly reason: 'expired' | 'invalid') {
    super(reason === 'expired' ? 'The bearer token has expired' : 'The bearer token is invalid');
  }
}

export async function verifyToken(secret: string, token: string): Promise<Principal> {
  try {
    const { payload } = await jwtVerify(token, key(secret), { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });
    const scope = typeof payload.scope === 'string' ? payload.scope : '';
    const t = payload.tenants;
    const tenants = t === '*' ? '*' : Array.isArray(t) && t.every((x) => typeof x === 'string') ? (t as string[]) : [];
    return { sub: payload.sub!, scopes: new Set(scope.split(' ').filter(Boolean)), tenants };
  } catch (err) {
    throw new InvalidTokenError(err instanceof joseErrors.JWTExpired ? 'expired' : 'invalid');
  }
}

export function hasScope(p: Principal, scope: string): boolean {
  return p.scopes.has(scope) || p.scopes.has(Scopes.admin);
}

export function coversTenant(p: Principal, tenantId: string): boolean {
  return p.tenants === '*' || p.tenants.includes(tenantId);
}
