import { Collections } from '../infra/mongo';
import { defineMigration } from '../activities/migrations/registry';

// 20261125000100-tenants-status: every tenant gets an explicit lifecycle status ('active'), so
// that suspending a tenant later is a field change rather than a deletion. The tenants
// collection is small: one updateMany statement is fine (FerretDB scans per changed document —
// for big collections use rewriteCollection from activities/migrations/rewrite.ts).

export default defineMigration({
  name: '20261125000100-tenants-status',
  description: "Add status: 'active' to every tenant that has no status",
  collections: [Collections.tenants],
  async up(ctx) {
    const tenants = ctx.db.collection(Collections.tenants);
    const res = await tenants.updateMany({ status: { $exists: false } }, { $set: { status: 'active' } });
    ctx.changes.push(`set status 'active' on ${res.modifiedCount} tenant(s)`);
    ctx.progress(res.modifiedCount, res.modifiedCount, Collections.tenants);
  },
  async verify(ctx) {
    const missing = await ctx.db.collection(Collections.tenants).countDocuments({ status: { $exists: false } });
    return { ok: missing === 0, message: missing === 0 ? 'every tenant has a status' : `${missing} tenant(s) still without a status` };
  },
});
