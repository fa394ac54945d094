import type { NamespaceRef, ReconcileSourceRef } from '../../shared/reconcile';

// The platform database (tenants with their credentials, runs, batches) is never a reconcile
// source or target, under any URI: MongoDB resolves database names case-insensitively, so
// names compare that way, and a same-named database on another server is refused as well.

/** Which end of the spec names the platform database, if any. */
export function platformDbRole(
  spec: { source: ReconcileSourceRef; target: NamespaceRef },
  platformDb: string,
): 'source' | 'target' | undefined {
  const same = (db: string) => db.toLowerCase() === platformDb.toLowerCase();
  if (spec.source.kind === 'namespace' && same(spec.source.db)) return 'source';
  if (same(spec.target.db)) return 'target';
  return undefined;
}
