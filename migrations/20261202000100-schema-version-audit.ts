import type { Document, Filter } from 'mongodb';
import { Collections } from '../infra/mongo';
import { defineMigration, type MigrationContext } from '../activities/migrations/registry';

// 20261202000100-schema-version-audit: documents written before schema versions and audit fields
// get `_schemaVersion: 1`, and the audit fields they lack: tenants `createdBy`/`updatedBy`
// 'unknown', reconcile batches `createdBy` 'unknown'. Every step filters on what is missing, so a
// second run changes nothing, and a document the current code writes (already versioned) is
// never touched. updateMany, not rewriteCollection: sync_runs keeps taking inserts from logins
// while this runs, and a rewrite-and-swap would lose them (on FerretDB each changed document
// costs a scan of its collection — run it before sync_runs grows, or expect minutes there).
// The `migrations` collection is left out: the runner writes it during the run, a restore of it
// would undo the run's own state, and every claim rewrites a state document whole (versioned).

interface Step {
  collection: string;
  filter: Filter<Document>;
  set: Document;
  what: string;
}

const unversioned = { _schemaVersion: { $exists: false } };

const STEPS: Step[] = [
  { collection: Collections.tenants, filter: { createdBy: { $exists: false } }, set: { createdBy: 'unknown' }, what: 'createdBy' },
  { collection: Collections.tenants, filter: { updatedBy: { $exists: false } }, set: { updatedBy: 'unknown' }, what: 'updatedBy' },
  {
    collection: Collections.reconcileBatches,
    filter: { createdBy: { $exists: false } },
    set: { createdBy: 'unknown' },
    what: 'createdBy',
  },
  ...[
    Collections.tenants,
    Collections.syncRuns,
    Collections.tenantSyncStatus,
    Collections.reconcileBatches,
    Collections.clients,
    Collections.clientUpsertState,
  ].map((collection) => ({ collection, filter: unversioned, set: { _schemaVersion: 1 }, what: '_schemaVersion 1' })),
];

const COLLECTIONS = [...new Set(STEPS.map((s) => s.collection))];

async function missing(ctx: MigrationContext): Promise<string[]> {
  const out: string[] = [];
  for (const s of STEPS) {
    const n = await ctx.db.collection(s.collection).countDocuments(s.filter);
    if (n > 0) out.push(`${n} in ${s.collection} without ${s.what}`);
  }
  return out;
}

export default defineMigration({
  name: '20261202000100-schema-version-audit',
  description: "Set _schemaVersion 1 on unversioned documents; fill missing createdBy/updatedBy with 'unknown'",
  collections: COLLECTIONS,
  async up(ctx) {
    for (const [i, s] of STEPS.entries()) {
      const res = await ctx.db.collection(s.collection).updateMany(s.filter, { $set: s.set });
      if (res.modifiedCount > 0) ctx.changes.push(`set ${s.what} on ${res.modifiedCount} ${s.collection} document(s)`);
      ctx.progress(i + 1, STEPS.length, s.collection);
    }
    if (ctx.changes.length === 0) ctx.changes.push('every document already versioned');
  },
  async verify(ctx) {
    const left = await missing(ctx);
    return { ok: left.length === 0, message: left.length === 0 ? 'every document versioned, audit fields set' : left.join('; ') };
  },
});
