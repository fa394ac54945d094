import { Collections } from '../infra/mongo';
import { defineMigration } from '../activities/migrations/registry';
import { listIndexSpecs } from '../activities/migrations/copy';

// 20261125000200-sync-runs-started-at-index: /api/sync/metrics reads the newest runs
// (sort startedAt desc, limit); on MongoDB this index turns that into an index walk. No data
// changes, so nothing is backed up: `down` drops the index if up or verify fails.

const INDEX = 'sync_runs_startedAt_desc';

export default defineMigration({
  name: '20261125000200-sync-runs-started-at-index',
  description: 'Index sync_runs by startedAt (newest first) for the metrics window',
  collections: [],
  async up(ctx) {
    await ctx.db.collection(Collections.syncRuns).createIndex({ startedAt: -1 }, { name: INDEX });
    ctx.changes.push(`created index ${INDEX} on ${Collections.syncRuns}`);
  },
  async verify(ctx) {
    const found = (await listIndexSpecs(ctx.db.collection(Collections.syncRuns))).find((i) => i.name === INDEX);
    const ok = !!found && found.key.startedAt === -1;
    return { ok, message: ok ? `${INDEX} present` : `${INDEX} missing` };
  },
  async down(ctx) {
    const exists = (await listIndexSpecs(ctx.db.collection(Collections.syncRuns))).some((i) => i.name === INDEX);
    if (exists) await ctx.db.collection(Collections.syncRuns).dropIndex(INDEX);
    ctx.changes.push(exists ? `dropped index ${INDEX}` : `index ${INDEX} was not there`);
  },
});
