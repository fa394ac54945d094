import { coversTenant, Scopes, type Principal } from '../../../infra/auth-token';
import { tenantDbName } from '../../../infra/mongo';

// Who may start or see a reconcile batch. A tenant batch (the tenant's own source into its
// own database on the platform server) needs coverage of that tenant. Anything else — a raw
// namespace, another database, a URI — can reach any tenant's data, so it needs the admin
// scope and a token covering every tenant ('*'). Starting and reading use the same rule.
// extras 'delete' adds nothing to it: a tenant token deletes only in its own database.

/** What a request or a stored batch touches, as far as authorization goes. */
export type ReconcileReach = { kind: 'tenant'; tenantId: string } | { kind: 'raw' };

/** The shape shared by a start request and a stored batch document. */
export interface ReachSpec {
  source: { kind: 'namespace' } | { kind: 'tenant'; tenantId: string };
  /** Omitted (requests only): the tenant's own database. */
  target?: { db: string; uri?: string; external?: boolean };
}

export function reachOf(spec: ReachSpec): ReconcileReach {
  const { source, target } = spec;
  if (source.kind !== 'tenant') return { kind: 'raw' };
  if (!target) return { kind: 'tenant', tenantId: source.tenantId };
  const own = target.uri === undefined && !target.external && target.db === tenantDbName(source.tenantId);
  return own ? { kind: 'tenant', tenantId: source.tenantId } : { kind: 'raw' };
}

export function mayReach(p: Principal, reach: ReconcileReach): boolean {
  if (reach.kind === 'tenant') return coversTenant(p, reach.tenantId);
  return p.scopes.has(Scopes.admin) && p.tenants === '*';
}

/** Why `p` may not start `reach`, or undefined when it may. */
export function refusalOf(p: Principal, reach: ReconcileReach): string | undefined {
  if (mayReach(p, reach)) return undefined;
  if (reach.kind === 'tenant') return 'The token does not cover this tenant';
  return "Namespace sources, an explicit target database and URIs need the 'admin' scope on a token covering every tenant";
}
